#include "model/reference_runner.h"

#include <algorithm>
#include <numeric>

namespace duet {

int32_t argmax(const float* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return static_cast<int32_t>(best);
}

namespace {

int64_t blocks_for(int64_t tokens) {
  return (tokens + kKvBlockSize - 1) / kKvBlockSize;
}

SeqInBatch whole_sequence(int64_t num_cached, int64_t num_new, bool decode, int64_t blocks) {
  SeqInBatch s;
  s.num_cached = static_cast<int32_t>(num_cached);
  s.num_new_tokens = static_cast<int32_t>(num_new);
  s.decode = decode;
  s.block_ids.resize(static_cast<size_t>(blocks));
  std::iota(s.block_ids.begin(), s.block_ids.end(), 0);
  return s;
}

}  // namespace

std::vector<float> ReferenceRunner::prompt_logits(const std::vector<int32_t>& ids) {
  const int64_t n = static_cast<int64_t>(ids.size());
  LatentCache cache(model_.backend(), model_.config(), std::max<int64_t>(1, blocks_for(n)));
  ForwardBatch b;
  b.token_ids = ids;
  b.seqs.push_back(whole_sequence(0, n, false, cache.num_blocks()));
  b.logit_rows.resize(static_cast<size_t>(n));
  std::iota(b.logit_rows.begin(), b.logit_rows.end(), 0);
  std::vector<float> logits;
  model_.forward(b, cache, logits);
  return logits;
}

std::vector<int32_t> ReferenceRunner::greedy(const std::vector<int32_t>& prompt, int64_t max_tokens,
                                             const std::vector<int64_t>& eos_ids,
                                             bool full_recompute) {
  const int64_t V = model_.config().vocab_size;
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + max_tokens;
  LatentCache cache(model_.backend(), model_.config(), std::max<int64_t>(1, blocks_for(capacity)));
  std::vector<int32_t> seq = prompt, out;
  std::vector<float> logits;
  int64_t cached = 0;
  while (static_cast<int64_t>(out.size()) < max_tokens) {
    ForwardBatch b;
    if (full_recompute || cached == 0) {
      b.token_ids = seq;
      b.seqs.push_back(
          whole_sequence(0, static_cast<int64_t>(seq.size()), false, cache.num_blocks()));
    } else {
      b.token_ids = {seq.back()};
      b.seqs.push_back(whole_sequence(cached, 1, true, cache.num_blocks()));
    }
    b.logit_rows = {static_cast<int32_t>(b.token_ids.size()) - 1};
    model_.forward(b, cache, logits);
    cached = static_cast<int64_t>(seq.size());
    const int32_t next = argmax(logits.data(), V);
    out.push_back(next);
    seq.push_back(next);
    if (std::find(eos_ids.begin(), eos_ids.end(), next) != eos_ids.end()) break;
  }
  return out;
}

}  // namespace duet
