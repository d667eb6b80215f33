// Token sampling for one sequence from one row of logits: penalties, temperature, top-k,
// top-p, min-p, and a per-request random stream (so a seeded request samples the same tokens
// whatever else shares its batch).
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

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

 private:
  const SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int32_t> prompt_counts_, output_counts_;
  std::vector<float> work_;
  std::vector<int32_t> order_;
};

// log_softmax of a row in double precision; returns (id, logprob) of the top n, best first,
// and the logprob of `chosen`.
void top_logprobs(const float* logits, int64_t vocab, int32_t chosen, int32_t n, TokenLogprob* out);

}  // namespace duet
