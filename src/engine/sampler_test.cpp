#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common/error.h"

namespace duet {
namespace {

TEST(Sampler, GreedyTakesLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 1);
  std::vector<float> logits = {1.0f, 3.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits.data(), 4, nullptr), 1);
}

TEST(Sampler, SeededStreamsRepeat) {
  SamplingParams p;
  p.temperature = 1.0f;
  std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.0f, -1.0f};
  Sampler a(p, 42), b(p, 42), c(p, 43);
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.sample(logits.data(), 6, nullptr));
    tb.push_back(b.sample(logits.data(), 6, nullptr));
    tc.push_back(c.sample(logits.data(), 6, nullptr));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKTopPMinPRestrictTheSupport) {
  std::vector<float> logits = {5.0f, 4.0f, 1.0f, 0.0f, -3.0f};
  auto support = [&](SamplingParams p) {
    Sampler s(p, 7);
    std::map<int32_t, int> seen;
    for (int i = 0; i < 400; ++i) ++seen[s.sample(logits.data(), 5, nullptr)];
    return seen;
  };
  SamplingParams k2;
  k2.top_k = 2;
  for (auto [t, n] : support(k2)) EXPECT_LT(t, 2);
  SamplingParams tp;
  tp.top_p = 0.5f;  // token 0 alone has p = 0.71
  EXPECT_EQ(support(tp).size(), 1u);
  SamplingParams mp;
  mp.min_p = 0.2f;  // p1/p0 = e^-1 = 0.37 stays, p2/p0 = e^-4 goes
  for (auto [t, n] : support(mp)) EXPECT_LT(t, 2);
}

TEST(Sampler, PenaltiesChangeTheChoice) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  Sampler s(p, 1);
  s.observe_prompt({0});
  std::vector<float> logits = {3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits.data(), 2, nullptr), 1);  // 3/2 < 2
  SamplingParams f;
  f.temperature = 0;
  f.frequency_penalty = 1.5f;
  Sampler g(f, 1);
  std::vector<float> l2 = {3.0f, 2.0f};
  EXPECT_EQ(g.sample(l2.data(), 2, nullptr), 0);
  EXPECT_EQ(g.sample(l2.data(), 2, nullptr), 1);  // 3 - 1.5 < 2
}

TEST(Sampler, LogprobsAreNormalised) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 2;
  Sampler s(p, 1);
  std::vector<float> logits = {1.0f, 2.0f, 0.5f};
  TokenLogprob lp;
  EXPECT_EQ(s.sample(logits.data(), 3, &lp), 1);
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.5));
  EXPECT_NEAR(lp.logprob, 2.0 - z, 1e-6);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 0);
}

TEST(SamplingParams, ValidatesRanges) {
  SamplingParams p;
  p.top_p = 0;
  EXPECT_THROW(p.validate(10), Error);
  p = {};
  p.max_tokens = 0;
  EXPECT_THROW(p.validate(10), Error);
  p = {};
  p.stop_token_ids = {10};
  EXPECT_THROW(p.validate(10), Error);
  p = {};
  EXPECT_NO_THROW(p.validate(10));
}

}  // namespace
}  // namespace duet
