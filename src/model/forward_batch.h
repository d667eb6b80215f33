// ForwardBatch: the plain data one model step consumes, built by the engine from its scheduled
// sequences. Tokens of one sequence are contiguous and in position order.
#pragma once

#include <cstdint>
#include <vector>

namespace duet {

struct SeqInBatch {
  int32_t num_new_tokens = 0;  // tokens of this sequence in the batch
  int32_t num_cached = 0;      // tokens already in the cache before this step (= first position)
  bool decode = false;         // absorbed form (decode step) vs expanded form (prefill chunk)
  std::vector<int32_t> block_ids;  // cache blocks holding positions 0.. (64 tokens each)
};

struct ForwardBatch {
  std::vector<int32_t> token_ids;  // [T]
  std::vector<SeqInBatch> seqs;
  std::vector<int32_t> logit_rows;  // token rows whose logits are wanted, in output order

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace duet
