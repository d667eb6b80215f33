// Steady-state decode throughput of the engine on one rank: B sequences with random prompts of
// L tokens are prefilled (timed too), then S decode steps of all B are timed one by one. Prints
// the steady-state step time and tokens/s (the steps that replayed a recorded decode graph), the
// mean over all timed steps (with the ones that recorded a graph), the prefill time and rate, and
// the bytes each step must read (weights it touches plus the KV cache) against a memcpy bandwidth
// measured in the same run, so the number has a ceiling next to it.
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
    std::printf("%6s %10s %12s %12s %14s %12s %12s %14s\n", "batch", "step ms", "tokens/s",
                "all steps", "KV tokens", "graph steps", "prefill ms", "prefill tok/s");
    std::mt19937 rng(1);
    std::stringstream ss(batches);
    for (std::string item; std::getline(ss, item, ',');) {
      const int64_t B = std::stoll(item);
      SamplingParams p;
      p.temperature = 0;
      p.ignore_eos = true;
      // Room for every request to keep decoding through the timed steps, however early its prompt
      // was done: the timed steps all run the full batch (the rest is aborted after them).
      p.max_tokens = static_cast<int32_t>(2 * steps + 256);
      // Every request reports its first token when its prefill (in however many chunks) is
      // done; decode steps are timed from there.
      int64_t started = 0;
      std::vector<int64_t> ids;
      std::vector<int> first(static_cast<size_t>(B), 0);
      const double p0 = now();
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
        for (auto& t : prompt)
          t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.vocab_size));
        ids.push_back(engine->add_request(prompt, p, [&, b](const RequestOutput& o) {
          if (!o.token_ids.empty() && !first[b]++) ++started;
          if (o.finish_reason == FinishReason::kError) throw Error("request failed: " + o.error);
        }));
      }
      while (started < B && engine->step()) {
      }
      // Prefill: from submitting the prompts to the last first token (the scheduler's prompt
      // chunks, with whatever decode tokens of already started requests share their steps).
      const double prefill_s = now() - p0;
      if (!engine->healthy()) fail("engine step failed: ", engine->last_error());
      // Each decode step on its own clock. The steady state is the steps that replayed a recorded
      // graph; a step that records one (the first at a batch or context bucket: once per bucket
      // in a server's life) runs eagerly and is counted only in "all steps".
      double all_s = 0, replay_s = 0;
      int64_t timed = 0, replays = 0;
      for (int64_t i = 0; i < steps; ++i) {
        const int64_t r0 = engine->stats().graph_replays;
        const double t = now();
        if (!engine->step()) break;
        const double d = now() - t;
        ++timed;
        all_s += d;
        if (engine->stats().graph_replays > r0) replay_s += d, ++replays;
      }
      for (int64_t id : ids) engine->abort(id);
      while (engine->step()) {
      }
      if (!engine->healthy()) fail("engine step failed: ", engine->last_error());
      const double step_s = replays ? replay_s / static_cast<double>(replays)
                                    : all_s / static_cast<double>(std::max<int64_t>(timed, 1));
      std::printf("%6lld %10.2f %12.1f %12.2f %14lld %9lld/%lld %12.1f %14.0f\n",
                  static_cast<long long>(B), 1e3 * step_s,
                  step_s > 0 ? static_cast<double>(B) / step_s : 0.0,
                  timed ? 1e3 * all_s / static_cast<double>(timed) : 0.0,
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
