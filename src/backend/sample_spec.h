// Per-row token sampling settings for Backend::sample_tokens, the counter-based random stream
// both backends draw from, and the host reference `sample_row` that defines the semantics (the
// CUDA kernel reproduces it; engine/Sampler calls it after applying penalties).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define DUET_HOST_DEVICE __host__ __device__
#else
#define DUET_HOST_DEVICE
#endif

namespace duet {

// One logit row's sampling settings. Penalties are applied by the host before a row gets here
// (rows with penalties or logprobs are sampled on the host by engine/Sampler).
struct SampleSpec {
  float temperature = 0.0f;  // <= 0: greedy (ties to the lowest id)
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // (0, 1]
  float min_p = 0.0f;        // [0, 1]
  uint64_t seed = 0;         // the request's random stream
  uint64_t draw = 0;         // index of this draw in that stream (the request's n-th sampled token)
};

// splitmix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
DUET_HOST_DEVICE inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1) from (seed, draw): output `draw` of a splitmix64 stream whose state
// starts at mix(seed). Counter-based, so a request's stream depends on nothing else in the
// batch and a draw can be made on any device without carrying generator state.
DUET_HOST_DEVICE inline double sample_uniform(uint64_t seed, uint64_t draw) {
  const uint64_t state = splitmix64_mix(seed) + (draw + 1) * 0x9e3779b97f4a7c15ull;
  return static_cast<double>(splitmix64_mix(state) >> 11) * 0x1.0p-53;
}

// The token that logits[0..vocab) gives under s. Greedy: argmax, ties to the lowest id.
// Sampled: candidates by logit descending (ties: lower id), cut to top_k, probabilities
// exp(l/T - l_best/T) in double; top-p keeps the smallest head whose normalised mass reaches
// top_p (the best token always stays); min-p keeps tokens with prob >= min_p * prob(best);
// then u = sample_uniform(seed, draw) * (kept mass) picks the first kept token whose cumulative
// mass exceeds u (the last kept one if rounding leaves none). A row whose best logit is not
// finite (all -inf, or +inf) has no distribution and gives its argmax.
int32_t sample_row(const float* logits, int64_t vocab, const SampleSpec& s);

}  // namespace duet
