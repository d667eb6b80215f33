#include "sched/prefill_delayer.h"

#include <algorithm>

#include "common/error.h"

namespace duet {

PrefillDelayer::PrefillDelayer(PrefillDelayerConfig config) : config_(config) {
  if (config_.alignment < 1 || config_.token_budget < 1 || config_.max_hold_ticks < 0 ||
      config_.stall_ticks < 1 || config_.target_fill <= 0.0) {
    fail("PrefillDelayer: invalid config (alignment ", config_.alignment, ", token budget ",
         config_.token_budget, ", max hold ", config_.max_hold_ticks, ", stall ticks ",
         config_.stall_ticks, ", target fill ", config_.target_fill, ")");
  }
}

bool PrefillDelayer::fire(DelayReason why) {
  reason_ = why;
  held_ = 0;
  stall_ = 0;
  last_pending_ = -1;
  return true;
}

bool PrefillDelayer::hold(DelayReason why) {
  reason_ = why;
  ++held_;
  return false;
}

bool PrefillDelayer::decide(const std::vector<DelayerRecord>& all) {
  if (all.empty()) fail("PrefillDelayer: no records");
  int64_t prefillable = 0, pending = 0, decode = 0;
  int32_t max_kv = 0;
  bool aligned = true;
  for (const DelayerRecord& r : all) {
    prefillable += std::max(r.num_prefillable, 0);
    pending += std::clamp(r.pending_prefill_tokens, 0, config_.token_budget);
    decode += std::max(r.running_decode_seqs, 0);
    max_kv = std::max(max_kv, r.kv_usage_permille);
    aligned = aligned && r.num_prefillable >= config_.alignment;
  }
  // Release rules that need no alignment.
  if (prefillable == 0) return fire(DelayReason::kNothingPrefillable);
  if (decode == 0) return fire(DelayReason::kNoDecodeRunning);
  if (max_kv < config_.kv_low_watermark_permille) return fire(DelayReason::kLowKvUsage);
  if (held_ >= config_.max_hold_ticks) return fire(DelayReason::kMaxHold);
  // Stall tracking runs on every held pass so it evolves identically on every rank.
  stall_ = last_pending_ >= 0 && pending <= last_pending_ ? stall_ + 1 : 0;
  last_pending_ = pending;
  if (!aligned) return hold(DelayReason::kNotAligned);
  const double fill =
      static_cast<double>(pending) / (static_cast<double>(all.size()) * config_.token_budget);
  if (fill >= config_.target_fill) return fire(DelayReason::kTargetFill);
  const bool pressure = max_kv >= config_.kv_high_watermark_permille;
  if (!pressure && stall_ >= config_.stall_ticks) return fire(DelayReason::kStalled);
  return hold(DelayReason::kFilling);
}

bool SimpleAlignDelayer::decide(const std::vector<DelayerRecord>& all) {
  if (all.empty()) fail("SimpleAlignDelayer: no records");
  bool any = false, aligned = true;
  for (const DelayerRecord& r : all) {
    any = any || r.num_prefillable > 0;
    aligned = aligned && r.num_prefillable >= alignment_;
  }
  if (!any || aligned || held_ >= max_hold_) {
    held_ = 0;
    return true;
  }
  ++held_;
  return false;
}

}  // namespace duet
