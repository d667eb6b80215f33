// Scheduler: continuous batching over one rank's block pool. Each step it first continues the
// running sequences (one decode token each, or the next chunk of a prefill), then admits waiting
// sequences in arrival order while the token budget, the sequence limit and the free blocks
// allow. When blocks run out, the most recently admitted running sequence is preempted: its
// blocks are released and it returns to the waiting queue (in arrival order) to be recomputed,
// largely from the prefix cache.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "kvcache/block_pool.h"
#include "sched/sequence.h"

namespace duet {

struct SchedulerConfig {
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 2048;
};

struct ScheduledSeq {
  Sequence* seq = nullptr;
  int32_t num_new_tokens = 0;  // tokens computed this step, from seq->num_computed on
  // True when this step's chunk reaches the end of the sequence: its last row is sampled.
  bool samples = false;
};

struct ScheduledBatch {
  std::vector<ScheduledSeq> seqs;
  std::vector<Sequence*> preempted;  // sequences that went back to waiting this step
  int64_t num_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, BlockPool& pool);

  // Queues a new sequence (FCFS).
  void add(Sequence* seq);
  // Whether a sequence of this many tokens could ever hold its KV in the whole pool.
  bool fits_pool(int64_t num_tokens) const;

  // Plans one step. allow_new_prefill = false admits no waiting sequence (the DP prefill
  // delayer holds prefills back until the ranks align).
  ScheduledBatch schedule(bool allow_new_prefill = true);
  // After the step ran: advances num_computed and publishes newly full blocks.
  void on_step_done(const ScheduledBatch& batch);
  // Removes a sequence (finished or aborted) and releases its blocks.
  void remove(Sequence* seq);

  // How many waiting sequences at the head of the queue could start prefilling now.
  int64_t count_admittable_prefills() const;
  // Prompt tokens waiting to be computed, capped at `cap` (the delayer's fill measure).
  int64_t pending_prefill_tokens(int64_t cap) const;
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_preemptions() const { return preemptions_; }
  // Prompt tokens looked up in and served from the prefix cache (at first admission).
  int64_t prefix_query_tokens() const { return prefix_query_tokens_; }
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }
  const BlockPool& pool() const { return pool_; }

 private:
  bool ensure_blocks(Sequence* seq, int64_t num_tokens);
  void release_blocks(Sequence* seq);
  void preempt(Sequence* seq);
  void insert_waiting(Sequence* seq);
  int32_t match_prefix(Sequence* seq);

  SchedulerConfig config_;
  BlockPool& pool_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // admission order
  int64_t next_arrival_ = 0;
  int64_t preemptions_ = 0;
  int64_t prefix_query_tokens_ = 0, prefix_hit_tokens_ = 0;
};

}  // namespace duet
