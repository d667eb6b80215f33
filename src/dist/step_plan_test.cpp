#include "dist/step_plan.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"

namespace duet {
namespace {

DpRecord decode(int32_t tokens, int32_t split = -1) {
  DpRecord r;
  r.num_tokens = tokens;
  r.num_seqs = tokens;
  r.tbo_split = split < 0 ? (tokens + 1) / 2 : split;
  return r;
}

DpRecord prefill(int32_t tokens) {
  DpRecord r = decode(tokens);
  r.num_seqs = 1;
  r.has_prefill = 1;
  return r;
}

TboConfig tbo_on() {
  TboConfig c;
  c.enabled = true;
  return c;
}

// The structural invariants every plan must satisfy, checked against the records it came from.
void check_invariants(const std::vector<DpRecord>& recs, const StepPlan& p) {
  const size_t n = recs.size();
  ASSERT_EQ(p.counts.size(), static_cast<size_t>(p.num_micro_batches));
  ASSERT_EQ(p.padded.size(), p.counts.size());
  ASSERT_EQ(p.offsets.size(), p.counts.size());
  EXPECT_EQ(p.num_micro_batches, p.tbo ? 2 : 1);
  int64_t total = 0;
  for (const auto& r : recs) total += r.num_tokens;
  EXPECT_EQ(p.idle, total == 0);
  for (size_t r = 0; r < n; ++r) {
    int64_t sum = 0;
    for (int m = 0; m < p.num_micro_batches; ++m) sum += p.counts[m][r];
    EXPECT_EQ(sum, recs[r].num_tokens) << "rank " << r;  // counts sum to real tokens
  }
  for (int m = 0; m < p.num_micro_batches; ++m) {
    ASSERT_EQ(p.counts[m].size(), n);
    int64_t off = 0, mx = 0;
    for (size_t r = 0; r < n; ++r) mx = std::max(mx, p.counts[m][r]);
    for (size_t r = 0; r < n; ++r) {
      EXPECT_GE(p.padded[m][r], p.counts[m][r]);
      EXPECT_EQ(p.padded[m][r], p.gather == GatherMode::kPadded ? mx : p.counts[m][r]);
      EXPECT_EQ(p.offsets[m][r], off);
      off += p.padded[m][r];
    }
    EXPECT_EQ(p.gathered_rows(m), off);
  }
  if (p.tbo) {
    int64_t a = 0, b = 0;
    for (size_t r = 0; r < n; ++r) {
      EXPECT_EQ(p.counts[0][r], recs[r].tbo_split);
      a += p.counts[0][r];
      b += p.counts[1][r];
    }
    EXPECT_GT(a, 0);
    EXPECT_GT(b, 0);
  }
}

TEST(StepPlan, RandomRecordsGiveIdenticalPlansAndInvariantsHold) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 2000; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 8);
    std::vector<DpRecord> recs(n);
    for (auto& r : recs) {
      r.num_tokens = rng() % 4 == 0 ? 0 : static_cast<int32_t>(rng() % 700);
      r.num_seqs = r.num_tokens ? 1 + static_cast<int32_t>(rng() % 8) : 0;
      r.has_prefill = rng() % 3 == 0;
      r.tbo_split = r.num_tokens ? static_cast<int32_t>(rng() % (r.num_tokens + 1)) : 0;
      r.tbo_eligible = rng() % 10 != 0;
    }
    TboConfig cfg;
    cfg.enabled = rng() % 4 != 0;
    cfg.min_tokens_decode = static_cast<int32_t>(rng() % 64);
    cfg.min_tokens_prefill = static_cast<int32_t>(rng() % 600);
    const GatherMode mode = rng() % 2 ? GatherMode::kPadded : GatherMode::kVariable;
    // Every rank runs plan_step on its own copy of the gathered records.
    std::vector<StepPlan> plans;
    for (int r = 0; r < n; ++r) plans.push_back(plan_step(std::vector<DpRecord>(recs), cfg, mode));
    for (int r = 1; r < n; ++r) ASSERT_TRUE(plans[r] == plans[0]);
    check_invariants(recs, plans[0]);
  }
}

