// The HTTP transport (cpp-httplib; the only file that includes it): turns sockets into
// HttpRequests for dispatch(), writes responses (SSE through a chunked content provider), and
// sizes the worker pool so that every admitted stream has its own thread.
#pragma once

#include <memory>
#include <string>

#include "server/server_context.h"

namespace duet::server {

class HttpServer {
 public:
  explicit HttpServer(ServerContext& ctx);
  ~HttpServer();

  // Binds host:port (port 0: a free port) and returns the port bound. Throws duet::Error.
  int bind(const std::string& host, int port);
  // Serves until stop(); returns after the in-flight handlers have finished.
  void listen();
  // Thread-safe; stops accepting. Call ctx.begin_shutdown() first so streams end promptly.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::server
