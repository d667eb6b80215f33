// SSE framing, Prometheus text, response JSON and ChoiceState.
#include <gtest/gtest.h>

#include "server/choice_state.h"
#include "server/metrics.h"
#include "server/response_format.h"
#include "server/sse.h"

namespace duet::server {
namespace {

TEST(Sse, FramesAndDone) {
  EXPECT_EQ(sse_event({{"a", "x\ny"}}), "data: {\"a\":\"x\\ny\"}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  // Invalid UTF-8 in a token's bytes is replaced, never thrown mid-stream.
  EXPECT_NO_THROW(sse_event({{"t", std::string("\xe4\xbd")}}));
}

TEST(Sse, ParserHandlesAnySplit) {
  const std::string stream =
      ": comment\r\ndata: {\"i\":1}\r\n\r\nevent: x\ndata: a\ndata: b\n\ndata: [DONE]\n\n";
  const std::vector<std::string> want = {"{\"i\":1}", "a\nb", "[DONE]"};
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser p;
    std::vector<std::string> got;
    p.feed(std::string_view(stream).substr(0, cut), got);
    p.feed(std::string_view(stream).substr(cut), got);
    EXPECT_EQ(got, want) << "cut at " << cut;
  }
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(7.0);
  const std::string text = h.render("x");
  EXPECT_NE(text.find("x_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_sum 8.05\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_count 4\n"), std::string::npos) << text;
}

TEST(Metrics, RenderHasEveryFamily) {
  ServerMetrics m;
  m.record_finished("stop");
  m.record_finished("stop");
  m.record_finished("length");
  m.record_first_token(0.02);
  m.record_rejected(429);
  EngineStats s;
  s.kv_blocks_total = 10;
  s.kv_blocks_free = 4;
  s.prefix_cache_queries = 100;
  s.prefix_cache_hits = 25;
  s.running = 3;
  const std::string text = m.render(s, true);
  for (const char* line :
       {"duet_request_success_total{finished_reason=\"stop\"} 2\n",
        "duet_request_success_total{finished_reason=\"length\"} 1\n",
        "duet_request_success_total{finished_reason=\"abort\"} 0\n",
        "duet_request_rejected_total{status=\"429\"} 1\n", "duet_kv_cache_usage_ratio 0.6\n",
        "duet_prefix_cache_hit_rate 0.25\n", "duet_num_requests_running 3\n", "duet_healthy 1\n",
        "# TYPE duet_time_to_first_token_seconds histogram\n",
        "duet_time_to_first_token_seconds_count 1\n", "duet_inter_token_latency_seconds_count 0\n",
        "duet_e2e_request_latency_seconds_count 0\n", "duet_kv_cache_blocks_free 4\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

TEST(Format, UsageAndFinishReason) {
  const json u = usage_json(5, 7, 3);
  EXPECT_EQ(u["total_tokens"], 12);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 3);
  EXPECT_TRUE(finish_reason_json(false, FinishReason::kNone, false).is_null());
  EXPECT_EQ(finish_reason_json(true, FinishReason::kStop, true), "tool_calls");
  EXPECT_EQ(finish_reason_json(true, FinishReason::kLength, true), "length");
  EXPECT_EQ(finish_reason_json(true, FinishReason::kStop, false), "stop");
}

TEST(Format, LogprobsBothShapes) {
  const std::vector<TokenLogprob> lps = {{7, -0.5f, {{7, -0.5f}, {9, -1.5f}}},
                                         {9, -0.25f, {{9, -0.25f}, {7, -2.0f}}}};
  const TokenText text = [](int32_t id) { return id == 7 ? std::string("ab") : std::string("c"); };
  const json chat = chat_logprobs_json(lps, text, 1);
  ASSERT_EQ(chat["content"].size(), 2u);
  EXPECT_EQ(chat["content"][0]["token"], "ab");
  EXPECT_EQ(chat["content"][0]["bytes"], json::array({97, 98}));
  EXPECT_EQ(chat["content"][0]["top_logprobs"].size(), 1u);
  const json legacy = completion_logprobs_json(lps, text, 2, 10);
  EXPECT_EQ(legacy["tokens"], json::array({"ab", "c"}));
  EXPECT_EQ(legacy["text_offset"], json::array({10, 12}));
  EXPECT_FLOAT_EQ(legacy["top_logprobs"][1]["ab"].get<float>(), -2.0f);
}

TEST(ChoiceState, ToolCallsReasoningAndStripping) {
  const ToolCallFormat fmt = kimi_k2_tool_format();
  const std::vector<std::string> strip = {"<|im_end|>"};
  ChoiceOptions o;
  o.parse_reasoning = true;
  o.reasoning_starts_open = false;
  o.tool_format = &fmt;
  o.strip = &strip;
  ChoiceState c(0, o);
  RequestOutput out;
  out.text = "<think>plan</think>Sure.<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0";
  out.token_ids = {1, 2, 3};
  ChoiceDelta d = c.apply(out);
  EXPECT_EQ(d.reasoning, "plan");
  EXPECT_EQ(d.content, "Sure.");
  out.text = "<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|><|im_end|>";
  out.finished = true;
  out.finish_reason = FinishReason::kStop;
  d = c.apply(out);
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "f");
  EXPECT_EQ(d.tool_calls[0].id, "functions.f:0");
  EXPECT_EQ(d.content, "");  // <|im_end|> was stripped
  EXPECT_EQ(c.finish_reason_json(), "tool_calls");
  EXPECT_EQ(c.token_ids().size(), 6u);
  ASSERT_EQ(c.tool_calls().size(), 1u);
  EXPECT_EQ(c.tool_calls()[0].arguments, "{}");
}

TEST(ChoiceState, PlainTextPassesThrough) {
  ChoiceState c(1, ChoiceOptions{});
  RequestOutput out;
  out.text = "<think>not parsed here</think>";
  EXPECT_EQ(c.apply(out).content, "<think>not parsed here</think>");
  EXPECT_EQ(strip_strings("a<x>b<x>", {"<x>"}), "ab");
}

}  // namespace
}  // namespace duet::server
