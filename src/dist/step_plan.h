// The one agreement per step. Every DP rank contributes a fixed-size DpRecord to one host
// all-gather; plan_step() turns the gathered records into every decision that changes the
// sequence or the shapes of collectives (skip the forward, TBO on/off, rows of each rank in each
// micro-batch, padding). It is a pure function of the gathered data, so every rank computes the
// identical plan and issues the identical collectives: no local threshold ever decides alone.
#pragma once

#include <cstdint>
#include <vector>

namespace duet {

// What each DP rank contributes to the one host all-gather. Fixed size, int32 only, so the
// record can be exchanged as raw bytes.
struct DpRecord {
  int32_t num_tokens = 0;  // tokens this rank runs this step (0: idle)
  int32_t num_seqs = 0;
  int32_t has_prefill = 0;  // any prefill tokens in the batch
  int32_t tbo_split = 0;    // tokens the rank would put in micro-batch A if TBO runs
  int32_t tbo_eligible = 1;
  int32_t prefill_ready = 0;  // admittable head prefills (for the delayer), informational
};
static_assert(sizeof(DpRecord) == 6 * sizeof(int32_t), "DpRecord is exchanged as raw bytes");

struct TboConfig {
  bool enabled = false;
  // TBO pays off only when there is enough work to hide a collective behind: thresholds on the
  // largest per-rank token count (vLLM defaults: 32 decode, 512 prefill).
  int32_t min_tokens_decode = 32;
  int32_t min_tokens_prefill = 512;
};

// kPadded: every rank's rows padded to the max over ranks (equal-size collectives, graphs);
// kVariable: each rank contributes exactly its real rows (all_gather_v).
enum class GatherMode { kPadded, kVariable };

struct StepPlan {
  bool idle = true;  // no rank has tokens: skip the forward entirely (all ranks agree)
  bool tbo = false;
  int num_micro_batches = 1;  // 2 with TBO
  GatherMode gather = GatherMode::kVariable;
  // counts[m][r]: real rows of rank r in micro-batch m; padded[m][r]: rows in the gather buffer
  // (== counts for variable mode, == max over ranks for padded mode); offsets[m][r]: first row
  // of rank r in micro-batch m's gathered buffer.
  std::vector<std::vector<int64_t>> counts, padded, offsets;
  int64_t gathered_rows(int m) const;

  bool operator==(const StepPlan&) const = default;
};

// TBO runs when (all decided from `records` only):
//   - tbo.enabled, and every rank reports tbo_eligible (AND), and
//   - the threshold is met: max over ranks of num_tokens >= min_tokens_prefill when any rank has
//     prefill, else >= min_tokens_decode. The max (not each rank's own count) makes ranks on
//     both sides of the threshold take one global decision; a rank below it still splits, and
//     a rank with a tiny batch simply has a small or empty micro-batch, and
//   - both micro-batches are non-empty on some rank (sum of A rows > 0 and sum of B rows > 0),
//     so no step runs a micro-batch that is empty everywhere.
// Otherwise micro-batch 0 holds every rank's tokens. Throws duet::Error on malformed records
// (negative counts, split outside [0, num_tokens]); every rank throws identically.
StepPlan plan_step(const std::vector<DpRecord>& records, const TboConfig& tbo, GatherMode mode);

}  // namespace duet
