// Chat templates rendered exactly as Hugging Face transformers' apply_chat_template(...,
// tokenize=False) does, by a built-in interpreter for the Jinja subset chat templates use
// (see docs/CHAT_TEMPLATES.md). Unsupported constructs are errors, never approximations.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace duet {

namespace jinja {
struct Stmt;
struct Limits;
}  // namespace jinja

class ChatTemplate {
 public:
  // Parses the template once; throws duet::Error naming the construct and line on unsupported
  // syntax (including unknown filters and tests, which Jinja also rejects at compile time).
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

  // Loads the template of a checkpoint: DIR/chat_template.jinja if present, else
  // tokenizer_config.json's "chat_template" (a string, or a list of {name, template}: "default"
  // is used). nullptr if there is none.
  static std::unique_ptr<ChatTemplate> from_model_dir(const std::string& dir);

  // JSON inputs are ordered_json: key order is visible in the output (tools|tojson, tool-call
  // arguments), and Python dicts keep insertion order, so a sorted map would render differently.
  struct Inputs {
    nlohmann::ordered_json messages;  // list of {role, content, tool_calls?, ...}
    nlohmann::ordered_json tools;     // null or list
    bool add_generation_prompt = false;
    nlohmann::ordered_json extra;      // extra context variables (e.g. "thinking"); object or null
    std::string bos_token, eos_token;  // from tokenizer_config; empty = not defined
  };
  std::string render(const Inputs& in) const;

  // Resource bounds for rendering (the fuzzer tightens them).
  void set_limits(const jinja::Limits& limits);
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::unique_ptr<std::vector<std::unique_ptr<jinja::Stmt>>> body_;
  std::unique_ptr<jinja::Limits> limits_;
};

// Reads a special token from tokenizer_config.json: a string, or {"__type":"AddedToken",
// "content":...}. Empty if absent or null.
std::string special_token_from_config(const nlohmann::ordered_json& config, const std::string& key);

}  // namespace duet
