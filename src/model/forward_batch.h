// ForwardBatch: the plain data one model step consumes, built by the engine from its scheduled
// sequences. Tokens of one sequence are contiguous and in position order.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/sample_spec.h"

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
  // Sampling where the logits are: empty, or one entry per logit row. Then every row is
  // sampled by the backend and only rows flagged in logits_to_host (penalties, logprobs: the
  // host sampler's work) come back as logits.
  std::vector<SampleSpec> sample;
  std::vector<uint8_t> logits_to_host;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  bool samples_on_backend() const { return !sample.empty(); }
};

// What a step returns for its logit rows.
struct StepOutput {
  // [R] the backend's token for each logit row, -1 for rows returned as logits; empty when the
  // batch samples nothing on the backend.
  std::vector<int32_t> tokens;
  // f32 [rows returned as logits, vocab] in logit-row order: every row when the batch samples
  // nothing on the backend, else the rows flagged in logits_to_host.
  std::vector<float> logits;
};

}  // namespace duet
