// A step-level simulation of DP ranks scheduling independently behind one PrefillGate: Poisson
// arrivals routed uniformly at random to ranks, random prompt/output lengths, a per-rank token
// budget and sequence limit, chunked prefill, one decode token per running sequence per step.
// Each step every rank contributes its DelayerRecord, the gate decides once, and ranks admit new
// prefills only when allowed (chunks already started always continue, as in Scheduler). Used to
// compare delayers on TTFT (in steps) against how often prefill steps are aligned.
#pragma once

#include <cstdint>
#include <string>

#include "sched/prefill_delayer.h"

namespace duet {

struct DelayerSimConfig {
  int dp = 4;
  int steps = 4000;
  double arrival_rate = 0.1;  // requests per step per rank (Poisson)
  int prompt_min = 64, prompt_max = 1024;
  int output_min = 16, output_max = 256;
  int token_budget = 1024;         // per-rank tokens per step (decode + prefill)
  int max_seqs = 64;               // per-rank running sequences
  int64_t kv_tokens = 128 * 1024;  // per-rank KV capacity; prompt + output reserved at admission
  uint64_t seed = 1;
};

struct DelayerSimResult {
  std::string delayer;
  int64_t served = 0;                  // requests that got their first token
  int64_t queued = 0;                  // requests still waiting for their first token at the end
  double mean_ttft = 0, p99_ttft = 0;  // steps from arrival to first token (inclusive)
  int64_t prefill_steps = 0;           // steps where at least one rank ran prefill tokens
  int64_t aligned_steps = 0;           // ... where every rank did
  int64_t held_steps = 0;              // steps where the gate said hold
  int64_t max_consecutive_hold = 0;
  double aligned_share() const {
    return prefill_steps ? static_cast<double>(aligned_steps) / prefill_steps : 0.0;
  }
};

// Deterministic for a given config (seed) and gate.
DelayerSimResult simulate_delayer(const DelayerSimConfig& config, PrefillGate& gate);

}  // namespace duet
