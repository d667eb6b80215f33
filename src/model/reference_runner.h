// Runs whole sequences through the model with a private latent cache, one sequence at a time.
// This is the simple, obviously-correct path: `duet logits` uses it, and tests keep it as the
// reference the engine's batched, chunked and cached paths must agree with.
#pragma once

#include <cstdint>
#include <vector>

#include "model/deepseek_model.h"

namespace duet {

class ReferenceRunner {
 public:
  explicit ReferenceRunner(DeepseekModel& model) : model_(model) {}

  // Logits of every position of `ids` in one prefill: [ids.size(), vocab] row-major.
  std::vector<float> prompt_logits(const std::vector<int32_t>& ids);

  // Greedy continuation (ties to the lowest id). With full_recompute every step reruns the
  // whole sequence as one prefill; otherwise it prefills once and decodes one token per step
  // over the cache. Stops after max_tokens or at an id in eos_ids (which is kept).
  std::vector<int32_t> greedy(const std::vector<int32_t>& prompt, int64_t max_tokens,
                              const std::vector<int64_t>& eos_ids, bool full_recompute);

 private:
  DeepseekModel& model_;
};

// Index of the largest value; ties go to the lowest index.
int32_t argmax(const float* v, int64_t n);

}  // namespace duet
