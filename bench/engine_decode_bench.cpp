// Steady-state decode throughput of the engine on one rank: B sequences with random prompts of
// L tokens are prefilled (timed too), then S decode steps are timed. Prints tokens/s, the step
// time, the prefill time and rate, and the bytes each step must read (weights it touches plus
// the KV cache) against a memcpy bandwidth measured in the same run, so the number has a ceiling
// next to it.
//
//   engine_decode_bench --model DIR [--device cpu] [--batch 1,8,32] [--prompt-len 128]
//                       [--steps 16] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/flags.h"
#include "engine/engine.h"

using namespace duet;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// memcpy bandwidth over a buffer larger than the caches (bytes read + written per second).
double copy_bandwidth() {
  const size_t n = size_t{1} << 28;
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const double t0 = now();
    std::memcpy(b.data(), a.data(), n);
    best = std::max(best, 2.0 * n / (now() - t0));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Flags flags("engine_decode_bench", "engine_decode_bench --model DIR [flags]",
                "Decode throughput of the engine at several batch sizes.");
    auto& model = flags.add_string("model", "", "checkpoint directory");
    auto& device = flags.add_string("device", "cpu", "cpu or cuda");
    auto& batches = flags.add_string("batch", "1,8,32", "comma-separated batch sizes");
    auto& prompt_len = flags.add_int("prompt-len", 128, "prompt tokens per sequence");
    auto& steps = flags.add_int("steps", 16, "timed decode steps");
    auto& threads = flags.add_int("threads", 0, "CPU threads (0: all)");
    auto& eager = flags.add_bool("enforce-eager", "no recorded decode graphs");
    if (!flags.parse(std::vector<std::string>(argv + 1, argv + argc))) {
      std::fputs(flags.help().c_str(), stdout);
      return 0;
    }
    EngineOptions o;
    o.model_dir = model;
    o.device = device;
    o.threads = threads;
    o.load_tokenizer = false;
    o.enforce_eager = eager;
    o.max_num_batched_tokens = 8192;
    auto engine = Engine::create(o);
    const ModelConfig& c = engine->model_config();
    const double bw = copy_bandwidth();
    std::printf("model %s\n", describe(c).c_str());
    std::printf("memcpy bandwidth %.1f GB/s (read + write)\n", bw / 1e9);
    std::printf("%6s %10s %12s %14s %12s %12s %14s\n", "batch", "step ms", "tokens/s", "KV tokens",
                "graph steps", "prefill ms", "prefill tok/s");
    std::mt19937 rng(1);
    std::stringstream ss(batches);
    for (std::string item; std::getline(ss, item, ',');) {
      const int64_t B = std::stoll(item);
      SamplingParams p;
      p.temperature = 0;
      p.ignore_eos = true;
      p.max_tokens = static_cast<int32_t>(steps + 1);
      // Every request reports its first token when its prefill (in however many chunks) is
      // done; decode steps are timed from there.
      int64_t started = 0;
      std::vector<int> first(static_cast<size_t>(B), 0);
      const double p0 = now();
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
        for (auto& t : prompt)
          t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.vocab_size));
        engine->add_request(prompt, p, [&, b](const RequestOutput& o) {
          if (!o.token_ids.empty() && !first[b]++) ++started;
          if (o.finish_reason == FinishReason::kError) throw Error("request failed: " + o.error);
        });
      }
      while (started < B && engine->step()) {
      }
      // Prefill: from submitting the prompts to the last first token (the scheduler's prompt
      // chunks, with whatever decode tokens of already started requests share their steps).
      const double prefill_s = now() - p0;
      if (!engine->healthy()) fail("engine step failed: ", engine->last_error());
      const int64_t replays0 = engine->stats().graph_replays;
      const double t0 = now();
      int64_t timed = 0;
      while (engine->step()) ++timed;
      const double dt = now() - t0;
      const int64_t replays = engine->stats().graph_replays - replays0;
      const double step_ms = timed ? 1e3 * dt / static_cast<double>(timed) : 0;
      std::printf("%6lld %10.2f %12.1f %14lld %9lld/%lld %12.1f %14.0f\n",
                  static_cast<long long>(B), step_ms,
                  timed ? static_cast<double>(B * timed) / dt : 0.0,
                  static_cast<long long>(B * (prompt_len + steps)), static_cast<long long>(replays),
                  static_cast<long long>(timed), 1e3 * prefill_s,
                  static_cast<double>(B * prompt_len) / prefill_s);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_decode_bench: %s\n", e.what());
    return 1;
  }
}
