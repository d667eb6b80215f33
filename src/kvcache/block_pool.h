// BlockPool: the control plane of the paged latent cache. Blocks of 64 token slots carry a
// reference count; a full block whose KV has been computed can be published under the chained
// hash of its tokens, so a later sequence with the same prefix reuses it instead of
// recomputing. Published blocks that no sequence uses stay cached but count as free, and are
// evicted least-recently-used when a fresh block is needed.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace duet {

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, bool enable_prefix_caching);

  int64_t num_blocks() const { return static_cast<int64_t>(ref_.size()); }
  // Blocks obtainable by allocate(): never-used ones plus cached blocks nobody references.
  int64_t num_free() const { return static_cast<int64_t>(free_.size() + evictable_.size()); }
  bool prefix_caching() const { return prefix_caching_; }

  // The longest run of published blocks matching `hashes` from the start (block ids, in order).
  std::vector<int32_t> match_prefix(const std::vector<uint64_t>& hashes) const;

  // Takes a block with ref count 1, evicting the least recently used cached block when no
  // never-used block is left. Returns -1 when every block is referenced.
  int32_t allocate();
  // Adds a reference to a block found by match_prefix (it leaves the eviction list).
  void acquire(int32_t block);
  // Drops a reference; at zero a published block becomes evictable, any other block free.
  void release(int32_t block);
  // Publishes a full block whose KV is computed under `hash`. If another block already holds
  // that hash, the pool keeps the older one and this block stays private.
  void publish(int32_t block, uint64_t hash);

  int32_t ref_count(int32_t block) const { return ref_[block]; }
  bool is_published(int32_t block) const { return hash_of_[block] != 0; }

 private:
  void forget_hash(int32_t block);

  bool prefix_caching_;
  std::vector<int32_t> ref_;
  std::vector<uint64_t> hash_of_;  // 0: not published
  std::vector<int32_t> free_;      // never-used or un-published blocks, LIFO
  std::list<int32_t> evictable_;   // published, unreferenced; front = least recently used
  std::vector<std::list<int32_t>::iterator> evict_pos_;
  std::vector<bool> in_evictable_;
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

// Chained hashes of the full 64-token blocks of `tokens`: hash i covers tokens [0, 64 (i+1)).
// Never 0 (0 marks "not published").
std::vector<uint64_t> block_hashes(const std::vector<int32_t>& tokens, int64_t num_full_blocks,
                                   const std::vector<uint64_t>& known = {});

}  // namespace duet
