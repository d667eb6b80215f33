#include "bench_client/report.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/error.h"

namespace duet::bench {
namespace {

std::string row(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

// Runs with a request rate are plotted against the rate, closed-loop runs against concurrency.
double x_of(const RunRecord& r) {
  return r.request_rate > 0 ? r.request_rate : double(r.concurrency);
}

}  // namespace

nlohmann::ordered_json results_json(const nlohmann::ordered_json& config,
                                    const std::vector<RunRecord>& runs) {
  nlohmann::ordered_json out = {{"config", config}, {"runs", nlohmann::ordered_json::array()}};
  for (const RunRecord& r : runs) {
    nlohmann::ordered_json j = {{"concurrency", r.concurrency}, {"request_rate", r.request_rate}};
    const nlohmann::ordered_json metrics = r.metrics.to_json();
    for (auto it = metrics.begin(); it != metrics.end(); ++it) j[it.key()] = it.value();
    out["runs"].push_back(std::move(j));
  }
  return out;
}

std::string format_table(const std::vector<RunRecord>& runs) {
  std::string s = row("%6s %7s %8s %10s %10s %9s %9s %9s %9s %9s %9s %9s %9s\n", "conc", "rate",
                      "req/s", "out tok/s", "tot tok/s", "ttft p50", "ttft p99", "tpot p50",
                      "tpot p99", "itl p50", "itl p99", "e2e p50", "e2e p99");
  for (const RunRecord& r : runs) {
    const BenchMetrics& m = r.metrics;
    s += row("%6lld %7.2f %8.2f %10.1f %10.1f %9.1f %9.1f %9.2f %9.2f %9.2f %9.2f %9.1f %9.1f\n",
             (long long)r.concurrency, r.request_rate, m.request_throughput, m.output_throughput,
             m.total_throughput, m.ttft.median * 1e3, m.ttft.p99 * 1e3, m.tpot.median * 1e3,
             m.tpot.p99 * 1e3, m.itl.median * 1e3, m.itl.p99 * 1e3, m.e2e.median * 1e3,
             m.e2e.p99 * 1e3);
  }
  s += "(latencies in ms; failed requests are excluded and counted in results.json)\n";
  return s;
}

std::vector<std::string> write_plots(const std::string& dir, const std::vector<RunRecord>& runs) {
  const bool by_rate = !runs.empty() && runs[0].request_rate > 0;
  const std::string data = dir + "/plot_data.tsv", script = dir + "/plots.gp";
  {
    std::ofstream f(data);
    f << "# x req_s out_tok_s tot_tok_s ttft_p50 ttft_p99 tpot_p50 tpot_p99 itl_p50 itl_p99 "
         "e2e_p50 e2e_p99 (ms)\n";
    for (const RunRecord& r : runs) {
      const BenchMetrics& m = r.metrics;
      f << x_of(r) << '\t' << m.request_throughput << '\t' << m.output_throughput << '\t'
        << m.total_throughput << '\t' << m.ttft.median * 1e3 << '\t' << m.ttft.p99 * 1e3 << '\t'
        << m.tpot.median * 1e3 << '\t' << m.tpot.p99 * 1e3 << '\t' << m.itl.median * 1e3 << '\t'
        << m.itl.p99 * 1e3 << '\t' << m.e2e.median * 1e3 << '\t' << m.e2e.p99 * 1e3 << '\n';
    }
  }
  const std::string xlabel = by_rate ? "request rate (req/s)" : "concurrency";
  std::ofstream g(script);
  // Log-scale x when the sweep spans a wide range (1, 16, 64, 128 ...).
  g << "set terminal png size 1000,650\nset grid\nset key top left\n"
    << "set xlabel '" << xlabel << "'\n"
    << (runs.size() > 1 && x_of(runs.back()) / std::max(1e-9, x_of(runs.front())) >= 8
            ? "set logscale x 2\n"
            : "")
    << "set output '" << dir << "/throughput.png'\nset title 'duet bench: throughput'\n"
    << "set ylabel 'tokens / s'\n"
    << "plot '" << data << "' using 1:3 with linespoints title 'output tok/s', '' using 1:4 "
    << "with linespoints title 'total tok/s'\n"
    << "set output '" << dir << "/latency.png'\nset title 'duet bench: latency'\n"
    << "set ylabel 'ms'\n"
    << "plot '" << data << "' using 1:5 w lp title 'TTFT p50', '' using 1:6 w lp title "
    << "'TTFT p99', '' using 1:7 w lp title 'TPOT p50', '' using 1:8 w lp title 'TPOT p99', "
    << "'' using 1:9 w lp title 'ITL p50', '' using 1:11 w lp title 'E2E p50', '' using 1:12 "
    << "w lp title 'E2E p99'\n";
  g.close();
  const std::string cmd = "gnuplot '" + script + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) fail("duet bench: gnuplot failed on ", script);
  return {dir + "/throughput.png", dir + "/latency.png"};
}

}  // namespace duet::bench
