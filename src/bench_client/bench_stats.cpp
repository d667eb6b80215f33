#include "bench_client/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace duet::bench {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

Summary summarize(const std::vector<double>& v) {
  Summary s;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  s.median = percentile(v, 50);
  s.p99 = percentile(v, 99);
  return s;
}

BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration,
                             int num_gpus) {
  BenchMetrics m;
  m.duration = duration;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestResult& r : results) {
    if (!r.ok) {
      ++m.failed;
      continue;
    }
    ++m.completed;
    m.total_input += r.prompt_tokens;
    m.total_output += r.output_tokens;
    ttft.push_back(r.ttft);
    e2e.push_back(r.e2e);
    if (r.output_tokens > 1) tpot.push_back((r.e2e - r.ttft) / double(r.output_tokens - 1));
    itl.insert(itl.end(), r.itl.begin(), r.itl.end());
  }
  if (duration > 0) {
    m.request_throughput = double(m.completed) / duration;
    m.input_throughput = double(m.total_input) / duration;
    m.output_throughput = double(m.total_output) / duration;
    m.total_throughput = double(m.total_input + m.total_output) / duration;
    m.output_throughput_per_gpu = m.output_throughput / double(std::max(1, num_gpus));
  }
  m.ttft = summarize(ttft);
  m.tpot = summarize(tpot);
  m.itl = summarize(itl);
  m.e2e = summarize(e2e);
  return m;
}

nlohmann::ordered_json BenchMetrics::to_json() const {
  auto ms = [](const Summary& s) {
    return nlohmann::ordered_json{
        {"mean", s.mean * 1e3}, {"median", s.median * 1e3}, {"p99", s.p99 * 1e3}};
  };
  return {{"completed", completed},
          {"failed", failed},
          {"duration_s", duration},
          {"total_input_tokens", total_input},
          {"total_output_tokens", total_output},
          {"request_throughput", request_throughput},
          {"input_throughput", input_throughput},
          {"output_throughput", output_throughput},
          {"total_throughput", total_throughput},
          {"output_throughput_per_gpu", output_throughput_per_gpu},
          {"ttft_ms", ms(ttft)},
          {"tpot_ms", ms(tpot)},
          {"itl_ms", ms(itl)},
          {"e2e_latency_ms", ms(e2e)}};
}

}  // namespace duet::bench
