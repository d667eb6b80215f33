#include "exec/decode_graphs.h"

#include <algorithm>

#include "common/log.h"

namespace duet {
namespace {

// Padded batch sizes: dense at small sizes, where a pad row costs relatively most.
constexpr int64_t kBuckets[] = {1,  2,  4,   8,   16,  24,  32,  48, 64,
                                80, 96, 112, 128, 160, 192, 224, 256};

// Context bucket: the longest sequence's cached tokens rounded up to a power of two (at least
// one block), so a graph serves every step until the longest context doubles.
int64_t context_bucket(int64_t kv) {
  int64_t b = kKvBlockSize;
  while (b < kv) b *= 2;
  return b;
}

}  // namespace

int64_t DecodeGraphs::batch_bucket(int64_t seqs) {
  for (int64_t b : kBuckets)
    if (b >= seqs) return b;
  return 0;
}

DecodeGraphs::DecodeGraphs(DeepseekModel& model, LatentCache& cache, int32_t scratch_block)
    : model_(model), cache_(cache), scratch_block_(scratch_block) {
  DUET_CHECK(scratch_block >= 0 && scratch_block < cache.num_blocks(), "scratch block ",
             scratch_block, " is not a block of the cache");
}

bool DecodeGraphs::run(const ForwardBatch& batch, StepOutput& out) {
  Backend& be = model_.backend();
  if (disabled_ || !be.can_capture()) return false;
  const int64_t S = static_cast<int64_t>(batch.seqs.size());
  const int64_t B = batch_bucket(S);
  if (S == 0 || B == 0 || batch.num_tokens() != S ||
      static_cast<int64_t>(batch.logit_rows.size()) != S)
    return false;
  int64_t max_kv = 0;
  for (int64_t i = 0; i < S; ++i) {
    const SeqInBatch& s = batch.seqs[i];
    if (!s.decode || s.num_new_tokens != 1 || batch.logit_rows[i] != i) return false;
    max_kv = std::max<int64_t>(max_kv, s.num_cached + 1);
  }
  const int64_t K = context_bucket(max_kv);
  if (K > cache_.num_blocks() * kKvBlockSize) return false;

  // The padded batch: the real sequences, then pad sequences of one token each.
  padded_ = batch;
  padded_.token_ids.resize(static_cast<size_t>(B), 0);
  padded_.logit_rows.resize(static_cast<size_t>(B));
  for (int64_t i = S; i < B; ++i) {
    padded_.logit_rows[i] = static_cast<int32_t>(i);
    SeqInBatch pad;
    pad.num_new_tokens = 1;
    pad.num_cached = 0;
    pad.decode = true;
    pad.block_ids = {scratch_block_};
    padded_.seqs.push_back(std::move(pad));
  }

  // One set of buffers per batch bucket, shared by its context buckets' graphs.
  MicroBatch& mb = buffers_[B];
  Entry& e = entries_[{B, K}];
  model_.upload(mb, padded_, K / kKvBlockSize);
  // Launches are planned for the context bucket (the host mirror only; the device copy holds
  // the true lengths), so the eager run below and every replay share one configuration.
  std::fill(mb.h_kv_len.begin(), mb.h_kv_len.end(), static_cast<int32_t>(K));
  if (e.graph &&
      (e.workspace_generation != be.workspace_generation() || e.buffer_generation != mb.generation))
    e.graph.reset();
  if (e.graph) {
    e.graph->replay();
    ++replays_;
  } else {
    // Eager run of this very step: it grows every buffer the shape needs, so recording
    // allocates nothing; then the step's graph is recorded for the next steps.
    model_.embed(mb);
    model_.layers(mb, cache_);
    model_.lm_head(mb);
    record(e, mb);
  }
  // Sampling stays outside the graph: its settings change every step.
  model_.finish_step(mb, out, S);
  return true;
}

void DecodeGraphs::record(Entry& e, MicroBatch& mb) {
  Backend& be = model_.backend();
  be.begin_capture();
  try {
    model_.embed(mb);
    model_.layers(mb, cache_);
    model_.lm_head(mb);
  } catch (const std::exception& ex) {
    // End the broken recording so the stream takes work again; its own error (the recording
    // was invalidated) says nothing beyond ex, which is reported below.
    try {
      be.end_capture();
    } catch (const std::exception&) {
    }
    disabled_ = true;
    log_warn("decode graphs disabled: recording failed: ", ex.what());
    return;
  }
  e.graph = be.end_capture();
  e.workspace_generation = be.workspace_generation();
  e.buffer_generation = mb.generation;
  ++recordings_;
}

}  // namespace duet
