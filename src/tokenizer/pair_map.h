// Open-addressing hash map from an adjacent token pair to its merge (rank, merged id). BPE does
// one lookup per candidate pair, so this sits on the hottest path of encoding; a flat table with
// linear probing keeps each lookup to one or two cache lines (std::unordered_map chases nodes).
#pragma once

#include <cstdint>
#include <vector>

namespace duet {

struct Merge {
  int32_t rank;
  int32_t id;
};

class PairMap {
 public:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  // Keeps the first value inserted for a key (the lowest rank, when inserted in rank order).
  void insert(int32_t left, int32_t right, Merge m) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t k = key(left, right);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = {k, m};
        ++size_;
        return;
      }
      if (slots_[i].key == k) return;
    }
  }

  const Merge* find(int32_t left, int32_t right) const {
    if (size_ == 0) return nullptr;
    const uint64_t k = key(left, right);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return &slots_[i].merge;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;  // ids are non-negative, so (-1,-1) never occurs
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };

  size_t slot(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const size_t cap = old.empty() ? 1024 : old.size() * 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 64 - __builtin_ctzll(cap);
    size_ = 0;
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.merge);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

}  // namespace duet
