#include "dist/tbo_split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/error.h"

namespace duet {
namespace {

// One flattened token: what a micro-batch must preserve for it.
struct TokenView {
  int32_t id, position;
  bool decode;
  std::vector<int32_t> blocks;
  bool operator==(const TokenView&) const = default;
};

std::vector<TokenView> flatten(const ForwardBatch& b) {
  std::vector<TokenView> out;
  size_t k = 0;
  for (const auto& s : b.seqs)
    for (int32_t i = 0; i < s.num_new_tokens; ++i, ++k)
      out.push_back({b.token_ids.at(k), s.num_cached + i, s.decode, s.block_ids});
  return out;
}

ForwardBatch make_batch(const std::vector<int32_t>& lens, bool decode = false) {
  ForwardBatch b;
  int32_t row = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    SeqInBatch s;
    s.num_new_tokens = lens[i];
    s.num_cached = decode ? 100 + static_cast<int32_t>(i) : 0;
    s.decode = decode;
    s.block_ids = {static_cast<int32_t>(i) * 10, static_cast<int32_t>(i) * 10 + 1};
    b.seqs.push_back(s);
    for (int32_t t = 0; t < lens[i]; ++t) b.token_ids.push_back(row++);
    if (lens[i] > 0) b.logit_rows.push_back(row - 1);
  }
  return b;
}

ForwardBatch random_batch(std::mt19937& rng, bool decode_only) {
  ForwardBatch b;
  const int n = static_cast<int>(rng() % 9);
  for (int i = 0; i < n; ++i) {
    SeqInBatch s;
    s.decode = decode_only || rng() % 2 == 0;
    s.num_new_tokens = s.decode ? 1 + static_cast<int32_t>(rng() % 2 == 0 ? 0 : rng() % 3)
                                : 1 + static_cast<int32_t>(rng() % 300);
    s.num_cached = static_cast<int32_t>(rng() % 500);
    const int nblocks = (s.num_cached + s.num_new_tokens + 63) / 64;
    for (int k = 0; k < nblocks; ++k) s.block_ids.push_back(static_cast<int32_t>(rng() % 10000));
    for (int32_t t = 0; t < s.num_new_tokens; ++t)
      b.token_ids.push_back(static_cast<int32_t>(rng() % 50000));
    b.seqs.push_back(std::move(s));
  }
  // Logit rows: the last token of each segment (in a shuffled output order) plus a few others.
  int32_t end = 0;
  for (const auto& s : b.seqs) {
    end += s.num_new_tokens;
    b.logit_rows.push_back(end - 1);
  }
  for (int k = 0; k < 3 && end > 0; ++k) b.logit_rows.push_back(static_cast<int32_t>(rng() % end));
  std::shuffle(b.logit_rows.begin(), b.logit_rows.end(), rng);
  return b;
}

void check_split(const ForwardBatch& batch, int32_t split, const TboSplit& s) {
  const auto all = flatten(batch);
  auto a = flatten(s.a), b = flatten(s.b);
  // A and B partition the tokens exactly and in order, each keeping its position and blocks.
  ASSERT_EQ(static_cast<int64_t>(a.size()), split);
  ASSERT_EQ(s.a.num_tokens(), split);
  ASSERT_EQ(s.b.num_tokens(), batch.num_tokens() - split);
  a.insert(a.end(), b.begin(), b.end());
  ASSERT_EQ(a, all);
  // At most one segment is cut; if so, the halves are continuous and share blocks and mode.
  const size_t extra = s.a.seqs.size() + s.b.seqs.size() - batch.seqs.size();
  ASSERT_LE(extra, 1u);
  if (extra == 1) {
    const SeqInBatch& x = s.a.seqs.back();
    const SeqInBatch& y = s.b.seqs.front();
    EXPECT_GT(x.num_new_tokens, 0);
    EXPECT_GT(y.num_new_tokens, 0);
    EXPECT_EQ(y.num_cached, x.num_cached + x.num_new_tokens);
    EXPECT_EQ(y.block_ids, x.block_ids);
    EXPECT_EQ(y.decode, x.decode);
  }
  // Logit rows map back to the same token.
  ASSERT_EQ(s.logit_order.size(), batch.logit_rows.size());
  EXPECT_EQ(s.a.logit_rows.size() + s.b.logit_rows.size(), batch.logit_rows.size());
  for (size_t i = 0; i < batch.logit_rows.size(); ++i) {
    const auto [m, j] = s.logit_order[i];
    const ForwardBatch& mb = m == 0 ? s.a : s.b;
    ASSERT_LT(static_cast<size_t>(j), mb.logit_rows.size());
    const int32_t row = mb.logit_rows[j];
    ASSERT_GE(row, 0);
    ASSERT_LT(row, mb.num_tokens());
    EXPECT_EQ(row + (m == 0 ? 0 : split), batch.logit_rows[i]);
  }
}

std::vector<int32_t> boundaries(const ForwardBatch& b) {
  std::vector<int32_t> out = {0};
  for (const auto& s : b.seqs) out.push_back(out.back() + s.num_new_tokens);
  return out;
}

TEST(TboSplit, RandomBatchesPartitionExactly) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 3000; ++iter) {
    const ForwardBatch batch = random_batch(rng, iter % 3 == 0);
    const int32_t total = static_cast<int32_t>(batch.num_tokens());
    const int32_t split = static_cast<int32_t>(rng() % (total + 1));
    check_split(batch, split, split_batch(batch, split));
    const int32_t chosen = choose_tbo_split(batch);
    check_split(batch, chosen, split_batch(batch, chosen));
  }
}

