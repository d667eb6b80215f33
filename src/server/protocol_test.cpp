#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/openai_protocol.h"

namespace duet::server {
namespace {

using nlohmann::json;

int status_of(const std::function<void()>& fn, std::string* param = nullptr) {
  try {
    fn();
  } catch (const ApiError& e) {
    if (param) *param = e.param();
    return e.status();
  }
  return 0;
}

TEST(Protocol, ChatDefaultsAndFields) {
  SamplingParams defaults;
  defaults.temperature = 0.6f;
  defaults.top_p = 0.95f;
  const json body = json::parse(R"({
    "model": "m", "messages": [{"role": "user", "content": "hi"}],
    "top_k": 5, "min_p": 0.1, "seed": 7, "n": 3, "stream": true,
    "stream_options": {"include_usage": true}, "stop": "END", "max_tokens": 10,
    "max_completion_tokens": 20, "logprobs": true, "top_logprobs": 2, "ignore_eos": true,
    "frequency_penalty": 0.5, "presence_penalty": -0.5, "repetition_penalty": 1.1,
    "skip_special_tokens": false, "some_unknown_field": {"x": 1},
    "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"})");
  const GenerateRequest r = parse_chat_request(body, defaults);
  EXPECT_EQ(r.endpoint, Endpoint::kChat);
  EXPECT_EQ(r.model, "m");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.6f);  // default kept
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.95f);
  EXPECT_EQ(r.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.1f);
  EXPECT_EQ(r.sampling.seed, 7u);
  EXPECT_EQ(r.n, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.max_tokens, 20);  // max_completion_tokens wins
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_TRUE(r.sampling.ignore_eos);
  EXPECT_FALSE(r.sampling.skip_special_tokens);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tool_choice, "auto");
}

TEST(Protocol, CompletionPromptShapes) {
  const SamplingParams d;
  auto parse = [&](const char* text) { return parse_completion_request(json::parse(text), d); };
  EXPECT_EQ(*parse(R"({"prompt": "hello"})").prompt_text, "hello");
  EXPECT_EQ(parse(R"({"prompt": [1, 2, 3]})").prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse(R"({"prompt": [[4, 5]]})").prompt_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(*parse(R"({"prompt": ["x"]})").prompt_text, "x");
  EXPECT_FALSE(parse(R"({"prompt": "p"})").max_tokens.has_value());
  const GenerateRequest r = parse(R"({"prompt": "p", "logprobs": 3, "echo": true,
                                      "stop": ["a", "b"], "seed": -1})");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.sampling.seed, ~uint64_t(0));  // negative seeds are valid (two's complement)
  // Explicit nulls mean "not given".
  EXPECT_EQ(parse(R"({"prompt": "p", "temperature": null, "max_tokens": null})").max_tokens,
            std::nullopt);
  // 3.0 is accepted as an integer.
  EXPECT_EQ(parse(R"({"prompt": "p", "max_tokens": 3.0})").max_tokens, 3);
}

TEST(Protocol, BadInputIs400WithParam) {
  const SamplingParams d;
  struct Case {
    const char* body;
    const char* param;
  };
  const Case chat_cases[] = {
      {R"({})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": [{"content": "x"}]})", "messages"},
      {R"({"messages": [{"role": "user"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user"}], "max_tokens": 0})", "max_tokens"},
      {R"({"messages": [{"role": "user"}], "max_tokens": 2.5})", "max_tokens"},
      {R"({"messages": [{"role": "user"}], "n": 0})", "n"},
      {R"({"messages": [{"role": "user"}], "n": 100000})", "n"},
      {R"({"messages": [{"role": "user"}], "stop": 5})", "stop"},
      {R"({"messages": [{"role": "user"}], "stop": [""]})", "stop"},
      {R"({"messages": [{"role": "user"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user"}], "top_logprobs": 2})", "top_logprobs"},
      {R"({"messages": [{"role": "user"}], "logprobs": true, "top_logprobs": 21})", "top_logprobs"},
      {R"({"messages": [{"role": "user"}], "tools": {}})", "tools"},
      {R"({"messages": [{"role": "user"}], "tool_choice": "maybe"})", "tool_choice"},
      {R"({"messages": [{"role": "user"}], "seed": 1e300})", "seed"},
      {R"({"messages": [{"role": "user"}], "model": 3})", "model"},
  };
  for (const Case& c : chat_cases) {
    std::string param;
    EXPECT_EQ(status_of([&] { parse_chat_request(json::parse(c.body), d); }, &param), 400)
        << c.body;
    EXPECT_EQ(param, c.param) << c.body;
  }
  const Case completion_cases[] = {
      {R"({})", "prompt"},
      {R"({"prompt": []})", "prompt"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": [1, "a"]})", "prompt"},
      {R"({"prompt": [-1]})", "prompt"},
      {R"({"prompt": "p", "logprobs": true})", "logprobs"},
      {R"({"prompt": "p", "echo": 1})", "echo"},
      {R"({"prompt": "p", "stop_token_ids": [1.5]})", "stop_token_ids"},
  };
  for (const Case& c : completion_cases) {
    std::string param;
    EXPECT_EQ(status_of([&] { parse_completion_request(json::parse(c.body), d); }, &param), 400)
        << c.body;
    EXPECT_EQ(param, c.param) << c.body;
  }
}

TEST(Protocol, JsonBodyMustBeAnObject) {
  EXPECT_EQ(status_of([] { parse_json_body("{not json"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_body("[1, 2]"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_body(""); }), 400);
  EXPECT_EQ(status_of([] { parse_json_body("\xff\xfe"); }), 400);
  EXPECT_TRUE(parse_json_body(R"({"a": 1})").is_object());
}

TEST(Protocol, TokenizeAndDetokenize) {
  TokenizeRequest t = parse_tokenize_request(json::parse(R"({"prompt": "hi"})"));
  EXPECT_EQ(*t.prompt, "hi");
  EXPECT_TRUE(t.add_special_tokens);
  t = parse_tokenize_request(json::parse(R"({"messages": [{"role": "user", "content": "x"}]})"));
  EXPECT_FALSE(t.add_special_tokens);  // the template writes BOS itself
  EXPECT_EQ(status_of([] { parse_tokenize_request(json::parse("{}")); }), 400);
  EXPECT_EQ(parse_detokenize_request(json::parse(R"({"tokens": [1, 2]})")).tokens,
            (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(status_of([] { parse_detokenize_request(json::parse(R"({"tokens": "x"})")); }), 400);
}

TEST(Protocol, ErrorBodyShape) {
  const json e = error_body(404, "no such model", "model");
  EXPECT_EQ(e["error"]["message"], "no such model");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "model");
  EXPECT_EQ(e["error"]["code"], 404);
  EXPECT_TRUE(error_body(429, "busy")["error"]["param"].is_null());
  EXPECT_EQ(error_body(429, "busy")["error"]["type"], "rate_limit_error");
  EXPECT_EQ(error_body(401, "key")["error"]["type"], "authentication_error");
}

}  // namespace
}  // namespace duet::server
