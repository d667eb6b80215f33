// Golden tests: every conversation in tests/data/chat_templates/*.jsonl was rendered by
// transformers' own renderer (tools/reference/make_chat_template_golden.py); duet must match
// byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace duet {
namespace {

const std::string kDir = "tests/data/chat_templates/";

void run_golden(const std::string& name) {
  auto tmpl = ChatTemplate::from_model_dir(kDir + name);
  ASSERT_NE(tmpl, nullptr) << name;
  auto config =
      nlohmann::ordered_json::parse(std::ifstream(kDir + name + "/tokenizer_config.json"));
  std::ifstream in(kDir + name + ".jsonl");
  ASSERT_TRUE(in) << name;
  std::string line;
  int n = 0, errors = 0;
  while (std::getline(in, line)) {
    auto c = nlohmann::ordered_json::parse(line);
    ChatTemplate::Inputs inputs;
    inputs.messages = c["messages"];
    inputs.tools = c["tools"];
    inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    inputs.extra = c["extra"];
    inputs.bos_token = special_token_from_config(config, "bos_token");
    inputs.eos_token = special_token_from_config(config, "eos_token");
    ++n;
    if (c.contains("error")) {
      try {
        tmpl->render(inputs);
        ADD_FAILURE() << name << " case " << n << ": expected error " << c["error"];
      } catch (const Error& e) {
        // raise_exception messages come through verbatim; other errors gain a line prefix.
        std::string want = c["error"].get<std::string>(), got = e.what();
        EXPECT_TRUE(got.size() >= want.size() &&
                    got.compare(got.size() - want.size(), want.size(), want) == 0)
            << name << " case " << n << ": got " << got << ", want " << want;
      }
      ++errors;
      continue;
    }
    std::string got;
    try {
      got = tmpl->render(inputs);
    } catch (const Error& e) {
      ADD_FAILURE() << name << " case " << n << " threw: " << e.what();
      continue;
    }
    EXPECT_EQ(got, c["expected"].get<std::string>()) << name << " case " << n;
  }
  EXPECT_GE(n - errors, 30) << name << ": too few golden cases";
}

TEST(ChatTemplateGolden, DeepSeekV3) {
  run_golden("deepseek-v3");
}
TEST(ChatTemplateGolden, KimiStyle) {
  run_golden("kimi-style");
}
TEST(ChatTemplateGolden, R1Style) {
  run_golden("r1-style");
}
TEST(ChatTemplateGolden, QwenStyle) {
  run_golden("qwen-style");
}

TEST(ChatTemplate, FromModelDirWithoutTemplate) {
  EXPECT_EQ(ChatTemplate::from_model_dir("/nonexistent-dir"), nullptr);
}

TEST(ChatTemplate, SpecialTokenForms) {
  auto cfg = nlohmann::ordered_json::parse(
      R"({"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "unk_token": null})");
  EXPECT_EQ(special_token_from_config(cfg, "bos_token"), "<s>");
  EXPECT_EQ(special_token_from_config(cfg, "eos_token"), "</s>");
  EXPECT_EQ(special_token_from_config(cfg, "unk_token"), "");
  EXPECT_EQ(special_token_from_config(cfg, "pad_token"), "");
}

}  // namespace
}  // namespace duet
