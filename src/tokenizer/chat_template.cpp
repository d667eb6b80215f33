#include "tokenizer/chat_template.h"

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"

namespace duet {
namespace {

using jinja::Body;
using jinja::Expr;
using jinja::ExprKind;

// Jinja resolves filters and tests when it compiles a template, so an unknown one fails even in
// a branch that never runs. Doing the same keeps "unsupported" errors out of production renders.
void validate_expr(const Expr* e) {
  if (!e) return;
  if (e->kind == ExprKind::kFilter && !jinja::is_known_filter(e->name))
    fail("chat template line ", e->line, ": unsupported filter '", e->name, "'");
  if (e->kind == ExprKind::kTest && !jinja::is_known_test(e->name))
    fail("chat template line ", e->line, ": unsupported test '", e->name, "'");
  for (const auto& a : e->args) validate_expr(a.get());
  for (const auto& [k, a] : e->kwargs) validate_expr(a.get());
}

void validate(const Body& body) {
  for (const auto& s : body) {
    for (const auto& e : s->exprs) validate_expr(e.get());
    for (const auto& b : s->bodies) validate(b);
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)), limits_(std::make_unique<jinja::Limits>()) {
  body_ = std::make_unique<Body>(jinja::parse(jinja::lex(source_)));
  validate(*body_);
}

ChatTemplate::~ChatTemplate() = default;

void ChatTemplate::set_limits(const jinja::Limits& limits) {
  *limits_ = limits;
}

std::string special_token_from_config(const nlohmann::ordered_json& config,
                                      const std::string& key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const auto& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string())
    return t["content"].get<std::string>();
  return "";
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_model_dir(const std::string& dir) {
  std::string jinja_path = path_join(dir, "chat_template.jinja");
  if (file_exists(jinja_path)) return std::make_unique<ChatTemplate>(read_file(jinja_path));
  std::string config_path = path_join(dir, "tokenizer_config.json");
  if (!file_exists(config_path)) return nullptr;
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    fail(config_path, ": invalid JSON: ", e.what());
  }
  if (!config.is_object() || !config.contains("chat_template")) return nullptr;
  const auto& t = config["chat_template"];
  if (t.is_string()) return std::make_unique<ChatTemplate>(t.get<std::string>());
  if (t.is_array()) {
    for (const auto& entry : t) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return std::make_unique<ChatTemplate>(entry["template"].get<std::string>());
    }
    fail(config_path, ": chat_template lists several templates but none is named \"default\"");
  }
  if (t.is_null()) return nullptr;
  fail(config_path, ": chat_template must be a string or a list of {name, template}");
}

std::string ChatTemplate::render(const Inputs& in) const {
  // The variables apply_chat_template passes: messages, tools, documents and
  // add_generation_prompt always (None when not given), the tokenizer's special tokens that are
  // set, then the caller's extra kwargs, which override special tokens.
  jinja::DictData globals;
  jinja::Evaluator ev(*limits_, globals);
  jinja::add_globals(ev, globals);
  globals.set("messages", jinja::from_json(in.messages.is_null() ? nlohmann::ordered_json::array()
                                                                 : in.messages));
  globals.set("tools", jinja::from_json(in.tools));
  globals.set("documents", jinja::Value(jinja::None{}));
  globals.set("add_generation_prompt", jinja::Value(in.add_generation_prompt));
  if (!in.bos_token.empty()) globals.set("bos_token", jinja::Value(in.bos_token));
  if (!in.eos_token.empty()) globals.set("eos_token", jinja::Value(in.eos_token));
  if (in.extra.is_object()) {
    for (const auto& [k, v] : in.extra.items()) globals.set(k, jinja::from_json(v));
  } else if (!in.extra.is_null()) {
    fail("chat template extra variables must be a JSON object");
  }
  jinja::Evaluator run(*limits_, globals);
  return run.render(*body_);
}

}  // namespace duet
