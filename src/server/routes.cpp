#include "server/routes.h"

#include <exception>

#include "common/error.h"
#include "common/log.h"
#include "server/api_error.h"
#include "server/response_format.h"

namespace duet::server {

HttpResponse json_response(const nlohmann::ordered_json& body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = dump_json(body);
  return r;
}

HttpResponse error_response(int status, const std::string& message, const std::string& param) {
  HttpResponse r;
  r.status = status;
  r.body = error_body(status, message, param)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::vector<Route> make_routes(ServerContext& ctx) {
  auto bind = [&ctx](HttpResponse (*fn)(ServerContext&, const HttpRequest&)) {
    return [&ctx, fn](const HttpRequest& r) { return fn(ctx, r); };
  };
  return {
      {"POST", "/v1/chat/completions", bind(handle_chat_completions), false},
      {"POST", "/v1/completions", bind(handle_completions), false},
      {"GET", "/v1/models", bind(handle_models), false},
      {"POST", "/tokenize", bind(handle_tokenize), false},
      {"POST", "/detokenize", bind(handle_detokenize), false},
      {"GET", "/health", bind(handle_health), true},
      {"GET", "/metrics", bind(handle_metrics), true},
  };
}

namespace {

bool authorized(const ServerContext& ctx, const HttpRequest& request) {
  const std::string& key = ctx.options().api_key;
  if (key.empty()) return true;
  auto it = request.headers.find("authorization");
  return it != request.headers.end() && it->second == "Bearer " + key;
}

}  // namespace

HttpResponse dispatch(ServerContext& ctx, const std::vector<Route>& routes,
                      const HttpRequest& request) {
  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : routes) {
    if (r.path != request.path) continue;
    path_known = true;
    if (r.method == request.method) route = &r;
  }
  if (!route) {
    return path_known
               ? error_response(405, "method " + request.method + " not allowed on " + request.path)
               : error_response(404, "no route for " + request.method + " " + request.path);
  }
  if (!ctx.ready()) return error_response(503, "Loading model");
  if (!route->is_public && !authorized(ctx, request)) {
    ctx.metrics().record_rejected(401);
    return error_response(401, "invalid or missing API key (send 'Authorization: Bearer KEY')");
  }
  try {
    return route->handler(request);
  } catch (const ApiError& e) {
    if (e.status() != 429) ctx.metrics().record_rejected(e.status());
    return error_response(e.status(), e.what(), e.param());
  } catch (const Error& e) {
    // duet::Error is a user problem by definition (bad ids, template errors, ...).
    ctx.metrics().record_rejected(400);
    return error_response(400, e.what());
  } catch (const std::exception& e) {
    log_error("internal error serving ", request.method, " ", request.path, ": ", e.what());
    return error_response(500, std::string("internal error: ") + e.what());
  } catch (...) {
    log_error("internal error serving ", request.method, " ", request.path);
    return error_response(500, "internal error");
  }
}

}  // namespace duet::server
