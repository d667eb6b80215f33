// Turns the scheduler's plan into the model's ForwardBatch. A token's attention form depends
// only on the token: prompt tokens use the expanded (prefill) form, generated tokens fed back
// use the absorbed (decode) form. So a sequence recomputed after preemption, chunked
// differently or served partly from the prefix cache computes every token exactly as before.
#pragma once

#include <vector>

#include "model/forward_batch.h"
#include "sched/scheduler.h"

namespace duet {

struct BuiltBatch {
  ForwardBatch batch;
  std::vector<Sequence*> sampled;  // in the order of batch.logit_rows
};

BuiltBatch build_forward_batch(const ScheduledBatch& plan);

}  // namespace duet
