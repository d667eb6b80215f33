// What routes see of HTTP: a parsed request in, a response (whole body or a stream of chunks)
// out. Only http_server.cpp knows cpp-httplib; routes stay testable without sockets.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace duet::server {

struct HttpRequest {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Streaming responses: next() runs on the HTTP thread, appends what to send to `chunk` and
  // returns false when that was the last piece. A call blocks at most ~100 ms (returning an
  // empty chunk) so the server notices closed connections and shutdown in time.
  std::function<bool(std::string& chunk)> next;
  // Runs once when a streaming response ends: completed=false when the client went away or a
  // write failed (the request is then aborted in the engine).
  std::function<void(bool completed)> on_close;
};

}  // namespace duet::server
