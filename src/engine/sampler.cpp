#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace duet {

Sampler::Sampler(const SamplingParams& params, uint64_t seed) : params_(params), rng_(seed) {}

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
  int32_t chosen;
  if (p.temperature <= 0.0f) {
    chosen = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (w[i] > w[chosen]) chosen = static_cast<int32_t>(i);
  } else {
    // Candidates sorted by logit (ties: lower id), cut by top-k, then probabilities.
    order_.resize(static_cast<size_t>(vocab));
    std::iota(order_.begin(), order_.end(), 0);
    auto better = [&](int32_t a, int32_t b) { return w[a] != w[b] ? w[a] > w[b] : a < b; };
    int64_t n = vocab;
    if (p.top_k > 0 && p.top_k < vocab) {
      n = p.top_k;
      std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), better);
    } else {
      std::sort(order_.begin(), order_.end(), better);
    }
    std::vector<double> prob(static_cast<size_t>(n));
    const double top = w[order_[0]] / p.temperature;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      prob[i] = std::exp(static_cast<double>(w[order_[i]]) / p.temperature - top);
      sum += prob[i];
    }
    // top-p: the smallest head whose mass reaches top_p (the best token always stays).
    if (p.top_p < 1.0f) {
      double acc = 0;
      int64_t keep = 0;
      while (keep < n) {
        acc += prob[keep] / sum;
        ++keep;
        if (acc >= p.top_p) break;
      }
      n = keep;
    }
    // min-p: tokens at least min_p times as likely as the best one.
    if (p.min_p > 0.0f) {
      int64_t keep = 1;
      while (keep < n && prob[keep] >= p.min_p * prob[0]) ++keep;
      n = keep;
    }
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += prob[i];
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
    double acc = 0;
    chosen = order_[n - 1];
    for (int64_t i = 0; i < n; ++i) {
      acc += prob[i];
      if (u < acc) {
        chosen = order_[i];
        break;
      }
    }
  }
  ++output_counts_[chosen];
  if (logprob && p.logprobs >= 0) top_logprobs(logits, vocab, chosen, p.logprobs, logprob);
  return chosen;
}

}  // namespace duet
