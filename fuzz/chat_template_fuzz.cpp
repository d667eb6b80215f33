// libFuzzer target: arbitrary bytes as a chat template, rendered against a small fixed
// conversation. Template errors (duet::Error) are expected; crashes, hangs, sanitizer reports
// and stack exhaustion are bugs. Limits are tightened so every input finishes quickly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_eval.h"

namespace {

const duet::ChatTemplate::Inputs& inputs() {
  static const duet::ChatTemplate::Inputs in = [] {
    duet::ChatTemplate::Inputs i;
    i.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in 東京? 🙂"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "functions.get_weather:0",
        "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"}}]},
      {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "18C"},
      {"role": "assistant", "content": "<think>x</think>It is 18C."}])");
    i.tools = nlohmann::ordered_json::parse(
        R"([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])");
    i.add_generation_prompt = true;
    i.extra = nlohmann::ordered_json::parse(R"({"thinking": true})");
    i.bos_token = "<s>";
    i.eos_token = "</s>";
    return i;
  }();
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string src(reinterpret_cast<const char*>(data), size);
  try {
    duet::ChatTemplate t(src);
    duet::jinja::Limits limits;
    limits.max_output_bytes = 1 << 20;
    limits.max_steps = 200'000;
    limits.max_range = 10'000;
    limits.max_call_depth = 16;
    t.set_limits(limits);
    t.render(inputs());
  } catch (const duet::Error&) {
  }
  return 0;
}
