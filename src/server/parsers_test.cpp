// Tool-call and reasoning parsers fed in every possible two-piece split and byte by byte: the
// result must not depend on how the text was cut.
#include <gtest/gtest.h>

#include "server/reasoning.h"
#include "server/tool_parsers.h"

namespace duet::server {
namespace {

struct Parsed {
  std::string content;
  std::vector<std::tuple<std::string, std::string, std::string>> calls;  // id, name, args
};

Parsed run_tools(const ToolCallFormat& f, const std::vector<std::string>& pieces) {
  ToolCallParser p(f);
  Parsed out;
  auto take = [&](ToolParseResult r) {
    out.content += r.content;
    for (const ToolCallDelta& d : r.calls) {
      if (d.index >= int(out.calls.size())) {
        ASSERT_EQ(d.index, int(out.calls.size()));
        ASSERT_FALSE(d.name.empty());
        out.calls.emplace_back(d.id, d.name, "");
      } else {
        ASSERT_TRUE(d.name.empty());
      }
      std::get<2>(out.calls[d.index]) += d.arguments;
    }
  };
  for (const std::string& piece : pieces) take(p.feed(piece));
  take(p.finish());
  return out;
}

// Every split into two pieces, and one byte at a time.
std::vector<std::vector<std::string>> splits(const std::string& s) {
  std::vector<std::vector<std::string>> out;
  for (size_t i = 0; i <= s.size(); ++i) out.push_back({s.substr(0, i), s.substr(i)});
  std::vector<std::string> bytes;
  for (char c : s) bytes.emplace_back(1, c);
  out.push_back(bytes);
  return out;
}

TEST(ToolParser, DeepSeekV3TwoCalls) {
  const std::string text =
      "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
      "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function"
      "<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  for (const auto& pieces : splits(text)) {
    const Parsed p = run_tools(deepseek_v3_tool_format(), pieces);
    EXPECT_EQ(p.content, "Let me check.");
    ASSERT_EQ(p.calls.size(), 2u);
    EXPECT_EQ(std::get<1>(p.calls[0]), "get_weather");
    EXPECT_EQ(std::get<2>(p.calls[0]), "{\"city\": \"Paris\"}");
    EXPECT_EQ(std::get<0>(p.calls[0]), "");  // DeepSeek has no ids: the server makes one
    EXPECT_EQ(std::get<1>(p.calls[1]), "get_time");
    EXPECT_EQ(std::get<2>(p.calls[1]), "{}");
  }
}

TEST(ToolParser, KimiK2) {
  const std::string text =
      "<|tool_calls_section_begin|><|tool_call_begin|>functions.search:0"
      "<|tool_call_argument_begin|>{\"q\": \"a<b\"}<|tool_call_end|><|tool_call_begin|>"
      "functions.open:1<|tool_call_argument_begin|>{\"id\": 3}<|tool_call_end|>"
      "<|tool_calls_section_end|>";
  for (const auto& pieces : splits(text)) {
    const Parsed p = run_tools(kimi_k2_tool_format(), pieces);
    EXPECT_EQ(p.content, "");
    ASSERT_EQ(p.calls.size(), 2u);
    EXPECT_EQ(std::get<0>(p.calls[0]), "functions.search:0");
    EXPECT_EQ(std::get<1>(p.calls[0]), "search");
    EXPECT_EQ(std::get<2>(p.calls[0]), "{\"q\": \"a<b\"}");
    EXPECT_EQ(std::get<1>(p.calls[1]), "open");
    EXPECT_EQ(std::get<2>(p.calls[1]), "{\"id\": 3}");
  }
}

TEST(ToolParser, PlainTextAndLookalikesStayContent) {
  const std::string text = "a < b and <|tool_calls_section or <| are not markers";
  for (const auto& pieces : splits(text)) {
    const Parsed p = run_tools(kimi_k2_tool_format(), pieces);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty());
  }
}

TEST(ToolParser, UnfinishedCallKeepsStreamedArguments) {
  const Parsed p = run_tools(kimi_k2_tool_format(),
                             {"<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0"
                              "<|tool_call_argument_begin|>{\"a\": 1"});
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(std::get<2>(p.calls[0]), "{\"a\": 1");
}

TEST(ToolParser, DetectsFormatByToken) {
  auto v3 = detect_tool_format([](std::string_view t) { return t == "<｜tool▁calls▁begin｜>"; });
  ASSERT_TRUE(v3);
  EXPECT_EQ(v3->name, "deepseek_v3");
  auto k2 =
      detect_tool_format([](std::string_view t) { return t == "<|tool_calls_section_begin|>"; });
  ASSERT_TRUE(k2);
  EXPECT_EQ(k2->name, "kimi_k2");
  EXPECT_FALSE(detect_tool_format([](std::string_view) { return false; }));
}

std::pair<std::string, std::string> run_reasoning(bool open, const std::vector<std::string>& in) {
  ReasoningParser p(open);
  std::string reasoning, content;
  for (const std::string& piece : in) {
    auto r = p.feed(piece);
    reasoning += r.reasoning;
    content += r.content;
  }
  auto r = p.finish();
  return {reasoning + r.reasoning, content + r.content};
}

TEST(Reasoning, SplitsThinkBlockAnyCut) {
  const std::string text = "<think>\nstep 1 < step 2\n</think>\n\nThe answer is 4.";
  for (const auto& pieces : splits(text)) {
    auto [reasoning, content] = run_reasoning(false, pieces);
    EXPECT_EQ(reasoning, "\nstep 1 < step 2\n");
    EXPECT_EQ(content, "\n\nThe answer is 4.");
  }
}

TEST(Reasoning, PromptOpenedTheBlock) {
  const std::string text = "thinking...</think>done <think> is content now";
  for (const auto& pieces : splits(text)) {
    auto [reasoning, content] = run_reasoning(true, pieces);
    EXPECT_EQ(reasoning, "thinking...");
    EXPECT_EQ(content, "done <think> is content now");
  }
}

TEST(Reasoning, UnfinishedBlockAndNoBlock) {
  EXPECT_EQ(run_reasoning(true, {"still </thi"}).first, "still </thi");
  EXPECT_EQ(run_reasoning(false, {"no markers <thin"}).second, "no markers <thin");
  EXPECT_TRUE(prompt_opens_reasoning("<｜Assistant｜><think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<｜Assistant｜>"));
}

}  // namespace
}  // namespace duet::server
