#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>

namespace duet {
namespace {

std::unique_ptr<Sequence> make_seq(int64_t id, int32_t len, int32_t first_token = 0) {
  auto s = std::make_unique<Sequence>();
  s->id = id;
  s->tokens.resize(len);
  std::iota(s->tokens.begin(), s->tokens.end(), first_token);
  s->num_prompt_tokens = len;
  return s;
}

// Runs one step: every sampled sequence gets one more token.
void finish_step(Scheduler& sched, const ScheduledBatch& b) {
  sched.on_step_done(b);
  for (const auto& s : b.seqs)
    if (s.samples) s.seq->tokens.push_back(7);
}

TEST(Scheduler, ChunksPrefillUnderTheTokenBudget) {
  BlockPool pool(16, true);
  Scheduler sched({8, 50}, pool);
  auto a = make_seq(1, 120);
  sched.add(a.get());
  auto b1 = sched.schedule();
  ASSERT_EQ(b1.seqs.size(), 1u);
  EXPECT_EQ(b1.seqs[0].num_new_tokens, 50);
  EXPECT_FALSE(b1.seqs[0].samples);
  finish_step(sched, b1);
  auto b2 = sched.schedule();
  EXPECT_EQ(b2.seqs[0].num_new_tokens, 50);
  finish_step(sched, b2);
  auto b3 = sched.schedule();
  EXPECT_EQ(b3.seqs[0].num_new_tokens, 20);
  EXPECT_TRUE(b3.seqs[0].samples);
  finish_step(sched, b3);
  auto b4 = sched.schedule();  // decode
  EXPECT_EQ(b4.seqs[0].num_new_tokens, 1);
  EXPECT_EQ(a->blocks.size(), 2u);
}

TEST(Scheduler, PrefixCacheServesRepeatedPrompts) {
  BlockPool pool(16, true);
  Scheduler sched({8, 1000}, pool);
  auto a = make_seq(1, 150);
  sched.add(a.get());
  auto b = sched.schedule();
  finish_step(sched, b);
  sched.remove(a.get());
  auto c = make_seq(2, 150);
  sched.add(c.get());
  auto b2 = sched.schedule();
  // Two full blocks (128 tokens) come from the cache; 22 are computed.
  EXPECT_EQ(c->num_cached_prompt, 128);
  EXPECT_EQ(b2.seqs[0].num_new_tokens, 22);
  EXPECT_EQ(sched.prefix_hit_tokens(), 128);
}

TEST(Scheduler, FullPromptHitStillComputesTheLastToken) {
  BlockPool pool(16, true);
  Scheduler sched({8, 1000}, pool);
  auto a = make_seq(1, 128);
  sched.add(a.get());
  finish_step(sched, sched.schedule());
  auto c = make_seq(2, 128);
  sched.add(c.get());
  auto b = sched.schedule();
  // Block 1 holds the last token, so only block 0 may be shared.
  EXPECT_EQ(c->num_cached_prompt, 64);
  ASSERT_EQ(b.seqs.size(), 2u);
  EXPECT_EQ(b.seqs[1].num_new_tokens, 64);
}

TEST(Scheduler, PreemptsNewestWhenBlocksRunOutAndKeepsFcfs) {
  BlockPool pool(3, false);
  Scheduler sched({8, 1000}, pool);
  auto a = make_seq(1, 64), b = make_seq(2, 64), c = make_seq(3, 10);
  sched.add(a.get());
  sched.add(b.get());
  sched.add(c.get());
  auto s1 = sched.schedule();
  ASSERT_EQ(s1.seqs.size(), 3u);  // 1 + 1 + 1 blocks
  finish_step(sched, s1);
  // a and b need a second block each: c (newest) is preempted, then b.
  auto s2 = sched.schedule();
  EXPECT_EQ(s2.preempted.size(), 2u);
  EXPECT_EQ(s2.preempted[0], c.get());
  EXPECT_EQ(s2.preempted[1], b.get());
  EXPECT_EQ(pool.num_free(), 1);
  sched.remove(a.get());
  // b comes back before c, and recomputes its prompt plus its generated token.
  auto s3 = sched.schedule();
  ASSERT_GE(s3.seqs.size(), 1u);
  EXPECT_EQ(s3.seqs[0].seq, b.get());
  EXPECT_EQ(s3.seqs[0].num_new_tokens, 65);
}

TEST(Scheduler, RemoveReturnsEveryBlock) {
  BlockPool pool(8, true);
  Scheduler sched({8, 1000}, pool);
  auto a = make_seq(1, 200), b = make_seq(2, 200, 1);
  sched.add(a.get());
  sched.add(b.get());
  finish_step(sched, sched.schedule());
  sched.remove(a.get());
  sched.remove(b.get());
  EXPECT_EQ(pool.num_free(), 8);
  EXPECT_EQ(sched.num_running(), 0);
}

TEST(Scheduler, CountsAdmittablePrefills) {
  BlockPool pool(4, false);
  Scheduler sched({8, 1000}, pool);
  auto a = make_seq(1, 100), b = make_seq(2, 100), c = make_seq(3, 100);
  sched.add(a.get());
  sched.add(b.get());
  sched.add(c.get());
  EXPECT_EQ(sched.count_admittable_prefills(), 2);  // 2 blocks each, 4 free
  EXPECT_TRUE(sched.fits_pool(256));
  EXPECT_FALSE(sched.fits_pool(257));
}

}  // namespace
}  // namespace duet
