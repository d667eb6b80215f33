// Parses a model's tool-call markup out of its streamed text into OpenAI tool_calls.
//
// Two formats, chosen by which marker tokens the tokenizer has:
//  DeepSeek-V3/R1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n
//                  ARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//  Kimi K2:        <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX
//                  <|tool_call_argument_begin|>ARGS<|tool_call_end|>...<|tool_calls_section_end|>
// Text outside the section is content. Arguments stream as they arrive (held back only where
// they might be the start of the end marker), so clients see them incrementally.
// Thread safety: one parser per choice, used by one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace duet::server {

struct ToolCallDelta {
  int index = 0;          // position of the call in this choice's tool_calls
  std::string id, name;   // set on a call's first delta only (id empty: the caller makes one)
  std::string arguments;  // the next piece of the JSON arguments text
};

struct ToolParseResult {
  std::string content;
  std::vector<ToolCallDelta> calls;
};

struct ToolCallFormat {
  std::string name;  // "deepseek_v3", "kimi_k2"
  std::string section_begin, section_end, call_begin, header_end, args_end;
  // Splits a call's header (the text between call_begin and header_end) into (name, id).
  std::function<std::pair<std::string, std::string>(std::string_view header)> parse_header;
};

ToolCallFormat deepseek_v3_tool_format();
ToolCallFormat kimi_k2_tool_format();
// The format whose section marker is a token of the vocabulary (has_token tells), or nullptr.
std::unique_ptr<ToolCallFormat> detect_tool_format(
    const std::function<bool(std::string_view)>& has_token);

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolCallFormat format);
  ToolParseResult feed(std::string_view text);
  // End of output: held-back content is released; an unfinished call keeps what it streamed.
  ToolParseResult finish();
  int num_calls() const { return num_started_; }

 private:
  enum class State { kContent, kSection, kHeader, kArgs };
  bool step(ToolParseResult& out);  // one transition; false when more text is needed

  ToolCallFormat format_;
  State state_ = State::kContent;
  std::string pending_;
  int num_started_ = 0;
};

}  // namespace duet::server
