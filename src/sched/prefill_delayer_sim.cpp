#include "sched/prefill_delayer_sim.h"

#include <algorithm>
#include <deque>
#include <random>
#include <vector>

namespace duet {

namespace {

struct SimRequest {
  int64_t arrival = 0;
  int32_t prompt = 0, output = 0;
  int32_t prefilled = 0, generated = 0;
};

struct SimRank {
  std::deque<SimRequest> waiting;
  std::vector<SimRequest> running;  // prefilling (prefilled < prompt) or decoding
  int64_t kv_reserved = 0;
};

bool fits(const DelayerSimConfig& c, const SimRank& rank, int64_t extra_seqs, int64_t extra_kv,
          const SimRequest& r) {
  return static_cast<int64_t>(rank.running.size()) + extra_seqs < c.max_seqs &&
         rank.kv_reserved + extra_kv + r.prompt + r.output <= c.kv_tokens;
}

DelayerRecord make_record(const DelayerSimConfig& c, const SimRank& rank) {
  DelayerRecord rec;
  int64_t seqs = 0, kv = 0, pending = 0;
  for (const SimRequest& r : rank.waiting) {
    if (!fits(c, rank, seqs, kv, r)) break;  // admission is FCFS: the head blocks the rest
    ++seqs;
    kv += r.prompt + r.output;
    pending += r.prompt;
    if (pending >= c.token_budget) break;
  }
  rec.num_prefillable = static_cast<int32_t>(seqs);
  rec.pending_prefill_tokens = static_cast<int32_t>(std::min<int64_t>(pending, c.token_budget));
  for (const SimRequest& r : rank.running) rec.running_decode_seqs += r.prefilled == r.prompt;
  rec.kv_usage_permille = static_cast<int32_t>(rank.kv_reserved * 1000 / c.kv_tokens);
  return rec;
}

}  // namespace

DelayerSimResult simulate_delayer(const DelayerSimConfig& c, PrefillGate& gate) {
  std::mt19937_64 rng(c.seed);
  std::poisson_distribution<int> arrivals(c.arrival_rate);
  std::uniform_int_distribution<int32_t> prompt_len(c.prompt_min, c.prompt_max);
  std::uniform_int_distribution<int32_t> output_len(c.output_min, c.output_max);
  std::vector<SimRank> ranks(c.dp);
  std::vector<int64_t> ttft;
  DelayerSimResult res;
  res.delayer = gate.name();
  int64_t hold_run = 0;

  for (int64_t step = 0; step < c.steps; ++step) {
    for (SimRank& rank : ranks) {
      for (int k = arrivals(rng); k > 0; --k) {
        SimRequest r;
        r.arrival = step;
        r.prompt = prompt_len(rng);
        r.output = output_len(rng);
        rank.waiting.push_back(r);
      }
    }
    std::vector<DelayerRecord> records;
    for (const SimRank& rank : ranks) records.push_back(make_record(c, rank));
    const bool allow = gate.decide(records);
    hold_run = allow ? 0 : hold_run + 1;
    res.held_steps += !allow;
    res.max_consecutive_hold = std::max(res.max_consecutive_hold, hold_run);

    int prefilling_ranks = 0;
    for (SimRank& rank : ranks) {
      int64_t budget = c.token_budget;
      bool prefilled = false;
      // Decodes first (one token each), then chunks already started, then new admissions.
      for (SimRequest& r : rank.running) {
        if (r.prefilled == r.prompt && budget > 0) {
          ++r.generated;
          --budget;
        }
      }
      auto run_chunk = [&](SimRequest& r) {
        const int32_t chunk =
            static_cast<int32_t>(std::min<int64_t>(r.prompt - r.prefilled, budget));
        if (chunk <= 0) return;
        r.prefilled += chunk;
        budget -= chunk;
        prefilled = true;
        if (r.prefilled == r.prompt) {
          r.generated = 1;  // the prefill step samples the first token
          ttft.push_back(step - r.arrival + 1);
        }
      };
      for (SimRequest& r : rank.running)
        if (r.prefilled < r.prompt) run_chunk(r);
      while (allow && budget > 0 && !rank.waiting.empty() &&
             fits(c, rank, 0, 0, rank.waiting.front())) {
        SimRequest r = rank.waiting.front();
        rank.waiting.pop_front();
        rank.kv_reserved += r.prompt + r.output;
        run_chunk(r);
        rank.running.push_back(r);
      }
      prefilling_ranks += prefilled;
      // Retire finished sequences.
      auto done = [&](const SimRequest& r) {
        return r.prefilled == r.prompt && r.generated >= r.output;
      };
      for (const SimRequest& r : rank.running)
        if (done(r)) rank.kv_reserved -= r.prompt + r.output;
      std::erase_if(rank.running, done);
    }
    res.prefill_steps += prefilling_ranks > 0;
    res.aligned_steps += prefilling_ranks == c.dp;
  }

  for (const SimRank& rank : ranks) {
    res.queued += static_cast<int64_t>(rank.waiting.size());
    for (const SimRequest& r : rank.running) res.queued += r.prefilled < r.prompt;
  }
  res.served = static_cast<int64_t>(ttft.size());
  if (!ttft.empty()) {
    double sum = 0;
    for (int64_t t : ttft) sum += static_cast<double>(t);
    res.mean_ttft = sum / static_cast<double>(ttft.size());
    std::sort(ttft.begin(), ttft.end());
    res.p99_ttft = static_cast<double>(ttft[(ttft.size() * 99) / 100]);
  }
  return res;
}

}  // namespace duet
