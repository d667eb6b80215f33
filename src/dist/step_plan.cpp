#include "dist/step_plan.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"

namespace duet {

int64_t StepPlan::gathered_rows(int m) const {
  DUET_CHECK(m >= 0 && m < static_cast<int>(padded.size()), "micro-batch ", m);
  return std::accumulate(padded[m].begin(), padded[m].end(), int64_t{0});
}

StepPlan plan_step(const std::vector<DpRecord>& records, const TboConfig& tbo, GatherMode mode) {
  const size_t n = records.size();
  if (n == 0) fail("plan_step: no DP records");
  int64_t total = 0, max_tokens = 0;
  bool any_prefill = false, all_eligible = true;
  for (size_t r = 0; r < n; ++r) {
    const DpRecord& rec = records[r];
    if (rec.num_tokens < 0 || rec.num_seqs < 0 || rec.tbo_split < 0 ||
        rec.tbo_split > rec.num_tokens) {
      fail("plan_step: malformed record of DP rank ", r, ": num_tokens ", rec.num_tokens,
           ", num_seqs ", rec.num_seqs, ", tbo_split ", rec.tbo_split);
    }
    total += rec.num_tokens;
    max_tokens = std::max<int64_t>(max_tokens, rec.num_tokens);
    any_prefill = any_prefill || rec.has_prefill != 0;
    all_eligible = all_eligible && rec.tbo_eligible != 0;
  }

  StepPlan plan;
  plan.gather = mode;
  plan.idle = total == 0;

  // Rows each rank would put in A and B if TBO runs.
  std::vector<int64_t> a(n), b(n);
  int64_t sum_a = 0, sum_b = 0;
  for (size_t r = 0; r < n; ++r) {
    a[r] = records[r].tbo_split;
    b[r] = records[r].num_tokens - a[r];
    sum_a += a[r];
    sum_b += b[r];
  }
  const int64_t threshold = any_prefill ? tbo.min_tokens_prefill : tbo.min_tokens_decode;
  plan.tbo = !plan.idle && tbo.enabled && all_eligible && max_tokens >= threshold && sum_a > 0 &&
             sum_b > 0;
  plan.num_micro_batches = plan.tbo ? 2 : 1;

  if (plan.tbo) {
    plan.counts = {a, b};
  } else {
    std::vector<int64_t> all(n);
    for (size_t r = 0; r < n; ++r) all[r] = records[r].num_tokens;
    plan.counts = {all};
  }
  for (const auto& c : plan.counts) {
    std::vector<int64_t> p = c;
    if (mode == GatherMode::kPadded) p.assign(n, *std::max_element(c.begin(), c.end()));
    std::vector<int64_t> off(n, 0);
    for (size_t r = 1; r < n; ++r) off[r] = off[r - 1] + p[r - 1];
    plan.padded.push_back(std::move(p));
    plan.offsets.push_back(std::move(off));
  }
  return plan;
}

}  // namespace duet
