#include "dist/tbo_split.h"

#include "common/error.h"

namespace duet {

namespace {

int64_t segment_tokens(const ForwardBatch& batch) {
  int64_t sum = 0;
  for (const auto& s : batch.seqs) {
    if (s.num_new_tokens < 0) fail("TBO split: segment with ", s.num_new_tokens, " tokens");
    sum += s.num_new_tokens;
  }
  if (sum != batch.num_tokens()) {
    fail("TBO split: segments hold ", sum, " tokens but the batch has ", batch.num_tokens());
  }
  return sum;
}

}  // namespace

int32_t choose_tbo_split(const ForwardBatch& batch) {
  const int64_t total = segment_tokens(batch);
  if (total == 0) return 0;
  bool any_prefill = false;
  for (const auto& s : batch.seqs) any_prefill = any_prefill || !s.decode;

  if (!any_prefill) {
    // Sequence split: decode attention cost follows sequences, and a sequence boundary needs no
    // prefix surgery.
    const size_t a_seqs = (batch.seqs.size() + 1) / 2;
    int64_t split = 0;
    for (size_t i = 0; i < a_seqs; ++i) split += batch.seqs[i].num_new_tokens;
    return static_cast<int32_t>(split);
  }

  // Token split: MoE and GEMM cost follows tokens; a cut inside a prompt is cheap (B attends to
  // A's part as cached prefix), while a boundary split can leave large imbalance.
  const int64_t lo = total / 2, hi = (total + 1) / 2;
  bool lo_boundary = false, hi_boundary = false;
  int64_t pos = 0;
  for (const auto& s : batch.seqs) {
    lo_boundary = lo_boundary || pos == lo;
    hi_boundary = hi_boundary || pos == hi;
    pos += s.num_new_tokens;
  }
  lo_boundary = lo_boundary || pos == lo;
  hi_boundary = hi_boundary || pos == hi;
  return static_cast<int32_t>(!lo_boundary && hi_boundary ? hi : lo);
}

TboSplit split_batch(const ForwardBatch& batch, int32_t split) {
  const int64_t total = segment_tokens(batch);
  if (split < 0 || split > total) fail("TBO split ", split, " outside [0, ", total, "]");

  TboSplit out;
  out.a.token_ids.assign(batch.token_ids.begin(), batch.token_ids.begin() + split);
  out.b.token_ids.assign(batch.token_ids.begin() + split, batch.token_ids.end());
  int64_t start = 0;
  for (const auto& s : batch.seqs) {
    const int64_t end = start + s.num_new_tokens;
    if (end <= split) {
      out.a.seqs.push_back(s);
    } else if (start >= split) {
      out.b.seqs.push_back(s);
    } else {
      // The straddling segment: positions stay continuous across the cut, and B's part reads
      // A's part from the same cache blocks (A writes them earlier in the same layer).
      const int32_t first = static_cast<int32_t>(split - start);
      SeqInBatch a = s, b = s;
      a.num_new_tokens = first;
      b.num_new_tokens = s.num_new_tokens - first;
      b.num_cached = s.num_cached + first;
      out.a.seqs.push_back(std::move(a));
      out.b.seqs.push_back(std::move(b));
    }
    start = end;
  }
  for (int32_t row : batch.logit_rows) {
    if (row < 0 || row >= total) fail("TBO split: logit row ", row, " outside [0, ", total, ")");
    ForwardBatch& mb = row < split ? out.a : out.b;
    const int which = row < split ? 0 : 1;
    out.logit_order.emplace_back(which, static_cast<int>(mb.logit_rows.size()));
    mb.logit_rows.push_back(row < split ? row : row - split);
  }
  return out;
}

}  // namespace duet
