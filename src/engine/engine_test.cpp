// The engine on the golden fixtures: batching, chunking, prefix caching and preemption never
// change a greedy token, seeded sampling does not depend on the batch, and every KV block comes
// back.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "common/error.h"

#include "golden/golden_fixture.h"

namespace duet {
namespace {

struct Result {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
  int32_t cached = 0;
};

const std::string kFixture = "tests/data/golden/v3-yarn";

std::unique_ptr<Engine> make_engine(int64_t budget = 2048, int64_t kv_tokens = 0,
                                    int64_t max_seqs = 64) {
  EngineOptions o;
  o.model_dir = kFixture;
  o.device = "cpu";
  o.threads = 2;
  o.max_num_batched_tokens = budget;
  o.kv_cache_tokens = kv_tokens;
  o.max_num_seqs = max_seqs;
  return Engine::create(o);
}

SamplingParams greedy(int32_t n) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = n;
  p.ignore_eos = true;
  return p;
}

// Runs the prompts together (all added before the first step).
std::vector<Result> run(Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                        const std::vector<SamplingParams>& params) {
  std::vector<Result> results(prompts.size());
  std::map<int64_t, size_t> index;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int64_t id = e.add_request(prompts[i], params[i], [&, i](const RequestOutput& o) {
      auto& r = results[i];
      r.tokens.insert(r.tokens.end(), o.token_ids.begin(), o.token_ids.end());
      if (o.finished) r.reason = o.finish_reason;
      r.cached = o.num_cached_tokens;
    });
    index[id] = i;
  }
  e.run_until_idle();
  return results;
}

class EngineGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    golden_ = testing::load_golden(kFixture);
    for (const auto& p : golden_.prompts) prompts_.push_back(p.ids);
  }
  // Compares with the HF greedy continuation up to the first near-tie.
  void expect_matches_hf(const std::vector<Result>& r) {
    for (size_t i = 0; i < prompts_.size(); ++i) {
      const auto& g = golden_.prompts[i];
      const float tol = 1e-3f * g.max_abs_logit();
      for (size_t s = 0; s < g.greedy.size() && g.margin[s] > tol; ++s)
        ASSERT_EQ(r[i].tokens[s], g.greedy[s]) << "prompt " << i << " step " << s;
    }
  }
  testing::GoldenFixture golden_;
  std::vector<std::vector<int32_t>> prompts_;
};

TEST_F(EngineGolden, BatchingAndChunkingNeverChangeGreedyTokens) {
  const int32_t n = static_cast<int32_t>(golden_.prompts[0].greedy.size());
  std::vector<SamplingParams> params(prompts_.size(), greedy(n));
  auto e = make_engine();
  std::vector<Result> alone;
  for (size_t i = 0; i < prompts_.size(); ++i)
    alone.push_back(run(*e, {prompts_[i]}, {params[i]})[0]);
  expect_matches_hf(alone);
  auto batched = run(*make_engine(), prompts_, params);
  auto chunked = run(*make_engine(/*budget=*/5), prompts_, params);
  for (size_t i = 0; i < prompts_.size(); ++i) {
    EXPECT_EQ(batched[i].tokens, alone[i].tokens) << "prompt " << i;
    EXPECT_EQ(chunked[i].tokens, alone[i].tokens) << "prompt " << i;
    EXPECT_EQ(alone[i].reason, FinishReason::kLength);
  }
}

TEST_F(EngineGolden, RepeatedPrefixIsServedFromTheCache) {
  auto e = make_engine();
  const auto& prompt = prompts_[3];  // 100 tokens: one full block can be shared
  auto first = run(*e, {prompt}, {greedy(8)});
  auto second = run(*e, {prompt}, {greedy(8)});
  EXPECT_EQ(first[0].cached, 0);
  EXPECT_EQ(second[0].cached, 64);
  EXPECT_EQ(second[0].tokens, first[0].tokens);
  EXPECT_EQ(e->stats().prefix_cache_hits, 64);
  EXPECT_EQ(e->stats().kv_blocks_free, e->stats().kv_blocks_total);
}

TEST_F(EngineGolden, PreemptionLosesNothing) {
  std::vector<std::vector<int32_t>> prompts;
  for (int r = 0; r < 3; ++r)
    for (const auto& p : prompts_) prompts.push_back(p);
  std::vector<SamplingParams> params(prompts.size(), greedy(40));
  auto reference = run(*make_engine(), prompts, params);
  auto e = make_engine(2048, /*kv_tokens=*/5 * 64);
  auto tight = run(*e, prompts, params);
  EXPECT_GT(e->stats().preemptions, 0);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(tight[i].tokens, reference[i].tokens) << "request " << i;
    EXPECT_EQ(tight[i].reason, FinishReason::kLength);
  }
  EXPECT_EQ(e->stats().kv_blocks_free, e->stats().kv_blocks_total);
}

TEST_F(EngineGolden, SeededSamplingIgnoresBatchComposition) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.seed = 1234;
  p.max_tokens = 12;
  p.ignore_eos = true;
  auto alone = run(*make_engine(), {prompts_[2]}, {p});
  SamplingParams other = p;
  other.seed = 99;
  auto batched = run(*make_engine(), {prompts_[0], prompts_[2], prompts_[3]}, {other, p, other});
  EXPECT_EQ(batched[1].tokens, alone[0].tokens);
}

TEST_F(EngineGolden, AbortReturnsBlocksAndReportsAbort) {
  auto e = make_engine();
  FinishReason reason = FinishReason::kNone;
  int outputs = 0;
  const int64_t id = e->add_request(prompts_[3], greedy(1000), [&](const RequestOutput& o) {
    ++outputs;
    if (o.finished) reason = o.finish_reason;
  });
  for (int i = 0; i < 3; ++i) e->step();
  EXPECT_LT(e->stats().kv_blocks_free, e->stats().kv_blocks_total);
  e->abort(id);
  e->run_until_idle();
  EXPECT_EQ(reason, FinishReason::kAbort);
  EXPECT_EQ(e->stats().kv_blocks_free, e->stats().kv_blocks_total);
  EXPECT_EQ(e->stats().running + e->stats().waiting, 0);
}

TEST_F(EngineGolden, RejectsRequestsThatCanNeverRun) {
  auto e = make_engine(2048, 64);
  EXPECT_THROW(e->add_request({}, greedy(1), nullptr), Error);
  EXPECT_THROW(e->add_request(std::vector<int32_t>(600, 5), greedy(1), nullptr), Error);
  EXPECT_THROW(e->add_request({100000}, greedy(1), nullptr), Error);
  EXPECT_THROW(e->add_request(std::vector<int32_t>(100, 5), greedy(1), nullptr), Error);  // > pool
  SamplingParams bad = greedy(1);
  bad.top_p = 2;
  EXPECT_THROW(e->add_request({5}, bad, nullptr), Error);
}

}  // namespace
}  // namespace duet
