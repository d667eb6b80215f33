#include "server/reasoning.h"

#include "server/text_markers.h"

namespace duet::server {

ReasoningParser::ReasoningParser(bool start_in_reasoning, std::string begin, std::string end)
    : state_(start_in_reasoning ? State::kReasoning : State::kBefore),
      begin_(std::move(begin)),
      end_(std::move(end)) {}

ReasoningParser::Result ReasoningParser::feed(std::string_view text) {
  Result out;
  pending_.append(text);
  while (!pending_.empty()) {
    if (state_ == State::kAfter) {
      out.content += pending_;
      pending_.clear();
      break;
    }
    const std::string& marker = state_ == State::kBefore ? begin_ : end_;
    std::string& sink = state_ == State::kBefore ? out.content : out.reasoning;
    const size_t pos = pending_.find(marker);
    if (pos == std::string::npos) {
      const size_t keep = partial_marker_suffix(pending_, marker);
      sink.append(pending_, 0, pending_.size() - keep);
      pending_.erase(0, pending_.size() - keep);
      break;
    }
    sink.append(pending_, 0, pos);
    pending_.erase(0, pos + marker.size());
    state_ = state_ == State::kBefore ? State::kReasoning : State::kAfter;
  }
  return out;
}

ReasoningParser::Result ReasoningParser::finish() {
  Result out;
  (state_ == State::kReasoning ? out.reasoning : out.content) = std::move(pending_);
  pending_.clear();
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt, std::string_view begin) {
  size_t end = prompt.size();
  while (end > 0 && (prompt[end - 1] == ' ' || prompt[end - 1] == '\n' || prompt[end - 1] == '\t' ||
                     prompt[end - 1] == '\r'))
    --end;
  return prompt.substr(0, end).ends_with(begin);
}

}  // namespace duet::server
