// Native results -> OpenAI response JSON (chat.completion, chat.completion.chunk,
// text_completion, usage, both logprobs formats). Pure functions; no I/O, no engine.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/tool_parsers.h"

namespace duet::server {

using json = nlohmann::ordered_json;

// Text of one token for logprobs ("token_id:N" when the model has no tokenizer, as vLLM does).
using TokenText = std::function<std::string(int32_t id)>;

// JSON text with invalid UTF-8 replaced (token bytes may hold half a character).
std::string dump_json(const json& j);

struct ToolCall {
  std::string id, name, arguments;
};

// The OpenAI finish_reason for an engine reason: "stop", "length", "tool_calls" (a stop after
// tool calls were parsed), "abort", "error"; null while not finished.
json finish_reason_json(bool finished, FinishReason reason, bool has_tool_calls);
std::string finish_reason_string(FinishReason reason);  // for metrics; "" for kNone

json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// Chat format: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text, int top_n);
// Legacy completions format: {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
// offsets count from `text_offset` (bytes of text already sent before these tokens).
json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text,
                              int top_n, size_t text_offset);

json tool_calls_json(const std::vector<ToolCall>& calls);
json tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas);

struct ResponseHeader {
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;
  std::string model;
};
json chat_chunk(const ResponseHeader& h, json choice);
json completion_chunk(const ResponseHeader& h, json choice);
json usage_chunk(const ResponseHeader& h, bool chat, json usage);

// A fresh id with a prefix: prefix + 24 random hex digits.
std::string random_id(const std::string& prefix);

}  // namespace duet::server
