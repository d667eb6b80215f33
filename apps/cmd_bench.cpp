// duet bench: serving benchmark in the manner of SGLang's bench_serving, against a running
// server (--url) or an in-process engine (--model).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>

#include "apps/command.h"
#include "apps/engine_flags.h"
#include "bench_client/engine_backend.h"
#include "bench_client/http_backend.h"
#include "bench_client/report.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/progress.h"
#include "engine/engine.h"

namespace duet {
namespace {

std::vector<double> parse_numbers(const std::string& text, const char* flag) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("--", flag, ": '", item, "' is not a number");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

int run_bench(const std::vector<std::string>& args) {
  Flags flags("duet bench",
              "duet bench (--url URL | --model DIR) --isl N --osl N (--concurrency 1,16,64 | "
              "--request-rate R) [--num-prompts N] [--out DIR]",
              "Random-token prompts of exact lengths sent as token ids to /v1/completions\n"
              "(streaming, ignore_eos, max_tokens = output length), or straight into the engine\n"
              "with --model. Per run: request and token throughput, TTFT / TPOT / ITL / E2E\n"
              "mean, median, p99. Writes results.json, throughput.png and latency.png into\n"
              "--out and prints a table on stdout. See docs/BENCH.md.");
  auto& url = flags.add_string("url", "", "server base URL, e.g. http://127.0.0.1:8000");
  auto& api_key = flags.add_string("api-key", "", "sent as 'Authorization: Bearer KEY'");
  EngineFlags ef =
      add_engine_flags(flags, "checkpoint directory: in-process engine instead of --url");
  auto& isl = flags.add_int("isl", 1000, "input (prompt) length in tokens");
  auto& osl = flags.add_int("osl", 1000, "output length in tokens");
  auto& range_ratio =
      flags.add_double("range-ratio", 1.0, "lengths uniform in [len * R, len]; 1 = exact");
  auto& concurrency = flags.add_string("concurrency", "", "comma-separated concurrency sweep");
  auto& rates =
      flags.add_string("request-rate", "", "comma-separated Poisson request rates (req/s)");
  auto& max_conc = flags.add_int("max-concurrency", 0,
                                 "with --request-rate: cap on requests in flight (0: none)");
  auto& num_prompts = flags.add_int("num-prompts", 0,
                                    "requests per run (0: 4 x concurrency, "
                                    "at least 16)");
  auto& warmup = flags.add_int("warmup", 2, "warm-up requests before the runs (not measured)");
  auto& num_gpus = flags.add_int("num-gpus", 1, "GPUs serving, for per-GPU throughput");
  auto& vocab = flags.add_int("vocab-size", 0, "token ids drawn below this (0: from server)");
  auto& seed = flags.add_int("seed", 0, "workload seed");
  auto& out_dir = flags.add_string("out", "bench-results", "output directory");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (url.empty() == ef.model->empty()) fail("duet bench: give exactly one of --url and --model");
  if (concurrency.empty() == rates.empty())
    fail("duet bench: give exactly one of --concurrency and --request-rate");

  std::unique_ptr<Engine> engine;
  bench::SendFn send;
  std::string model_name;
  int64_t vocab_size = vocab;
  if (!url.empty()) {
    const bench::ServerInfo info = bench::query_server(url, api_key);
    model_name = info.model;
    if (vocab_size == 0) vocab_size = info.vocab_size;
    send = bench::make_http_sender(url, model_name, api_key);
  } else {
    engine = create_engine_with_progress(ef.options());
    engine->start();
    model_name = std::filesystem::path(*ef.model).filename().string();
    if (vocab_size == 0) vocab_size = engine->model_config().vocab_size;
    send = bench::make_engine_sender(*engine);
  }
  if (vocab_size <= 0) fail("duet bench: unknown vocabulary size; pass --vocab-size");

  std::vector<bench::RunRecord> runs;
  const bool by_rate = !rates.empty();
  const std::vector<double> xs =
      parse_numbers(by_rate ? rates : concurrency, by_rate ? "request-rate" : "concurrency");
  bench::WorkloadSpec spec{0, isl, osl, range_ratio, vocab_size, 0.0, uint64_t(seed)};
  if (warmup > 0) {
    spec.num_prompts = warmup;
    bench::run_workload(bench::make_workload(spec), warmup, send, nullptr);
  }
  for (double x : xs) {
    if (x <= 0) fail("duet bench: sweep values must be positive");
    bench::RunRecord rec;
    rec.concurrency = by_rate ? max_conc : int64_t(x);
    rec.request_rate = by_rate ? x : 0.0;
    spec.request_rate = rec.request_rate;
    spec.num_prompts = num_prompts > 0 ? num_prompts : std::max<int64_t>(16, 4 * int64_t(x));
    spec.seed = uint64_t(seed) + runs.size() + 1;
    const auto workload = bench::make_workload(spec);
    ProgressBar bar(by_rate ? str_cat("rate ", x) : str_cat("concurrency ", int64_t(x)),
                    workload.size(), "req");
    const bench::RunOutcome outcome = bench::run_workload(workload, rec.concurrency, send,
                                                          [&](size_t done) { bar.update(done); });
    bar.finish();
    rec.metrics = bench::compute_metrics(outcome.results, outcome.duration, int(num_gpus));
    for (const auto& r : outcome.results)
      if (!r.ok) {
        log_warn("duet bench: a request failed: ", r.error);
        break;
      }
    runs.push_back(std::move(rec));
  }
  if (engine) engine->stop();

  std::filesystem::create_directories(out_dir);
  const nlohmann::ordered_json config = {{"backend", url.empty() ? "engine" : "http"},
                                         {"url", url},
                                         {"model", model_name},
                                         {"isl", isl},
                                         {"osl", osl},
                                         {"range_ratio", range_ratio},
                                         {"num_gpus", num_gpus},
                                         {"seed", seed}};
  write_file(out_dir + "/results.json", bench::results_json(config, runs).dump(2) + "\n");
  bench::write_plots(out_dir, runs);
  std::fputs(bench::format_table(runs).c_str(), stdout);
  log_info("duet bench: wrote ", out_dir, "/results.json, throughput.png, latency.png");
  return 0;
}

RegisterCommand reg("bench", {"serving benchmark (throughput and latency sweeps)", run_bench});

}  // namespace
}  // namespace duet
