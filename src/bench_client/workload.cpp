#include "bench_client/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/error.h"

namespace duet::bench {

std::vector<BenchRequest> make_workload(const WorkloadSpec& s) {
  if (s.isl < 1 || s.osl < 1) fail("--isl and --osl must be at least 1");
  if (!(s.range_ratio > 0.0 && s.range_ratio <= 1.0)) fail("--range-ratio must be in (0, 1]");
  if (s.vocab_size < 1) fail("the vocabulary size must be positive");
  std::mt19937_64 rng(s.seed);
  auto length = [&](int64_t len) {
    const int64_t lo = std::max<int64_t>(1, int64_t(std::ceil(double(len) * s.range_ratio)));
    return std::uniform_int_distribution<int64_t>(lo, len)(rng);
  };
  std::uniform_int_distribution<int32_t> token(0, int32_t(s.vocab_size - 1));
  std::exponential_distribution<double> gap(s.request_rate > 0 ? s.request_rate : 1.0);
  std::vector<BenchRequest> out(size_t(s.num_prompts));
  double t = 0.0;
  for (BenchRequest& r : out) {
    r.prompt_ids.resize(size_t(length(s.isl)));
    for (int32_t& id : r.prompt_ids) id = token(rng);
    r.max_tokens = int32_t(length(s.osl));
    if (s.request_rate > 0) {
      r.send_at = t;
      t += gap(rng);
    }
  }
  return out;
}

}  // namespace duet::bench
