#include "engine/batch_builder.h"

#include <algorithm>

namespace duet {

BuiltBatch build_forward_batch(const ScheduledBatch& plan) {
  BuiltBatch out;
  ForwardBatch& b = out.batch;
  for (const ScheduledSeq& s : plan.seqs) {
    const Sequence& seq = *s.seq;
    const int32_t begin = seq.num_computed, end = seq.num_computed + s.num_new_tokens;
    // Split at the prompt boundary: [begin, mid) prompt tokens, [mid, end) generated ones.
    const int32_t mid = std::clamp(seq.num_prompt_tokens, begin, end);
    for (auto [from, to, decode] : {std::tuple{begin, mid, false}, std::tuple{mid, end, true}}) {
      if (from == to) continue;
      SeqInBatch sib;
      sib.num_cached = from;
      sib.num_new_tokens = to - from;
      sib.decode = decode;
      sib.block_ids = seq.blocks;
      b.seqs.push_back(std::move(sib));
      b.token_ids.insert(b.token_ids.end(), seq.tokens.begin() + from, seq.tokens.begin() + to);
    }
    if (s.samples) {
      b.logit_rows.push_back(static_cast<int32_t>(b.token_ids.size()) - 1);
      out.sampled.push_back(s.seq);
    }
  }
  return out;
}

}  // namespace duet
