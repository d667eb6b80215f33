// The host reference for token sampling (semantics in sample_spec.h). Written as the plain
// sort-and-walk so it reads as the definition; the CUDA kernel reaches the same token by
// selection without sorting.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/sample_spec.h"

namespace duet {

int32_t sample_row(const float* w, int64_t vocab, const SampleSpec& s) {
  int32_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (w[i] > w[best]) best = static_cast<int32_t>(i);
  if (s.temperature <= 0.0f || !std::isfinite(w[best])) return best;

  // Candidates sorted by logit (ties: lower id), cut by top-k. Reused per thread: the engine
  // samples every step and a vocabulary is up to ~160k ids.
  thread_local std::vector<int32_t> order;
  thread_local std::vector<double> prob;
  order.resize(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  auto better = [&](int32_t a, int32_t b) { return w[a] != w[b] ? w[a] > w[b] : a < b; };
  int64_t n = vocab;
  if (s.top_k > 0 && s.top_k < vocab) {
    n = s.top_k;
    std::partial_sort(order.begin(), order.begin() + n, order.end(), better);
  } else {
    std::sort(order.begin(), order.end(), better);
  }
  const double T = s.temperature;
  const double top = static_cast<double>(w[best]) / T;  // prob[0] is exactly 1
  prob.resize(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    prob[i] = std::exp(static_cast<double>(w[order[i]]) / T - top);
    sum += prob[i];
  }
  // top-p: the smallest head whose mass reaches top_p (the best token always stays).
  if (s.top_p < 1.0f) {
    double acc = 0;
    int64_t keep = 0;
    while (keep < n) {
      acc += prob[keep] / sum;
      ++keep;
      if (acc >= s.top_p) break;
    }
    n = keep;
  }
  // min-p: tokens at least min_p times as likely as the best one.
  if (s.min_p > 0.0f) {
    int64_t keep = 1;
    while (keep < n && prob[keep] >= s.min_p * prob[0]) ++keep;
    n = keep;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += prob[i];
  const double u = sample_uniform(s.seed, s.draw) * total;
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc += prob[i];
    if (u < acc) return order[i];
  }
  return order[n - 1];
}

}  // namespace duet
