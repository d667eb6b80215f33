#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace duet {

namespace {
// yarn's mscale: 0.1 * m * ln(s) + 1 for s > 1.
double get_mscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}
}  // namespace

RopeTables compute_rope(const ModelConfig& c) {
  const int64_t dim = c.qk_rope_head_dim;
  const float base = static_cast<float>(c.rope.theta);
  RopeTables t;
  t.inv_freq.resize(static_cast<size_t>(dim / 2));
  // pos_freqs = base ** (arange(0, dim, 2) / dim), all in fp32 as transformers does.
  std::vector<float> pos_freqs(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i)
    pos_freqs[i] = std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dim));
  if (!c.rope.yarn) {
    for (int64_t i = 0; i < dim / 2; ++i) t.inv_freq[i] = 1.0f / pos_freqs[i];
    return t;
  }
  const double factor = c.rope.factor;
  const double orig = static_cast<double>(c.rope.original_max_position_embeddings);
  auto corr_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(orig / (rotations * 2.0 * M_PI))) /
           (2.0 * std::log(c.rope.theta));
  };
  double low = std::floor(corr_dim(c.rope.beta_fast));
  double high = std::ceil(corr_dim(c.rope.beta_slow));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  const float flow = static_cast<float>(low), fhigh = static_cast<float>(high);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float ramp = std::clamp((static_cast<float>(i) - flow) / (fhigh - flow), 0.0f, 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    const float inv_extra = 1.0f / pos_freqs[i];
    const float inv_inter = 1.0f / (static_cast<float>(factor) * pos_freqs[i]);
    t.inv_freq[i] = inv_inter * (1.0f - extrapolation_factor) + inv_extra * extrapolation_factor;
  }
  if (c.rope.mscale != 0.0 && c.rope.mscale_all_dim != 0.0) {
    t.attention_factor = static_cast<float>(get_mscale(factor, c.rope.mscale) /
                                            get_mscale(factor, c.rope.mscale_all_dim));
  } else {
    t.attention_factor = static_cast<float>(get_mscale(factor, 1.0));
  }
  return t;
}

}  // namespace duet
