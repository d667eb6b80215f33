// Runtime: what one engine serves with. The world of dp x tp ranks: each rank holds its shard of
// the model (attention heads split over the tp ranks of its DP group, routed experts over all
// ranks), its latent cache and a StepExecutor; each DP group has one block pool and one
// scheduler. With more than one rank every rank runs on its own thread and the ranks talk
// through ThreadComm; with one rank everything runs inline.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dist/thread_comm.h"
#include "engine/engine.h"
#include "exec/step_executor.h"
#include "kvcache/block_pool.h"
#include "model/latent_cache.h"
#include "model/loaded_model.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace duet {

class Runtime {
 public:
  explicit Runtime(const EngineOptions& options);
  ~Runtime();

  const ModelConfig& config() const { return config_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  SamplingParams default_sampling() const { return default_sampling_; }
  int64_t max_model_len() const { return max_model_len_; }
  int64_t num_groups() const { return static_cast<int64_t>(schedulers_.size()); }
  Scheduler& scheduler(int64_t g) { return *schedulers_[g]; }
  const Scheduler& scheduler(int64_t g) const { return *schedulers_[g]; }
  // Tests: the executors of every rank (world order).
  std::vector<StepExecutor*> executors();
  // Tests: each rank's attention-TP (tp_group) or DP communicator (null where the group has one
  // rank), world order.
  std::vector<const Communicator*> communicators(bool tp_group) const;

  // Throws duet::Error when the request can never run: empty or too long prompt, ids out of
  // range, invalid sampling values, or more KV than a whole pool holds.
  void validate(const std::vector<int32_t>& prompt, const SamplingParams& params) const;
  // One step of every rank: batches[g] is DP group g's batch (may be empty); outputs[g] its
  // sampled tokens and logits. Throws when any rank fails (the others are released, never
  // left hanging).
  void forward(const std::vector<ForwardBatch>& batches, std::vector<StepOutput>& outputs);

 private:
  struct Rank {
    int64_t group = 0, tp_index = 0;
    LoadedModel model;
    std::unique_ptr<LatentCache> cache;
    std::unique_ptr<Communicator> tp_comm, dp_comm;
    std::unique_ptr<StepExecutor> exec;
    std::thread thread;
  };
  void rank_loop(Rank& r);

  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  SamplingParams default_sampling_;
  int64_t max_model_len_ = 0;
  std::vector<std::unique_ptr<ThreadCommGroup>> comm_groups_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<std::unique_ptr<BlockPool>> pools_;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;

  // Step hand-off to rank threads.
  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  const std::vector<ForwardBatch>* batches_ = nullptr;
  std::vector<StepOutput>* outputs_ = nullptr;
  std::string error_;
};

}  // namespace duet
