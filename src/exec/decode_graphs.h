// Decode steps replayed from recorded graphs (CUDA graphs) on a rank without collectives. A
// decode step of Moonlight issues about 25 kernels per layer; at small batches launching them
// costs more than running them, and a replay launches the whole step at once.
//
// A graph is recorded per (batch bucket, context bucket): the batch is padded to the next
// bucket size with pad sequences (token 0 at position 0 writing a scratch cache block nobody
// else owns; their rows are computed and dropped), the block table has a fixed width, and every
// launch configuration that depends on host-known lengths is planned for the context bucket
// (the kernels read the true lengths from device memory). Addresses are fixed: each batch
// bucket has its own micro-batch buffers, and a graph is recorded again whenever a buffer or a
// backend workspace it uses has moved.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "model/deepseek_model.h"

namespace duet {

class DecodeGraphs {
 public:
  // scratch_block: a cache block outside the block pool, written by pad sequences.
  DecodeGraphs(DeepseekModel& model, LatentCache& cache, int32_t scratch_block);

  // Runs the step from a graph when it is eligible (every sequence decodes one token and
  // wants its logits, in order, and the batch fits the largest bucket); output as
  // StepExecutor::run gives it. Returns false, having done nothing, otherwise.
  bool run(const ForwardBatch& batch, StepOutput& out);

  int64_t replays() const { return replays_; }
  int64_t recordings() const { return recordings_; }
  // The padded batch size a decode batch of `seqs` sequences runs at (0: too large).
  static int64_t batch_bucket(int64_t seqs);

 private:
  struct Entry {
    std::unique_ptr<Graph> graph;
    uint64_t workspace_generation = 0, buffer_generation = 0;
  };
  void record(Entry& e, MicroBatch& mb);

  DeepseekModel& model_;
  LatentCache& cache_;
  int32_t scratch_block_;
  bool disabled_ = false;                  // recording failed once: run eagerly from then on
  std::map<int64_t, MicroBatch> buffers_;  // per batch bucket
  std::map<std::pair<int64_t, int64_t>, Entry> entries_;  // per (batch, context) bucket
  ForwardBatch padded_;
  int64_t replays_ = 0, recordings_ = 0;
};

}  // namespace duet
