// Random-token workloads with exact lengths (SGLang bench_serving's "random" dataset): prompts
// are token-id lists, so their length is exact without a tokenizer round trip, and outputs run
// with ignore_eos so they are exactly max_tokens long.
#pragma once

#include <cstdint>
#include <vector>

namespace duet::bench {

struct BenchRequest {
  std::vector<int32_t> prompt_ids;
  int32_t max_tokens = 0;
  double send_at = 0.0;  // seconds after the run starts (0 for closed-loop concurrency runs)
};

struct WorkloadSpec {
  int64_t num_prompts = 0;
  int64_t isl = 0, osl = 0;
  double range_ratio = 1.0;  // lengths uniform in [len * range_ratio, len]; 1: exact
  int64_t vocab_size = 0;    // ids drawn uniformly from [0, vocab_size)
  double request_rate = 0;   // > 0: Poisson arrivals at this rate; otherwise all at t = 0
  uint64_t seed = 0;
};

// Deterministic for a given spec.
std::vector<BenchRequest> make_workload(const WorkloadSpec& spec);

}  // namespace duet::bench
