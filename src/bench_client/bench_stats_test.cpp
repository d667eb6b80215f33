#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "bench_client/bench_stats.h"
#include "bench_client/report.h"
#include "bench_client/workload.h"
#include "common/error.h"

namespace duet::bench {
namespace {

TEST(BenchStats, PercentileMatchesNumpy) {
  // numpy.percentile([1, 2, 3, 4], [50, 99]) == [2.5, 3.97]
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 99), 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0.0);
  EXPECT_DOUBLE_EQ(percentile({5}, 99), 5.0);
}

TEST(BenchStats, ThroughputAndLatency) {
  RequestResult a{true, "", 10, 5, 0.5, 2.5, {0.5, 0.5, 0.5, 0.5}};
  RequestResult b{true, "", 20, 1, 1.0, 1.0, {}};
  RequestResult failed{false, "boom", 30, 0, 0, 0, {}};
  const BenchMetrics m = compute_metrics({a, b, failed}, 2.0, 2);
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.total_input, 30);
  EXPECT_EQ(m.total_output, 6);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(m.input_throughput, 15.0);
  EXPECT_DOUBLE_EQ(m.output_throughput, 3.0);
  EXPECT_DOUBLE_EQ(m.total_throughput, 18.0);
  EXPECT_DOUBLE_EQ(m.output_throughput_per_gpu, 1.5);
  EXPECT_DOUBLE_EQ(m.ttft.mean, 0.75);
  EXPECT_DOUBLE_EQ(m.tpot.mean, 0.5);  // only a: (2.5 - 0.5) / 4
  EXPECT_DOUBLE_EQ(m.itl.median, 0.5);
  EXPECT_DOUBLE_EQ(m.e2e.median, 1.75);
  const auto j = m.to_json();
  EXPECT_DOUBLE_EQ(j["ttft_ms"]["mean"].get<double>(), 750.0);
}

TEST(Workload, ExactLengthsAndDeterminism) {
  WorkloadSpec s{50, 32, 8, 1.0, 100, 0.0, 7};
  const auto w = make_workload(s);
  ASSERT_EQ(w.size(), 50u);
  for (const BenchRequest& r : w) {
    EXPECT_EQ(r.prompt_ids.size(), 32u);
    EXPECT_EQ(r.max_tokens, 8);
    EXPECT_EQ(r.send_at, 0.0);
    for (int32_t id : r.prompt_ids) EXPECT_TRUE(id >= 0 && id < 100);
  }
  EXPECT_EQ(make_workload(s)[3].prompt_ids, w[3].prompt_ids);
  s.seed = 8;
  EXPECT_NE(make_workload(s)[3].prompt_ids, w[3].prompt_ids);
}

TEST(Workload, RangeRatioAndPoisson) {
  WorkloadSpec s{2000, 100, 10, 0.5, 100, 4.0, 1};
  const auto w = make_workload(s);
  size_t min_len = 1000, max_len = 0;
  for (const BenchRequest& r : w) {
    min_len = std::min(min_len, r.prompt_ids.size());
    max_len = std::max(max_len, r.prompt_ids.size());
    EXPECT_GE(r.max_tokens, 5);
    EXPECT_LE(r.max_tokens, 10);
  }
  EXPECT_EQ(min_len, 50u);
  EXPECT_EQ(max_len, 100u);
  // Mean gap of a rate-4 Poisson process is 0.25 s.
  EXPECT_NEAR(w.back().send_at / double(w.size() - 1), 0.25, 0.03);
  EXPECT_THROW(make_workload({1, 0, 1, 1.0, 10, 0, 0}), Error);
  EXPECT_THROW(make_workload({1, 1, 1, 0.0, 10, 0, 0}), Error);
}

TEST(Report, TableAndJson) {
  RunRecord r;
  r.concurrency = 8;
  r.metrics.output_throughput = 123.4;
  const auto j = results_json({{"isl", 4}}, {r});
  EXPECT_EQ(j["config"]["isl"], 4);
  EXPECT_EQ(j["runs"][0]["concurrency"], 8);
  EXPECT_DOUBLE_EQ(j["runs"][0]["output_throughput"].get<double>(), 123.4);
  EXPECT_NE(format_table({r}).find("123.4"), std::string::npos);
}

}  // namespace
}  // namespace duet::bench
