// The DeepSeek-V3-family forward pass (V3/R1, Kimi K2/K2.5, Moonlight, V2), written once
// against the Backend interface. It is exposed as per-layer stages over a MicroBatch so that the
// parallel executor (exec/) can put communication between them (MoE gather/scatter across DP
// ranks, attention-TP all-reduce) and interleave two micro-batches; forward() chains the stages
// for a single rank.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "config/model_config.h"
#include "model/forward_batch.h"
#include "model/latent_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace duet {

// Everything one micro-batch needs during a step: its own metadata and activation buffers, so
// that nothing one micro-batch uses can be overwritten by the other.
struct MicroBatch {
  const ForwardBatch* batch = nullptr;
  int64_t num_tokens = 0;
  Tensor hidden;   // [T, H] residual stream
  Tensor normed;   // [T, H] input of the next sublayer
  Tensor sub_out;  // [T, H] attention output (partial under attention TP)
  Tensor ffn_out;  // [T, H] feed-forward output (partial while MoE sums are pending)
  Tensor shared;   // [T, H] shared experts' output, added by finish_layer; empty: none pending
  // Per-step metadata (backend memory) and host mirrors.
  Tensor ids, positions, slots, q_start, kv_len, decode, block_table;
  Tensor logit_rows;  // I32 [1, R]: rows of normed whose logits are wanted
  std::vector<int32_t> h_q_start, h_kv_len, h_decode;
  int64_t num_seqs = 0;
  // Workspace slots, grow-only; `generation` counts reallocations (a recorded graph holds the
  // addresses of the buffers it was recorded with).
  std::vector<DeviceBuffer> buffers;
  uint64_t generation = 0;
  Tensor scratch(Backend& be, size_t slot, DType dtype, int64_t rows, int64_t cols);
};

class DeepseekModel {
 public:
  DeepseekModel(const ModelConfig& config, Backend& backend, ModelWeights weights);

  const ModelConfig& config() const { return config_; }
  Backend& backend() const { return be_; }
  const ModelWeights& weights() const { return w_; }
  bool is_moe(int64_t layer) const { return w_.layers[layer].moe; }

  // Single-rank step: every stage in order. logits (host) receives
  // [batch.logit_rows.size(), vocab_size] f32.
  void forward(const ForwardBatch& batch, LatentCache& cache, std::vector<float>& logits);

  // Every layer of a single-rank step, from embed() to the final norm in normed.
  void layers(MicroBatch& mb, LatentCache& cache);

  // ---- stages (each acts on one micro-batch)
  // Uploads metadata, embeds the tokens and applies layer 0's input norm.
  void begin(MicroBatch& mb, const ForwardBatch& batch);
  // begin() in two halves, for graph recording: upload() copies the batch's metadata (block
  // table `table_width` blocks wide; 0: as wide as the longest sequence) and logit rows to the
  // device; embed() is the device work that follows.
  void upload(MicroBatch& mb, const ForwardBatch& batch, int64_t table_width = 0);
  void embed(MicroBatch& mb);
  // Attention of layer l: normed -> sub_out (this rank's heads only).
  void attention(MicroBatch& mb, int64_t l, LatentCache& cache);
  // hidden += sub_out; normed = post-attention norm of hidden.
  void post_attention(MicroBatch& mb, int64_t l);
  // Dense MLP of layer l: normed -> ffn_out.
  void dense_mlp(MicroBatch& mb, int64_t l);
  // Router and this rank's routed experts over x (any rows, e.g. gathered from every DP rank):
  // out = sum over the local experts each row selected. valid (I32 [rows], may be empty) marks
  // pad rows that select no expert. expert_counts, when given, accumulates real rows per expert.
  void routed_experts(MicroBatch& mb, int64_t l, const Tensor& x, const Tensor& valid,
                      const Tensor& out, std::vector<int64_t>* expert_counts = nullptr);
  // routed_experts in two halves: the router's parameters over x (its outputs in mb's scratch),
  // and, once it has run, this rank's selected experts over rp.x into out.
  RouterParams router_params(MicroBatch& mb, int64_t l, const Tensor& x, const Tensor& valid);
  void selected_experts(int64_t l, const RouterParams& rp, const Tensor& out);
  // mb.shared = shared experts of normed (local tokens); finish_layer adds it.
  void shared_experts(MicroBatch& mb, int64_t l);
  // hidden += ffn_out; normed = next layer's input norm (or the final norm) of hidden.
  void finish_layer(MicroBatch& mb, int64_t l);
  // LM head over batch.logit_rows of normed.
  void logits(MicroBatch& mb, std::vector<float>& out);
  // logits() in two halves: lm_head() leaves f32 [logit rows, V] in backend memory (rows as
  // uploaded), fetch_logits() copies the first `rows` of them to the host (-1: all).
  void lm_head(MicroBatch& mb);
  void fetch_logits(MicroBatch& mb, std::vector<float>& out, int64_t rows = -1);
  // After lm_head(): the step's output for the first `rows` logit rows (-1: all): sampled on
  // the backend when the batch asks for it (one small read-back), else every row's logits.
  void finish_step(MicroBatch& mb, StepOutput& out, int64_t rows = -1);

 private:
  ModelConfig config_;
  Backend& be_;
  ModelWeights w_;
  RopeTables rope_tables_;
  DeviceBuffer inv_freq_buf_;
  RopeParams rope_;
  MicroBatch single_;  // workspace of forward()
};

}  // namespace duet
