// Two-batch overlap: splitting one rank's ForwardBatch into micro-batches A and B. Pure
// functions over plain data, so the split is unit-tested apart from the model.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "model/forward_batch.h"

namespace duet {

// Where micro-batch A ends (a token index in [0, num_tokens]):
//   - decode-only batches split by sequences: A gets ceil(n/2) sequences (the extra one), so the
//     split is always a sequence boundary and no decode sequence is ever cut;
//   - batches with any prefill segment split by tokens at the most balanced point, floor(T/2),
//     cutting the one segment that straddles it. When T is odd and ceil(T/2) is a segment
//     boundary while floor(T/2) is not, the boundary is taken: equally balanced, no cut.
// Returns 0 for an empty batch.
int32_t choose_tbo_split(const ForwardBatch& batch);

// Splits at token index `split` (0..num_tokens): A = tokens [0, split), B = the rest. A segment
// cut at `split` becomes two segments: A's with the first part; B's with num_cached advanced by
// A's part (B reads A's KV as its prefix), same block_ids, same decode flag. logit_rows are
// re-based into the micro-batch that holds the row. logit_order maps each original logit row
// index to (micro-batch 0/1, index in that micro-batch's logit_rows). Throws duet::Error on a
// split outside [0, num_tokens] or a malformed batch (segment tokens not summing to num_tokens,
// logit rows out of range).
struct TboSplit {
  ForwardBatch a, b;
  std::vector<std::pair<int, int>> logit_order;
};
TboSplit split_batch(const ForwardBatch& batch, int32_t split);

}  // namespace duet
