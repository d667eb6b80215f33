// Benchmark statistics in SGLang bench_serving's terms: per-request timings in, throughput and
// latency summaries (mean, median, p99) out. Pure functions, tested in bench_stats_test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace duet::bench {

struct RequestResult {
  bool ok = false;
  std::string error;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double ttft = 0.0;        // seconds from send to the first generated token
  double e2e = 0.0;         // seconds from send to the last token
  std::vector<double> itl;  // gaps between consecutive token arrivals (per token)
};

struct Summary {
  double mean = 0.0, median = 0.0, p99 = 0.0;
};

// numpy-style percentile (linear interpolation); 0 for an empty sample.
double percentile(std::vector<double> values, double p);
Summary summarize(const std::vector<double>& values);

struct BenchMetrics {
  int64_t completed = 0, failed = 0;
  double duration = 0.0;  // seconds, first send to last completion
  int64_t total_input = 0, total_output = 0;
  double request_throughput = 0.0;  // completed requests / s
  double input_throughput = 0.0, output_throughput = 0.0, total_throughput = 0.0;  // tok/s
  double output_throughput_per_gpu = 0.0;
  Summary ttft, tpot, itl, e2e;  // seconds
  nlohmann::ordered_json to_json() const;
};

// TPOT of a request is (e2e - ttft) / (output_tokens - 1), over requests with > 1 token.
BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration,
                             int num_gpus);

}  // namespace duet::bench
