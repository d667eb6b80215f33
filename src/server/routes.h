// The server's endpoints as plain functions HttpRequest -> HttpResponse, plus dispatch:
// route lookup, API-key check and the mapping of every exception to an OpenAI error object.
// Nothing a client sends can escape dispatch() as an exception.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/http_types.h"
#include "server/server_context.h"

namespace duet::server {

using RouteHandler = std::function<HttpResponse(const HttpRequest&)>;

struct Route {
  std::string method, path;
  RouteHandler handler;
  bool is_public = false;  // answered without the API key (/health, /metrics)
};

std::vector<Route> make_routes(ServerContext& ctx);
HttpResponse dispatch(ServerContext& ctx, const std::vector<Route>& routes,
                      const HttpRequest& request);

HttpResponse json_response(const nlohmann::ordered_json& body, int status = 200);
HttpResponse error_response(int status, const std::string& message, const std::string& param = "");

// Endpoint handlers (routes_generate.cpp, routes_info.cpp).
HttpResponse handle_chat_completions(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_completions(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_models(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_health(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_metrics(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_tokenize(ServerContext& ctx, const HttpRequest& request);
HttpResponse handle_detokenize(ServerContext& ctx, const HttpRequest& request);

}  // namespace duet::server
