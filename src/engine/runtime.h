// Runtime: what one engine serves with: the loaded model, its tokenizer and sampling
// defaults, the latent cache sized from the options, the block pool and the scheduler.
#pragma once

#include <memory>
#include <vector>

#include "engine/engine.h"
#include "kvcache/block_pool.h"
#include "model/latent_cache.h"
#include "model/loaded_model.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace duet {

class Runtime {
 public:
  explicit Runtime(const EngineOptions& options);

  const ModelConfig& config() const { return model_.config; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  SamplingParams default_sampling() const { return default_sampling_; }
  int64_t max_model_len() const { return max_model_len_; }
  Scheduler& scheduler() { return *scheduler_; }
  const Scheduler& scheduler() const { return *scheduler_; }

  // Throws duet::Error when the request can never run: empty or too long prompt, ids out of
  // range, invalid sampling values, or more KV than the whole pool holds.
  void validate(const std::vector<int32_t>& prompt, const SamplingParams& params) const;
  void forward(const ForwardBatch& batch, std::vector<float>& logits);

 private:
  LoadedModel model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  SamplingParams default_sampling_;
  int64_t max_model_len_ = 0;
  std::unique_ptr<LatentCache> cache_;
  std::unique_ptr<BlockPool> pool_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace duet
