#include "server/choice_state.h"

namespace duet::server {

std::string strip_strings(std::string text, const std::vector<std::string>& strings) {
  // Every special token of the supported tokenizers starts with '<'; most deltas have none.
  if (text.find('<') == std::string::npos) return text;
  for (const std::string& s : strings) {
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos))
      text.erase(pos, s.size());
  }
  return text;
}

ChoiceState::ChoiceState(int index, const ChoiceOptions& options)
    : index_(index), options_(options) {
  if (options.parse_reasoning) reasoning_parser_.emplace(options.reasoning_starts_open);
  if (options.tool_format) tool_parser_.emplace(*options.tool_format);
}

json ChoiceState::finish_reason_json() const {
  return server::finish_reason_json(finished_, finish_reason_, !tool_calls_.empty());
}

void ChoiceState::add_content(std::string text, ChoiceDelta& d) {
  if (options_.strip) text = strip_strings(std::move(text), *options_.strip);
  content_ += text;
  d.content += text;
}

void ChoiceState::add_text(std::string text, ChoiceDelta& d, bool final) {
  std::string content;
  if (reasoning_parser_) {
    ReasoningParser::Result r = reasoning_parser_->feed(text);
    if (final) {
      ReasoningParser::Result rest = reasoning_parser_->finish();
      r.reasoning += rest.reasoning;
      r.content += rest.content;
    }
    if (options_.strip) r.reasoning = strip_strings(std::move(r.reasoning), *options_.strip);
    reasoning_ += r.reasoning;
    d.reasoning += r.reasoning;
    content = std::move(r.content);
  } else {
    content = std::move(text);
  }
  if (!tool_parser_) {
    add_content(std::move(content), d);
    return;
  }
  ToolParseResult t = tool_parser_->feed(content);
  if (final) {
    ToolParseResult rest = tool_parser_->finish();
    t.content += rest.content;
    t.calls.insert(t.calls.end(), rest.calls.begin(), rest.calls.end());
  }
  add_content(std::move(t.content), d);
  for (ToolCallDelta& call : t.calls) {
    if (call.index >= int(tool_calls_.size())) {
      if (call.id.empty()) call.id = random_id("call_");
      tool_calls_.push_back({call.id, call.name, ""});
    }
    tool_calls_[call.index].arguments += call.arguments;
    d.tool_calls.push_back(std::move(call));
  }
}

ChoiceDelta ChoiceState::apply(const RequestOutput& out) {
  ChoiceDelta d;
  d.token_ids = out.token_ids;
  d.logprobs = out.logprobs;
  token_ids_.insert(token_ids_.end(), out.token_ids.begin(), out.token_ids.end());
  logprobs_.insert(logprobs_.end(), out.logprobs.begin(), out.logprobs.end());
  num_prompt_ = out.num_prompt_tokens;
  num_cached_ = out.num_cached_tokens;
  num_output_ = out.num_output_tokens;
  if (out.finished) {
    finished_ = true;
    finish_reason_ = out.finish_reason;
    stop_reason_ = out.stop_reason;
    error_ = out.error;
  }
  add_text(out.text, d, out.finished);
  d.finished = out.finished;
  return d;
}

}  // namespace duet::server
