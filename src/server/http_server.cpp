#include "server/http_server.h"

#include <algorithm>
#include <cctype>

#include <httplib.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/log.h"
#include "server/routes.h"

namespace duet::server {

struct HttpServer::Impl {
  ServerContext& ctx;
  std::vector<Route> routes;
  httplib::Server server;
  int listen_fd = -1;  // captured from httplib's socket callback, to widen the backlog
  explicit Impl(ServerContext& c) : ctx(c), routes(make_routes(c)) {}
};

namespace {

HttpRequest to_request(const httplib::Request& req) {
  HttpRequest r{req.method, req.path, req.body, {}};
  for (const auto& [name, value] : req.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    r.headers[lower] = value;
  }
  return r;
}

void send(const HttpResponse& r, httplib::Response& res) {
  res.status = r.status;
  if (!r.next) {
    res.set_content(r.body, r.content_type.c_str());
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  auto next = r.next;
  auto on_close = r.on_close;
  auto done = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      r.content_type,
      [next, done](size_t, httplib::DataSink& sink) {
        // One piece per call: httplib calls again while we return true, and checks for server
        // shutdown in between.
        if (!sink.is_writable()) return false;
        std::string chunk;
        bool more = false;
        try {
          more = next(chunk);
        } catch (const std::exception& e) {
          log_error("stream failed: ", e.what());
          return false;
        }
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
        if (!more) {
          *done = true;
          sink.done();
        }
        return true;
      },
      [on_close, done](bool success) {
        if (on_close) on_close(success && *done);
      });
}

}  // namespace

HttpServer::HttpServer(ServerContext& ctx) : impl_(std::make_unique<Impl>(ctx)) {
  httplib::Server& s = impl_->server;
  const ServerOptions& o = ctx.options();
  // Every admitted generation request holds a thread for its whole life (a stream waits on its
  // queue), so the pool has room for all of them plus a few for /health and /metrics, which
  // must answer even when the server is full.
  const size_t threads = size_t(o.max_num_seqs + o.max_waiting + 8);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(o.max_body_bytes);
  // The packaged cpp-httplib listens with a backlog of 5: a burst of clients (duet bench at
  // concurrency 32) then loses SYNs and waits a 1 s retransmit, or gets reset. Keep the fd so
  // bind() can listen again with a system-sized backlog; SO_REUSEADDR is what httplib's own
  // default socket options set.
  s.set_socket_options([this](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    impl_->listen_fd = sock;
  });
  s.set_keep_alive_max_count(1000);
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    send(dispatch(impl_->ctx, impl_->routes, to_request(req)), res);
  };
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize",
                           "/detokenize", "/health", "/metrics"}) {
    s.Get(path, handle);
    s.Post(path, handle);
  }
  // Unknown paths, and httplib's own refusals (413 over max body), get OpenAI error bodies.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // our own error object, already written
    const std::string msg = res.status == 413   ? "request body is larger than --max-body-bytes"
                            : res.status == 404 ? "no route for " + req.method + " " + req.path
                                                : "HTTP error " + std::to_string(res.status);
    const HttpResponse r = error_response(res.status, msg);
    res.set_content(r.body, r.content_type.c_str());
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    const HttpResponse r = error_response(500, "internal error");
    res.status = 500;
    res.set_content(r.body, r.content_type.c_str());
  });
}

HttpServer::~HttpServer() = default;

int HttpServer::bind(const std::string& host, int port) {
  httplib::Server& s = impl_->server;
  const int bound = port == 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) fail("duet serve: cannot listen on ", host, ":", port);
  // Linux lets listen() on a listening socket change its backlog.
  if (impl_->listen_fd >= 0 && ::listen(impl_->listen_fd, SOMAXCONN) != 0)
    log_warn("duet serve: could not widen the listen backlog");
  return bound;
}

void HttpServer::listen() {
  impl_->server.listen_after_bind();
}

void HttpServer::stop() {
  impl_->server.stop();
}

}  // namespace duet::server
