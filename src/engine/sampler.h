// Token sampling for one sequence from one row of logits: penalties here, then temperature,
// top-k, top-p and min-p by backend/sample_row with the request's counter-based random stream
// (seed, n-th draw), so a seeded request samples the same tokens whatever else shares its batch
// and whichever backend draws them.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend/sample_spec.h"
#include "engine/engine.h"
#include "engine/sampling_params.h"

namespace duet {

class Sampler {
 public:
  // seed: the request's seed, or a fresh one for unseeded requests.
  Sampler(const SamplingParams& params, uint64_t seed);

  // Counts the prompt's tokens (repetition penalty covers prompt and output).
  void observe_prompt(const std::vector<int32_t>& prompt);
  // Picks the next token from logits[0..vocab). Fills `logprob` when params.logprobs >= 0.
  int32_t sample(const float* logits, int64_t vocab, TokenLogprob* logprob);
  // The settings of the next draw (its index is the number of tokens sampled so far), for
  // sampling this request's row elsewhere (Backend::sample_tokens) ...
  SampleSpec next_spec() const;
  // ... and recording the token drawn there, as sample() does for its own draws.
  void accept(int32_t token);

 private:
  const SamplingParams params_;
  const uint64_t seed_;
  uint64_t draws_ = 0;
  std::unordered_map<int32_t, int32_t> prompt_counts_, output_counts_;
  std::vector<float> work_;
};

// log_softmax of a row in double precision; returns (id, logprob) of the top n, best first,
// and the logprob of `chosen`.
void top_logprobs(const float* logits, int64_t vocab, int32_t chosen, int32_t n, TokenLogprob* out);

}  // namespace duet
