#include "kvcache/block_pool.h"

#include <xxhash.h>

#include "backend/op_params.h"
#include "common/error.h"

namespace duet {

BlockPool::BlockPool(int64_t num_blocks, bool enable_prefix_caching)
    : prefix_caching_(enable_prefix_caching),
      ref_(num_blocks, 0),
      hash_of_(num_blocks, 0),
      evict_pos_(num_blocks),
      in_evictable_(num_blocks, false) {
  // LIFO free list handing out low ids first (easier to read in tests and dumps).
  free_.reserve(num_blocks);
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

std::vector<int32_t> BlockPool::match_prefix(const std::vector<uint64_t>& hashes) const {
  std::vector<int32_t> out;
  if (!prefix_caching_) return out;
  for (uint64_t h : hashes) {
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    out.push_back(it->second);
  }
  return out;
}

int32_t BlockPool::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!evictable_.empty()) {
    b = evictable_.front();
    evictable_.pop_front();
    in_evictable_[b] = false;
    forget_hash(b);
  } else {
    return -1;
  }
  DUET_CHECK(ref_[b] == 0, "allocated block ", b, " still referenced");
  ref_[b] = 1;
  return b;
}

void BlockPool::acquire(int32_t b) {
  if (ref_[b] == 0) {
    DUET_CHECK(in_evictable_[b], "acquiring block ", b, " that is neither used nor cached");
    evictable_.erase(evict_pos_[b]);
    in_evictable_[b] = false;
  }
  ++ref_[b];
}

void BlockPool::release(int32_t b) {
  DUET_CHECK(ref_[b] > 0, "releasing block ", b, " with no reference");
  if (--ref_[b] > 0) return;
  if (hash_of_[b] != 0) {
    evictable_.push_back(b);
    evict_pos_[b] = std::prev(evictable_.end());
    in_evictable_[b] = true;
  } else {
    free_.push_back(b);
  }
}

void BlockPool::publish(int32_t b, uint64_t hash) {
  if (!prefix_caching_ || hash_of_[b] != 0) return;
  DUET_CHECK(hash != 0 && ref_[b] > 0, "publishing block ", b);
  if (by_hash_.count(hash)) return;
  by_hash_[hash] = b;
  hash_of_[b] = hash;
}

void BlockPool::forget_hash(int32_t b) {
  if (hash_of_[b] == 0) return;
  auto it = by_hash_.find(hash_of_[b]);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  hash_of_[b] = 0;
}

std::vector<uint64_t> block_hashes(const std::vector<int32_t>& tokens, int64_t num_full_blocks,
                                   const std::vector<uint64_t>& known) {
  std::vector<uint64_t> out(known.begin(),
                            known.begin() + std::min<int64_t>(known.size(), num_full_blocks));
  uint64_t parent = out.empty() ? 0x9e3779b97f4a7c15ull : out.back();
  for (int64_t i = static_cast<int64_t>(out.size()); i < num_full_blocks; ++i) {
    // Seeding with the parent's hash chains the blocks: equal hashes mean equal prefixes.
    uint64_t h = XXH64(tokens.data() + i * kKvBlockSize, kKvBlockSize * sizeof(int32_t), parent);
    if (h == 0) h = 1;
    out.push_back(h);
    parent = h;
  }
  return out;
}

}  // namespace duet