TEST(StepPlan, DecodeThresholdBoundaryIsOneGlobalDecision) {
  TboConfig cfg = tbo_on();
  cfg.min_tokens_decode = 32;
  // Ranks on both sides of the threshold: the max decides for everyone.
  StepPlan p = plan_step({decode(31), decode(32), decode(5)}, cfg, GatherMode::kVariable);
  EXPECT_TRUE(p.tbo);
  EXPECT_EQ(p.counts[0], (std::vector<int64_t>{16, 16, 3}));
  EXPECT_EQ(p.counts[1], (std::vector<int64_t>{15, 16, 2}));
  EXPECT_EQ(p.offsets[1], (std::vector<int64_t>{0, 15, 31}));
  // Everyone just below: off, micro-batch 0 holds everything.
  p = plan_step({decode(31), decode(31)}, cfg, GatherMode::kVariable);
  EXPECT_FALSE(p.tbo);
  EXPECT_EQ(p.counts, (std::vector<std::vector<int64_t>>{{31, 31}}));
}

TEST(StepPlan, PrefillAnywhereUsesThePrefillThreshold) {
  TboConfig cfg = tbo_on();
  cfg.min_tokens_prefill = 512;
  cfg.min_tokens_decode = 32;
  // 100 decode tokens would pass the decode threshold, but a prefill on another rank makes the
  // prefill threshold apply to the whole step.
  EXPECT_FALSE(plan_step({decode(100), prefill(40)}, cfg, GatherMode::kVariable).tbo);
  EXPECT_TRUE(plan_step({decode(100), prefill(512)}, cfg, GatherMode::kVariable).tbo);
  EXPECT_FALSE(plan_step({decode(100), prefill(511)}, cfg, GatherMode::kVariable).tbo);
}

TEST(StepPlan, OneIneligibleRankTurnsTboOffEverywhere) {
  DpRecord r1 = decode(64);
  r1.tbo_eligible = 0;
  EXPECT_FALSE(plan_step({decode(64), r1}, tbo_on(), GatherMode::kVariable).tbo);
  TboConfig off;
  EXPECT_FALSE(plan_step({decode(64), decode(64)}, off, GatherMode::kVariable).tbo);
}

TEST(StepPlan, EmptyMicroBatchEverywhereTurnsTboOff) {
  // All ranks would put everything in A: B is empty on every rank.
  EXPECT_FALSE(plan_step({decode(64, 64), decode(40, 40)}, tbo_on(), GatherMode::kVariable).tbo);
  // B non-empty on one rank only is enough: the other rank joins B's collectives with 0 rows.
  StepPlan p = plan_step({decode(64, 64), decode(40, 20)}, tbo_on(), GatherMode::kVariable);
  EXPECT_TRUE(p.tbo);
  EXPECT_EQ(p.counts[1], (std::vector<int64_t>{0, 20}));
}

TEST(StepPlan, IdleRanksJoinWithZeroRows) {
  StepPlan p = plan_step({decode(0), decode(64), decode(0)}, tbo_on(), GatherMode::kPadded);
  EXPECT_FALSE(p.idle);
  EXPECT_TRUE(p.tbo);
  EXPECT_EQ(p.counts[0], (std::vector<int64_t>{0, 32, 0}));
  EXPECT_EQ(p.padded[0], (std::vector<int64_t>{32, 32, 32}));
  EXPECT_EQ(p.offsets[0], (std::vector<int64_t>{0, 32, 64}));
  EXPECT_EQ(p.gathered_rows(0), 96);
  p = plan_step({decode(0), decode(7)}, {}, GatherMode::kVariable);
  EXPECT_EQ(p.counts, (std::vector<std::vector<int64_t>>{{0, 7}}));
  EXPECT_EQ(p.offsets, (std::vector<std::vector<int64_t>>{{0, 0}}));
  EXPECT_EQ(p.gathered_rows(0), 7);
}

TEST(StepPlan, AllIdleSkipsTheForward) {
  for (GatherMode mode : {GatherMode::kPadded, GatherMode::kVariable}) {
    StepPlan p = plan_step({decode(0), decode(0), decode(0)}, tbo_on(), mode);
    EXPECT_TRUE(p.idle);
    EXPECT_FALSE(p.tbo);
    EXPECT_EQ(p.gathered_rows(0), 0);
  }
}

TEST(StepPlan, MalformedRecordsThrow) {
  EXPECT_THROW(plan_step({}, {}, GatherMode::kVariable), Error);
  EXPECT_THROW(plan_step({decode(4, 5)}, {}, GatherMode::kVariable), Error);
  DpRecord neg;
  neg.num_tokens = -1;
  EXPECT_THROW(plan_step({neg}, {}, GatherMode::kVariable), Error);
}

}  // namespace
}  // namespace duet