TEST(TboSplit, DecodeOnlySplitsBySequencesAtABoundary) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 500; ++iter) {
    const ForwardBatch batch = random_batch(rng, true);
    const int32_t split = choose_tbo_split(batch);
    const auto bounds = boundaries(batch);
    const size_t a_seqs = (batch.seqs.size() + 1) / 2;
    EXPECT_EQ(split, bounds[a_seqs]);
    const TboSplit s = split_batch(batch, split);
    EXPECT_EQ(s.a.seqs.size(), a_seqs);
    EXPECT_EQ(s.b.seqs.size(), batch.seqs.size() - a_seqs);
  }
  EXPECT_EQ(choose_tbo_split(make_batch(std::vector<int32_t>(100, 1), true)), 50);
  EXPECT_EQ(choose_tbo_split(make_batch(std::vector<int32_t>(99, 1), true)), 50);
  EXPECT_EQ(choose_tbo_split(make_batch({1}, true)), 1);
}

TEST(TboSplit, PrefillSplitIsTheMostBalancedPoint) {
  std::mt19937 rng(9);
  for (int iter = 0; iter < 2000; ++iter) {
    ForwardBatch batch = random_batch(rng, false);
    bool any_prefill = false;
    for (const auto& s : batch.seqs) any_prefill = any_prefill || !s.decode;
    if (!any_prefill) continue;
    const int32_t total = static_cast<int32_t>(batch.num_tokens());
    const int32_t split = choose_tbo_split(batch);
    int best = total;
    for (int32_t k = 0; k <= total; ++k) best = std::min(best, std::abs(total - 2 * k));
    EXPECT_EQ(std::abs(total - 2 * split), best);
    // Among equally balanced points, a segment boundary (no cut) is preferred.
    const auto bounds = boundaries(batch);
    auto is_boundary = [&](int32_t k) {
      return std::find(bounds.begin(), bounds.end(), k) != bounds.end();
    };
    if (is_boundary(total - split)) {
      EXPECT_TRUE(is_boundary(split));
    }
  }
}

// Token split points from SGLang's two-batch-overlap tests where they are the balanced point.
TEST(TboSplit, GoldenPrefillSplits) {
  EXPECT_EQ(choose_tbo_split(make_batch({})), 0);
  EXPECT_EQ(choose_tbo_split(make_batch({42})), 21);
  EXPECT_EQ(choose_tbo_split(make_batch({42, 999})), 520);
  EXPECT_EQ(choose_tbo_split(make_batch({999, 42})), 520);
  EXPECT_EQ(choose_tbo_split(make_batch({498, 502})), 500);
  EXPECT_EQ(choose_tbo_split(make_batch({4096, 4096, 4096, 4096})), 8192);
  EXPECT_EQ(choose_tbo_split(make_batch({1, 1, 1, 1, 99999})), 50001);
  EXPECT_EQ(choose_tbo_split(make_batch({2, 3})), 2);  // T=5: boundary at 2 beats cutting
  EXPECT_EQ(choose_tbo_split(make_batch({3, 2})), 3);  // ceil(5/2) is a boundary: taken
}

TEST(TboSplit, CutRequestReadsItsFirstHalfAsPrefix) {
  ForwardBatch batch = make_batch({4, 10});
  batch.seqs[1].num_cached = 64;
  const TboSplit s = split_batch(batch, 7);
  ASSERT_EQ(s.a.seqs.size(), 2u);
  ASSERT_EQ(s.b.seqs.size(), 1u);
  EXPECT_EQ(s.a.seqs[1].num_new_tokens, 3);
  EXPECT_EQ(s.a.seqs[1].num_cached, 64);
  EXPECT_EQ(s.b.seqs[0].num_new_tokens, 7);
  EXPECT_EQ(s.b.seqs[0].num_cached, 67);
  EXPECT_EQ(s.b.seqs[0].block_ids, batch.seqs[1].block_ids);
  // Logit rows 3 and 13 (last tokens): row 3 stays in A, row 13 is B's row 6.
  EXPECT_EQ(s.a.logit_rows, (std::vector<int32_t>{3}));
  EXPECT_EQ(s.b.logit_rows, (std::vector<int32_t>{6}));
  EXPECT_EQ(s.logit_order, (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}}));
}

TEST(TboSplit, SplitAtTheEndsLeavesOneMicroBatchEmpty) {
  const ForwardBatch batch = make_batch({5, 3});
  TboSplit s = split_batch(batch, 0);
  EXPECT_EQ(s.a.num_tokens(), 0);
  EXPECT_TRUE(s.a.seqs.empty());
  EXPECT_EQ(s.b.seqs.size(), 2u);
  check_split(batch, 0, s);
  s = split_batch(batch, 8);
  EXPECT_TRUE(s.b.seqs.empty());
  EXPECT_TRUE(s.b.logit_rows.empty());
  check_split(batch, 8, s);
  const TboSplit e = split_batch(ForwardBatch{}, 0);
  EXPECT_EQ(e.a.num_tokens() + e.b.num_tokens(), 0);
  EXPECT_TRUE(e.logit_order.empty());
}

TEST(TboSplit, RejectsBadSplitsAndMalformedBatches) {
  const ForwardBatch batch = make_batch({5, 3});
  EXPECT_THROW(split_batch(batch, -1), Error);
  EXPECT_THROW(split_batch(batch, 9), Error);
  ForwardBatch bad = batch;
  bad.token_ids.pop_back();
  EXPECT_THROW(split_batch(bad, 2), Error);
  EXPECT_THROW(choose_tbo_split(bad), Error);
  bad = batch;
  bad.logit_rows.push_back(8);
  EXPECT_THROW(split_batch(bad, 2), Error);
}

}  // namespace
}  // namespace duet
