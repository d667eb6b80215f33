// One choice of a generation request as the HTTP thread sees it: applies each RequestOutput to
// the reasoning and tool-call parsers and keeps what the final response needs.
// Thread safety: owned and used by the one HTTP thread serving the request.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/reasoning.h"
#include "server/response_format.h"
#include "server/tool_parsers.h"

namespace duet::server {

struct ChoiceOptions {
  bool parse_reasoning = false;
  bool reasoning_starts_open = false;           // the prompt ended inside <think>
  const ToolCallFormat* tool_format = nullptr;  // set when tool calls are parsed
  // Special-token strings to remove from content: the engine produced text with special
  // tokens (the parsers need their markers) but the client asked for them to be skipped.
  const std::vector<std::string>* strip = nullptr;
};

// What one engine output adds to a choice.
struct ChoiceDelta {
  std::string content, reasoning;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;
  bool finished = false;
};

class ChoiceState {
 public:
  ChoiceState(int index, const ChoiceOptions& options);
  ChoiceDelta apply(const RequestOutput& out);

  int index() const { return index_; }
  bool finished() const { return finished_; }
  FinishReason finish_reason() const { return finish_reason_; }
  const std::string& stop_reason() const { return stop_reason_; }
  const std::string& error() const { return error_; }
  const std::string& content() const { return content_; }
  const std::string& reasoning() const { return reasoning_; }
  const std::vector<ToolCall>& tool_calls() const { return tool_calls_; }
  const std::vector<int32_t>& token_ids() const { return token_ids_; }
  const std::vector<TokenLogprob>& logprobs() const { return logprobs_; }
  int num_prompt_tokens() const { return num_prompt_; }
  int num_cached_tokens() const { return num_cached_; }
  int num_output_tokens() const { return num_output_; }
  json finish_reason_json() const;

 private:
  void add_text(std::string text, ChoiceDelta& d, bool final);
  void add_content(std::string text, ChoiceDelta& d);

  int index_;
  ChoiceOptions options_;
  std::optional<ReasoningParser> reasoning_parser_;
  std::optional<ToolCallParser> tool_parser_;
  std::string content_, reasoning_, stop_reason_, error_;
  std::vector<ToolCall> tool_calls_;
  std::vector<int32_t> token_ids_;
  std::vector<TokenLogprob> logprobs_;
  bool finished_ = false;
  FinishReason finish_reason_ = FinishReason::kNone;
  int num_prompt_ = 0, num_cached_ = 0, num_output_ = 0;
};

// Removes every occurrence of the given strings (longest first is the caller's order).
std::string strip_strings(std::string text, const std::vector<std::string>& strings);

}  // namespace duet::server
