#include "bench_client/http_backend.h"

#include <chrono>

#include <httplib.h>

#include "common/error.h"
#include "server/sse.h"

namespace duet::bench {
namespace {

httplib::Headers auth_headers(const std::string& api_key) {
  httplib::Headers h;
  if (!api_key.empty()) h.emplace("Authorization", "Bearer " + api_key);
  return h;
}

}  // namespace

ServerInfo query_server(const std::string& url, const std::string& api_key) {
  httplib::Client cli(url);
  cli.set_connection_timeout(10);
  auto res = cli.Get("/v1/models", auth_headers(api_key));
  if (!res) fail("duet bench: cannot reach ", url, ": ", httplib::to_string(res.error()));
  if (res->status != 200) fail("duet bench: ", url, "/v1/models answered ", res->status);
  const auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_discarded() || !body.contains("data") || body["data"].empty())
    fail("duet bench: ", url, "/v1/models lists no model");
  const auto& m = body["data"][0];
  ServerInfo info;
  info.model = m.value("id", "");
  info.vocab_size = m.value("vocab_size", int64_t(0));
  info.max_model_len = m.value("max_model_len", int64_t(0));
  return info;
}

SendFn make_http_sender(const std::string& url, const std::string& model,
                        const std::string& api_key) {
  return [url, model, api_key](const BenchRequest& req) {
    using Clock = std::chrono::steady_clock;
    RequestResult r;
    r.prompt_tokens = int64_t(req.prompt_ids.size());
    const nlohmann::json body = {{"model", model},
                                 {"prompt", req.prompt_ids},
                                 {"max_tokens", req.max_tokens},
                                 {"ignore_eos", true},
                                 {"temperature", 0},
                                 {"stream", true},
                                 {"return_token_ids", true},
                                 {"stream_options", {{"include_usage", true}}}};
    httplib::Client cli(url);
    cli.set_read_timeout(600);
    httplib::Request http;
    http.method = "POST";
    http.path = "/v1/completions";
    http.headers = auth_headers(api_key);
    http.set_header("Content-Type", "application/json");
    http.body = body.dump();
    server::SseParser parser;
    std::vector<std::string> events;
    const Clock::time_point start = Clock::now();
    Clock::time_point last = start;
    int64_t tokens = 0;
    std::string error;
    http.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      events.clear();
      parser.feed(std::string_view(data, len), events);
      const Clock::time_point now = Clock::now();
      for (const std::string& e : events) {
        if (e == "[DONE]") continue;
        const auto j = nlohmann::json::parse(e, nullptr, false);
        if (j.is_discarded()) continue;
        if (j.contains("error")) error = j["error"].value("message", "error");
        if (j.contains("usage") && j["usage"].is_object())
          r.output_tokens = j["usage"].value("completion_tokens", int64_t(0));
        if (!j.contains("choices") || j["choices"].empty()) continue;
        const auto& ids = j["choices"][0]["token_ids"];
        const int64_t n = ids.is_array() ? int64_t(ids.size()) : 0;
        if (n == 0) continue;
        const double gap = std::chrono::duration<double>(now - last).count();
        if (tokens == 0) {
          r.ttft = std::chrono::duration<double>(now - start).count();
        } else {
          r.itl.push_back(gap);
        }
        tokens += n;
        last = now;
      }
      return true;
    };
    auto res = cli.send(http);
    r.e2e = std::chrono::duration<double>(last - start).count();
    if (!res) {
      r.error = "connection failed: " + httplib::to_string(res.error());
    } else if (res->status != 200) {
      r.error = "HTTP " + std::to_string(res->status) + ": " + res->body;
    } else if (!error.empty()) {
      r.error = error;
    } else {
      if (r.output_tokens == 0) r.output_tokens = tokens;
      r.ok = tokens > 0;
      if (!r.ok) r.error = "no tokens received";
    }
    return r;
  };
}

}  // namespace duet::bench
