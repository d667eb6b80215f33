// Compares prefill delayers on a simulated DP group: TTFT (in scheduling steps) against the share
// of prefill steps that run on every rank together. Prints a markdown table for
// docs/PREFILL_DELAYER.md. Usage: prefill_delayer_sim [dp] [steps] [seed]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sched/prefill_delayer.h"
#include "sched/prefill_delayer_sim.h"

int main(int argc, char** argv) {
  duet::DelayerSimConfig base;
  base.dp = argc > 1 ? std::atoi(argv[1]) : 4;
  base.steps = argc > 2 ? std::atoi(argv[2]) : 20000;
  base.seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  std::printf(
      "dp %d, %d steps, seed %llu, budget %d tokens/rank/step, max %d seqs/rank, prompt "
      "%d-%d, output %d-%d\n\n",
      base.dp, base.steps, static_cast<unsigned long long>(base.seed), base.token_budget,
      base.max_seqs, base.prompt_min, base.prompt_max, base.output_min, base.output_max);
  std::printf(
      "| load (req/step/rank) | align | delayer | served | queued | mean TTFT | p99 TTFT "
      "| prefill steps | all ranks prefill | held steps |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (double rate : {0.05, 0.15, 0.3}) {
    for (int alignment : {1, 2}) {
      duet::DelayerSimConfig c = base;
      c.arrival_rate = rate;
      duet::PrefillDelayerConfig pc;
      pc.alignment = alignment;
      pc.token_budget = c.token_budget;
      std::vector<std::pair<std::string, std::unique_ptr<duet::PrefillGate>>> gates;
      if (alignment == 1) gates.emplace_back("none", std::make_unique<duet::AlwaysAllow>());
      gates.emplace_back("simple",
                         std::make_unique<duet::SimpleAlignDelayer>(alignment, pc.max_hold_ticks));
      gates.emplace_back("tick", std::make_unique<duet::PrefillDelayer>(pc));
      // The same with the under-utilisation rule: no holding while every rank's KV < 10%.
      duet::PrefillDelayerConfig low = pc;
      low.kv_low_watermark_permille = 100;
      gates.emplace_back("tick, low-wm 100", std::make_unique<duet::PrefillDelayer>(low));
      for (auto& [label, gate] : gates) {
        const duet::DelayerSimResult r = duet::simulate_delayer(c, *gate);
        std::printf("| %.2f | %d | %s | %lld | %lld | %.1f | %.0f | %lld | %.1f%% | %lld |\n", rate,
                    alignment, label.c_str(), static_cast<long long>(r.served),
                    static_cast<long long>(r.queued), r.mean_ttft, r.p99_ttft,
                    static_cast<long long>(r.prefill_steps), 100.0 * r.aligned_share(),
                    static_cast<long long>(r.held_steps));
      }
    }
  }
  return 0;
}
