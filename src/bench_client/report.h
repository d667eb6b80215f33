// duet bench output: results.json, a table on stdout, and PNG plots drawn by gnuplot.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_client/bench_stats.h"

namespace duet::bench {

struct RunRecord {
  int64_t concurrency = 0;    // 0: unbounded
  double request_rate = 0.0;  // 0: closed loop
  BenchMetrics metrics;
};

nlohmann::ordered_json results_json(const nlohmann::ordered_json& config,
                                    const std::vector<RunRecord>& runs);
// One row per run: concurrency, rate, req/s, tok/s, TTFT/TPOT/ITL/E2E median and p99 (ms).
std::string format_table(const std::vector<RunRecord>& runs);
// Writes throughput.png and latency.png into out_dir (x axis: concurrency, or request rate
// for --request-rate runs) by running gnuplot on a generated script. Returns the PNG paths;
// throws duet::Error when gnuplot fails.
std::vector<std::string> write_plots(const std::string& out_dir,
                                     const std::vector<RunRecord>& runs);

}  // namespace duet::bench
