// Byte-level BPE over raw bytes, shared by the tokenizer.json and tiktoken formats.
//
// Both formats reduce to the same model: every token is a byte string, each byte starts as its
// single-byte token, and the adjacent pair with the lowest merge rank is merged until no pair
// merges (ties: leftmost first, as in Hugging Face's heap and tiktoken's scan). tokenizer.json
// gives the ranks as its merge list; tiktoken ranks a pair by the rank of its concatenation,
// which the loader turns into the same pair table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pair_map.h"

namespace duet {

class PieceCache;

class BpeModel {
 public:
  BpeModel();
  ~BpeModel();

  // Token id -> raw bytes. Ids without a token hold "". Also indexes bytes -> id.
  void set_tokens(std::vector<std::string> token_bytes);
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged) {
    pairs_.insert(left, right, Merge{rank, merged});
  }
  // Looks a whole piece up as one token before merging (tiktoken; HF's ignore_merges).
  void set_whole_piece_lookup(bool on) { whole_piece_ = on; }
  // Id used for a byte with no single-byte token; -1 drops such bytes (HF BPE without unk).
  void set_unknown_id(int32_t id) { unk_id_ = id; }

  // Appends the ids of one pre-tokenized piece (raw bytes) to out.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  const std::string& bytes_of(int32_t id) const;
  // -1 when no token has exactly these bytes.
  int32_t id_of(std::string_view bytes) const;
  int32_t byte_id(uint8_t b) const { return byte_ids_[b]; }
  int32_t num_ids() const { return static_cast<int32_t>(tokens_.size()); }
  size_t num_merges() const { return pairs_.size(); }

 private:
  void merge_small(std::vector<int32_t>& syms) const;
  void merge_heap(std::vector<int32_t>& syms) const;
  void merge(std::string_view piece, std::vector<int32_t>& out) const;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> by_bytes_;
  int32_t byte_ids_[256];
  PairMap pairs_;
  bool whole_piece_ = false;
  int32_t unk_id_ = -1;
  std::unique_ptr<PieceCache> cache_;
};

}  // namespace duet
