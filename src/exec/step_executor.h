// StepExecutor: runs one rank's share of a step under any parallel layout. It exchanges the
// rank's DpRecord (the one agreement of the step), derives the StepPlan, splits the batch into
// two micro-batches when the plan says TBO, and issues every micro-batch's layer stages —
// attention, MoE gather, experts, MoE scatter — in one fixed interleaved order from this thread,
// with the collectives between them. Each micro-batch owns its buffers for the whole step.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "dist/step_plan.h"
#include "exec/decode_graphs.h"
#include "model/deepseek_model.h"

namespace duet {

struct ExecutorOptions {
  TboConfig tbo;
  GatherMode gather = GatherMode::kVariable;
  // Tests: NaN into pad rows and unused gather rows before every layer, and per-layer counts
  // of the rows each expert received (pad rows must never appear).
  bool poison_padding = false;
  bool count_experts = false;
  // Replay decode steps from recorded graphs (single rank without collectives, on a backend
  // that records); pad sequences write graph_scratch_block, a cache block outside the pool.
  bool graphs = false;
  int32_t graph_scratch_block = -1;
};

class StepExecutor {
 public:
  // tp: attention-TP group (null when tp == 1); dp: ranks with the same TP index in every DP
  // group (null when dp == 1). dp_rank: this rank's DP group.
  StepExecutor(DeepseekModel& model, LatentCache& cache, Communicator* tp, Communicator* dp,
               int64_t dp_rank, ExecutorOptions options);

  // Runs the step for this rank's batch (possibly empty: an idle rank still joins every
  // collective). out: the batch's logit rows in its row order (see StepOutput).
  void run(const ForwardBatch& batch, StepOutput& out);

  const StepPlan& last_plan() const { return plan_; }
  int64_t tbo_steps() const { return tbo_steps_; }
  // Decode steps replayed from a graph, and graphs recorded, since start.
  int64_t graph_replays() const { return graphs_ ? graphs_->replays() : 0; }
  int64_t graph_recordings() const { return graphs_ ? graphs_->recordings() : 0; }
  // [layer][expert] rows routed to each expert by the router (all gathered rows) since start.
  const std::vector<std::vector<int64_t>>& expert_counts() const { return expert_counts_; }

 private:
  struct Micro {
    MicroBatch mb;
    ForwardBatch batch;
    DeviceBuffer send, gathered, partial, recv, valid;
    Tensor t_send, t_gathered, t_partial, t_recv, t_valid;
    int64_t rows_total = 0, padded_local = 0;
  };
  void prepare_gather(Micro& m, int index);
  void attn_stage(Micro& m, int64_t l);
  void gather_stage(Micro& m, int64_t l);
  void experts_stage(Micro& m, int64_t l);
  void scatter_stage(Micro& m, int64_t l);
  void dense_stage(Micro& m, int64_t l);
  void ensure(DeviceBuffer& buf, size_t bytes);

  DeepseekModel& model_;
  LatentCache& cache_;
  Communicator* tp_;
  Communicator* dp_;
  int64_t dp_rank_;
  ExecutorOptions opt_;
  StepPlan plan_;
  std::array<Micro, 2> micro_;
  std::vector<std::vector<int64_t>> expert_counts_;
  int64_t tbo_steps_ = 0;
  std::unique_ptr<DecodeGraphs> graphs_;
};

}  // namespace duet
