// duet chat-template: prints what transformers' apply_chat_template(..., tokenize=False) renders.
#include <cstdio>

#include "apps/command.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "tokenizer/chat_template.h"

namespace duet {
namespace {

nlohmann::ordered_json read_json(const std::string& path) {
  try {
    return nlohmann::ordered_json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

int run_chat_template(const std::vector<std::string>& args) {
  Flags flags("duet chat-template",
              "duet chat-template --model DIR --messages FILE.json [--add-generation-prompt] "
              "[--tools FILE.json] [--chat-template FILE]",
              "Renders a conversation with the model's chat template, exactly as transformers' "
              "apply_chat_template(..., tokenize=False) does.");
  std::string& model =
      flags.add_string("model", "", "checkpoint directory (tokenizer_config.json)");
  std::string& messages = flags.add_string("messages", "", "JSON file with the list of messages");
  std::string& tools = flags.add_string("tools", "", "JSON file with the list of tools");
  std::string& tmpl_file =
      flags.add_string("chat-template", "", "template file overriding the model's template");
  bool& gen = flags.add_bool("add-generation-prompt", "append the assistant prompt");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (model.empty()) fail("chat-template: --model is required");
  if (messages.empty()) fail("chat-template: --messages is required");

  std::unique_ptr<ChatTemplate> tmpl = tmpl_file.empty()
                                           ? ChatTemplate::from_model_dir(model)
                                           : std::make_unique<ChatTemplate>(read_file(tmpl_file));
  if (!tmpl)
    fail(model, ": the model has no chat template (chat_template.jinja or tokenizer_config.json)");

  nlohmann::ordered_json config;
  std::string config_path = path_join(model, "tokenizer_config.json");
  if (file_exists(config_path)) config = read_json(config_path);

  ChatTemplate::Inputs in;
  in.messages = read_json(messages);
  if (!in.messages.is_array()) fail(messages, ": messages must be a JSON list");
  if (!tools.empty()) {
    in.tools = read_json(tools);
    if (!in.tools.is_array()) fail(tools, ": tools must be a JSON list");
  }
  in.add_generation_prompt = gen;
  in.bos_token = special_token_from_config(config, "bos_token");
  in.eos_token = special_token_from_config(config, "eos_token");
  // apply_chat_template passes every named special token that is set (special_tokens_map).
  in.extra = nlohmann::ordered_json::object();
  for (const char* key : {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    std::string v = special_token_from_config(config, key);
    if (!v.empty()) in.extra[key] = v;
  }
  std::string out = tmpl->render(in);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

RegisterCommand reg("chat-template",
                    {"render a conversation with the model's chat template", run_chat_template});

}  // namespace
}  // namespace duet
