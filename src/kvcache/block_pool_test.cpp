#include "kvcache/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>

namespace duet {
namespace {

TEST(BlockPool, AllocatesUntilEmptyAndReturnsBlocks) {
  BlockPool pool(3, true);
  EXPECT_EQ(pool.num_free(), 3);
  int32_t a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_EQ(pool.num_free(), 0);
  pool.release(b);
  EXPECT_EQ(pool.num_free(), 1);
  EXPECT_EQ(pool.allocate(), b);
  pool.release(a);
  pool.release(b);
  pool.release(c);
  EXPECT_EQ(pool.num_free(), 3);
}

TEST(BlockPool, PublishedBlocksAreReusedThenEvictedLru) {
  BlockPool pool(2, true);
  std::vector<int32_t> tokens(128);
  std::iota(tokens.begin(), tokens.end(), 0);
  auto hashes = block_hashes(tokens, 2);
  int32_t a = pool.allocate(), b = pool.allocate();
  pool.publish(a, hashes[0]);
  pool.publish(b, hashes[1]);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.num_free(), 2);  // cached but unused counts as free
  EXPECT_EQ(pool.match_prefix(hashes), (std::vector<int32_t>{a, b}));
  pool.acquire(a);
  EXPECT_EQ(pool.ref_count(a), 1);
  EXPECT_EQ(pool.num_free(), 1);
  // A fresh allocation must evict b (the only unreferenced block).
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_EQ(pool.match_prefix(hashes), (std::vector<int32_t>{a}));
}

TEST(BlockPool, HashesChainOverThePrefix) {
  std::vector<int32_t> x(128, 7), y(128, 7);
  y[3] = 8;  // differs in block 0 only
  auto hx = block_hashes(x, 2), hy = block_hashes(y, 2);
  EXPECT_NE(hx[0], hy[0]);
  EXPECT_NE(hx[1], hy[1]);  // block 1 has equal tokens but a different prefix
  EXPECT_EQ(block_hashes(x, 2, {hx[0]}), hx);
}

TEST(BlockPool, DisabledPrefixCachingNeverMatches) {
  BlockPool pool(1, false);
  std::vector<int32_t> t(64, 1);
  auto h = block_hashes(t, 1);
  int32_t a = pool.allocate();
  pool.publish(a, h[0]);
  pool.release(a);
  EXPECT_TRUE(pool.match_prefix(h).empty());
}

}  // namespace
}  // namespace duet
