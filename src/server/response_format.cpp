#include "server/response_format.h"

#include <cmath>
#include <mutex>
#include <random>

namespace duet::server {
namespace {

json logprob_value(float lp) {
  // -inf cannot be written in JSON; OpenAI clients expect a number, so clamp like vLLM does.
  return std::isfinite(lp) ? json(lp) : json(-9999.0);
}

json bytes_json(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

}  // namespace

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string finish_reason_string(FinishReason reason) {
  return finish_reason_name(reason);
}

json finish_reason_json(bool finished, FinishReason reason, bool has_tool_calls) {
  if (!finished) return nullptr;
  if (reason == FinishReason::kStop && has_tool_calls) return "tool_calls";
  return finish_reason_string(reason);
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text, int top_n) {
  json content = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string t = text(lp.id);
    json top = json::array();
    for (size_t i = 0; i < lp.top.size() && int(i) < top_n; ++i) {
      const std::string tt = text(lp.top[i].first);
      top.push_back(
          {{"token", tt}, {"logprob", logprob_value(lp.top[i].second)}, {"bytes", bytes_json(tt)}});
    }
    content.push_back({{"token", t},
                       {"logprob", logprob_value(lp.logprob)},
                       {"bytes", bytes_json(t)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text,
                              int top_n, size_t text_offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(),
       offsets = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string t = text(lp.id);
    tokens.push_back(t);
    token_lps.push_back(logprob_value(lp.logprob));
    json top = json::object();
    for (size_t i = 0; i < lp.top.size() && int(i) < top_n; ++i)
      top[text(lp.top[i].first)] = logprob_value(lp.top[i].second);
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += t.size();
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_lps)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& c : calls)
    out.push_back({{"id", c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

json tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas) {
  json out = json::array();
  for (const ToolCallDelta& d : deltas) {
    json call = {{"index", d.index}};
    json function = {{"arguments", d.arguments}};
    if (!d.name.empty()) {
      call["id"] = d.id;
      call["type"] = "function";
      function = {{"name", d.name}, {"arguments", d.arguments}};
    }
    call["function"] = std::move(function);
    out.push_back(std::move(call));
  }
  return out;
}

json chat_chunk(const ResponseHeader& h, json choice) {
  return {{"id", h.id},
          {"object", "chat.completion.chunk"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array({std::move(choice)})}};
}

json completion_chunk(const ResponseHeader& h, json choice) {
  return {{"id", h.id},
          {"object", "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array({std::move(choice)})}};
}

json usage_chunk(const ResponseHeader& h, bool chat, json usage) {
  return {{"id", h.id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array()},
          {"usage", std::move(usage)}};
}

std::string random_id(const std::string& prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a, b;
  {
    std::lock_guard lock(mu);
    a = rng();
    b = rng();
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b & 0xffffffffu));
  return prefix + buf;
}

}  // namespace duet::server
