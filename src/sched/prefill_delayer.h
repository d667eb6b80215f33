// PrefillDelayer: with DP attention, holds back new prefills until the DP ranks are aligned
// (every rank has prefill to run), so steps are all-prefill or all-decode and the MoE gather is
// not padded to one rank's prefill while the others decode. Tick-based ("Nagle's algorithm for
// prefill"): decide() runs once per scheduling pass on the records every rank contributed to ONE
// exchange, and its state (held ticks, stall counter, last pending) depends only on that
// sequence of gathered records. Every rank therefore takes the same decision on the same tick;
// no wall clock is ever read (per-rank clocks made ranks disagree in earlier designs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duet {

// What each DP rank contributes per scheduling pass (fixed size: exchanged as raw bytes).
struct DelayerRecord {
  int32_t num_prefillable = 0;         // Scheduler::count_admittable_prefills()
  int32_t pending_prefill_tokens = 0;  // waiting prompt tokens, capped at the token budget
  int32_t running_decode_seqs = 0;
  int32_t kv_usage_permille = 0;  // used KV blocks / total, in 1/1000
};
static_assert(sizeof(DelayerRecord) == 4 * sizeof(int32_t), "exchanged as raw bytes");

struct PrefillDelayerConfig {
  int32_t alignment = 1;        // admittable prefills each rank needs: 2 with TBO (one per
                                // micro-batch), else 1
  int32_t token_budget = 2048;  // per-rank max_num_batched_tokens: the denominator of the fill
  double target_fill = 0.7;     // aligned and this full (pending / (ranks * budget)): fire
  int32_t stall_ticks = 3;      // aligned and pending stopped growing this many passes: fire
  int32_t max_hold_ticks = 30;  // TTFT bound: never hold more consecutive passes than this
  // Memory pressure. Releasing prefill is a permission (the scheduler still admits only what
  // the block pool holds), but admitting new sequences on a rank whose KV is nearly full takes
  // the blocks its running decodes need next and causes preemption and recompute. So a rank at
  // or above the high watermark does NOT force prefill; instead the early-release stall rule is
  // suspended while any rank is above it: prefill is released only when the ranks are aligned
  // and the budget is target_fill full, or at max_hold_ticks (TTFT stays bounded).
  int32_t kv_high_watermark_permille = 900;
  // Under-utilisation: when EVERY rank's KV usage is below this, decode batches are small and
  // holding prefill only idles the GPUs, so prefill is forced. 0 disables the rule.
  int32_t kv_low_watermark_permille = 0;
};

// The decision interface, so the engine and the simulation can swap policies.
class PrefillGate {
 public:
  virtual ~PrefillGate() = default;
  // All ranks' records of this pass, in rank order -> allow new prefills this pass. Must be
  // called exactly once per scheduling pass on every rank (also by ranks with an empty queue).
  virtual bool decide(const std::vector<DelayerRecord>& all) = 0;
  virtual std::string name() const = 0;
};

// Why the last decide() returned what it did (for logs and tests).
enum class DelayReason {
  kNothingPrefillable,  // vacuous: allow
  kNoDecodeRunning,     // nothing to protect: allow
  kLowKvUsage,          // every rank under-utilised: allow
  kMaxHold,             // TTFT bound reached: allow
  kTargetFill,          // aligned and full enough: allow
  kStalled,             // aligned and pending stopped growing: allow
  kNotAligned,          // some rank lacks prefill: hold
  kFilling,             // aligned, still filling: hold
};

class PrefillDelayer : public PrefillGate {
 public:
  explicit PrefillDelayer(PrefillDelayerConfig config);
  bool decide(const std::vector<DelayerRecord>& all) override;
  std::string name() const override { return "tick"; }

  int32_t held_ticks() const { return held_; }
  DelayReason last_reason() const { return reason_; }

 private:
  bool fire(DelayReason why);
  bool hold(DelayReason why);

  PrefillDelayerConfig config_;
  int32_t held_ = 0;           // consecutive passes held
  int32_t stall_ = 0;          // consecutive passes the aligned pending total did not grow
  int64_t last_pending_ = -1;  // pending total of the previous pass (-1: none yet)
  DelayReason reason_ = DelayReason::kNothingPrefillable;
};

// The simple rule: allow when every rank has `alignment` admittable prefills (or none has any),
// or after `max_hold_ticks` consecutive held passes.
class SimpleAlignDelayer : public PrefillGate {
 public:
  SimpleAlignDelayer(int32_t alignment, int32_t max_hold_ticks)
      : alignment_(alignment), max_hold_(max_hold_ticks) {}
  bool decide(const std::vector<DelayerRecord>& all) override;
  std::string name() const override { return "simple"; }
  int32_t held_ticks() const { return held_; }

 private:
  int32_t alignment_, max_hold_;
  int32_t held_ = 0;
};

// No delaying at all (dp = 1, or the baseline in the simulation).
class AlwaysAllow : public PrefillGate {
 public:
  bool decide(const std::vector<DelayerRecord>&) override { return true; }
  std::string name() const override { return "none"; }
};

}  // namespace duet
