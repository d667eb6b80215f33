// Splits a thinking model's output into reasoning_content (inside <think>...</think>) and
// content, on text that streams in arbitrary pieces.
//
// DeepSeek-R1-style templates end the generation prompt with "<think>", so the model starts
// inside the reasoning block without emitting the marker: the caller says where it starts. Only
// one reasoning block is recognised; once it has ended, every later "<think>" is content.
// Thread safety: one parser per choice, used by one thread.
#pragma once

#include <string>
#include <string_view>

namespace duet::server {

class ReasoningParser {
 public:
  struct Result {
    std::string reasoning, content;
  };

  explicit ReasoningParser(bool start_in_reasoning, std::string begin = "<think>",
                           std::string end = "</think>");
  Result feed(std::string_view text);
  // End of output: releases held-back text (an unfinished block's text stays reasoning).
  Result finish();

 private:
  enum class State { kBefore, kReasoning, kAfter };
  State state_;
  std::string begin_, end_;
  std::string pending_;
};

// True when a rendered chat prompt leaves the model inside a reasoning block (it ends with the
// begin marker, ignoring trailing whitespace).
bool prompt_opens_reasoning(std::string_view prompt, std::string_view begin = "<think>");

}  // namespace duet::server
