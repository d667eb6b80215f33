#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace duet {

Sampler::Sampler(const SamplingParams& params, uint64_t seed) : params_(params), seed_(seed) {}

void Sampler::accept(int32_t token) {
  ++draws_;
  ++output_counts_[token];
}

SampleSpec Sampler::next_spec() const {
  SampleSpec s;
  s.temperature = params_.temperature;
  s.top_k = params_.top_k;
  s.top_p = params_.top_p;
  s.min_p = params_.min_p;
  s.seed = seed_;
  s.draw = draws_;
  return s;
}

void Sampler::observe_prompt(const std::vector<int32_t>& prompt) {
  for (int32_t t : prompt) ++prompt_counts_[t];
}

void top_logprobs(const float* logits, int64_t vocab, int32_t chosen, int32_t n,
                  TokenLogprob* out) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i) m = std::max(m, static_cast<double>(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - m);
  const double lse = m + std::log(sum);
  out->id = chosen;
  out->logprob = static_cast<float>(logits[chosen] - lse);
  out->top.clear();
  if (n <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  const int64_t k = std::min<int64_t>(n, vocab);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  for (int64_t i = 0; i < k; ++i)
    out->top.emplace_back(idx[i], static_cast<float>(logits[idx[i]] - lse));
}

int32_t Sampler::sample(const float* logits, int64_t vocab, TokenLogprob* logprob) {
  const SamplingParams& p = params_;
  work_.assign(logits, logits + vocab);
  float* w = work_.data();
  // Penalties: repetition (prompt and output, divides positive logits), then OpenAI's
  // frequency and presence penalties over the output.
  if (p.repetition_penalty != 1.0f) {
    auto penalise = [&](int32_t t) {
      if (t < 0 || t >= vocab) return;
      w[t] = w[t] > 0 ? w[t] / p.repetition_penalty : w[t] * p.repetition_penalty;
    };
    for (const auto& [t, c] : prompt_counts_)
      if (!output_counts_.count(t)) penalise(t);
    for (const auto& [t, c] : output_counts_) penalise(t);
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    for (const auto& [t, c] : output_counts_)
      if (t >= 0 && t < vocab)
        w[t] -= p.frequency_penalty * static_cast<float>(c) + p.presence_penalty;
  }
  const int32_t chosen = sample_row(w, vocab, next_spec());
  accept(chosen);
  if (logprob && p.logprobs >= 0) top_logprobs(logits, vocab, chosen, p.logprobs, logprob);
  return chosen;
}

}  // namespace duet
