#include "sched/scheduler.h"

#include <algorithm>

#include "backend/op_params.h"
#include "common/error.h"

namespace duet {

namespace {
int64_t blocks_for(int64_t tokens) {
  return (tokens + kKvBlockSize - 1) / kKvBlockSize;
}
}  // namespace

Scheduler::Scheduler(SchedulerConfig config, BlockPool& pool) : config_(config), pool_(pool) {
  DUET_CHECK(config_.max_num_seqs > 0 && config_.max_num_batched_tokens > 0);
}

void Scheduler::add(Sequence* seq) {
  seq->arrival = next_arrival_++;
  seq->status = SeqStatus::kWaiting;
  waiting_.push_back(seq);
}

bool Scheduler::fits_pool(int64_t num_tokens) const {
  return blocks_for(num_tokens) <= pool_.num_blocks();
}

void Scheduler::insert_waiting(Sequence* seq) {
  seq->status = SeqStatus::kWaiting;
  auto it = std::lower_bound(waiting_.begin(), waiting_.end(), seq,
                             [](Sequence* a, Sequence* b) { return a->arrival < b->arrival; });
  waiting_.insert(it, seq);
}

bool Scheduler::ensure_blocks(Sequence* seq, int64_t num_tokens) {
  const size_t need = static_cast<size_t>(blocks_for(num_tokens));
  const size_t had = seq->blocks.size();
  while (seq->blocks.size() < need) {
    const int32_t b = pool_.allocate();
    if (b < 0) {
      // Roll back this call's allocations: a sequence either gets all it needs or nothing.
      while (seq->blocks.size() > had) {
        pool_.release(seq->blocks.back());
        seq->blocks.pop_back();
      }
      return false;
    }
    seq->blocks.push_back(b);
  }
  return true;
}

void Scheduler::release_blocks(Sequence* seq) {
  // Release in reverse so the tail of a prefix is evicted before its head.
  for (auto it = seq->blocks.rbegin(); it != seq->blocks.rend(); ++it) pool_.release(*it);
  seq->blocks.clear();
  seq->block_hashes.clear();
  seq->num_published = 0;
  seq->num_computed = 0;
}

void Scheduler::preempt(Sequence* seq) {
  release_blocks(seq);
  ++seq->num_preemptions;
  ++preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  insert_waiting(seq);
}

int32_t Scheduler::match_prefix(Sequence* seq) {
  // Only blocks wholly inside the first n-1 tokens: the last token is always computed, so no
  // step ever writes into a shared block.
  const int64_t full = (static_cast<int64_t>(seq->num_tokens()) - 1) / kKvBlockSize;
  if (full <= 0 || !pool_.prefix_caching()) return 0;
  std::vector<uint64_t> hashes = block_hashes(seq->tokens, full);
  std::vector<int32_t> hit = pool_.match_prefix(hashes);
  for (int32_t b : hit) pool_.acquire(b);
  seq->blocks = hit;
  seq->block_hashes.assign(hashes.begin(), hashes.begin() + static_cast<int64_t>(hit.size()));
  seq->num_published = static_cast<int32_t>(hit.size());
  seq->num_computed = static_cast<int32_t>(hit.size() * kKvBlockSize);
  return seq->num_computed;
}

ScheduledBatch Scheduler::schedule(bool allow_new_prefill) {
  ScheduledBatch batch;
  int64_t budget = config_.max_num_batched_tokens;
  // 1. Running sequences, oldest first.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    if (static_cast<int64_t>(batch.seqs.size()) >= config_.max_num_seqs) break;
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(seq->num_uncomputed(), budget));
    bool ok = ensure_blocks(seq, static_cast<int64_t>(seq->num_computed) + n);
    while (!ok) {
      // Free blocks by preempting the newest running sequence not yet scheduled this step.
      Sequence* victim = running_.back();
      preempt(victim);
      batch.preempted.push_back(victim);
      if (victim == seq) break;
      ok = ensure_blocks(seq, static_cast<int64_t>(seq->num_computed) + n);
    }
    if (!ok) continue;  // seq itself was preempted; running_[i] is now the next one
    batch.seqs.push_back({seq, n, seq->num_computed + n == seq->num_tokens()});
    batch.num_tokens += n;
    budget -= n;
    ++i;
  }
  // 2. Waiting sequences in arrival order (none after a preemption: memory is short).
  while (allow_new_prefill && batch.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_.front();
    const bool first = !seq->admitted_once;
    const int32_t hit = match_prefix(seq);
    if (first) {
      prefix_query_tokens_ += seq->num_prompt_tokens;
      prefix_hit_tokens_ += std::min(hit, seq->num_prompt_tokens);
      seq->num_cached_prompt = std::min(hit, seq->num_prompt_tokens);
    }
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(seq->num_uncomputed(), budget));
    if (!ensure_blocks(seq, static_cast<int64_t>(seq->num_computed) + n)) {
      release_blocks(seq);  // give the prefix hits back; try again next step (FCFS: no skipping)
      break;
    }
    waiting_.pop_front();
    seq->admitted_once = true;
    seq->status = SeqStatus::kRunning;
    running_.push_back(seq);
    batch.seqs.push_back({seq, n, seq->num_computed + n == seq->num_tokens()});
    batch.num_tokens += n;
    budget -= n;
  }
  return batch;
}

void Scheduler::on_step_done(const ScheduledBatch& batch) {
  for (const ScheduledSeq& s : batch.seqs) {
    Sequence* seq = s.seq;
    seq->num_computed += s.num_new_tokens;
    // Publish blocks whose 64 tokens all have their KV now.
    const int64_t full = seq->num_computed / kKvBlockSize;
    if (full > seq->num_published && pool_.prefix_caching()) {
      seq->block_hashes = block_hashes(seq->tokens, full, seq->block_hashes);
      for (int64_t b = seq->num_published; b < full; ++b)
        pool_.publish(seq->blocks[b], seq->block_hashes[b]);
      seq->num_published = static_cast<int32_t>(full);
    }
  }
}

void Scheduler::remove(Sequence* seq) {
  if (auto it = std::find(running_.begin(), running_.end(), seq); it != running_.end())
    running_.erase(it);
  if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end())
    waiting_.erase(it);
  release_blocks(seq);
  seq->status = SeqStatus::kFinished;
}

int64_t Scheduler::pending_prefill_tokens(int64_t cap) const {
  int64_t n = 0;
  for (const Sequence* seq : waiting_) {
    n += seq->num_uncomputed();
    if (n >= cap) return cap;
  }
  return n;
}

int64_t Scheduler::count_admittable_prefills() const {
  int64_t free = pool_.num_free();
  int64_t budget = config_.max_num_batched_tokens;
  int64_t slots = config_.max_num_seqs - static_cast<int64_t>(running_.size());
  int64_t count = 0;
  for (const Sequence* seq : waiting_) {
    if (budget <= 0 || slots <= 0) break;
    const int64_t n = std::min<int64_t>(seq->num_uncomputed(), budget);
    const int64_t need = blocks_for(static_cast<int64_t>(seq->num_computed) + n);
    if (need > free) break;
    free -= need;
    budget -= n;
    --slots;
    ++count;
  }
  return count;
}

}  // namespace duet
