// Model weights resident in backend memory, in the layout the ops want: norms in f32, matrices
// in the backend's weight dtype, dense gate/up fused into one [2I, H] matrix, routed experts
// stacked per layer ([E, 2I, H] and [E, H, I]).
#pragma once

#include <functional>
#include <vector>

#include "backend/backend.h"
#include "config/model_config.h"
#include "loader/checkpoint.h"

namespace duet {

struct MlpWeights {
  Tensor gate_up;  // [2I, H]
  Tensor down;     // [H, I]
};

struct LayerWeights {
  Tensor input_norm, post_norm;  // f32 [H]
  Tensor q_a;                    // [q_lora, H] (q_lora models)
  Tensor q_a_norm;               // f32 [q_lora]
  Tensor q_b;                    // [heads * qk, q_lora]; or q_proj [heads * qk, H]
  Tensor kv_a;                   // [r + dr, H]
  Tensor kv_a_norm;              // f32 [r]
  Tensor kv_b;                   // [heads * (dn + dv), r]
  Tensor o_proj;                 // [H, heads * dv]
  bool moe = false;
  MlpWeights mlp;            // dense layers
  Tensor router;             // [E, H]
  Tensor router_bias;        // f32 [E] (empty for V2)
  Tensor experts_gate_up;    // [E, 2I, H]
  Tensor experts_down;       // [E, H, I]
  int64_t first_expert = 0;  // global id of local expert 0 (expert parallelism)
  bool has_shared = false;
  MlpWeights shared;  // [2 * I * n_shared, H], [H, I * n_shared]
};

// Which part of the model one rank holds. Attention heads are split over the attention-TP
// ranks of a DP group; routed experts over all world ranks, either by expert (ep) or by the
// intermediate dimension of every expert (tp). Embeddings, norms, dense MLPs, shared experts,
// the router and the LM head are replicated.
struct ShardSpec {
  int64_t attn_tp_rank = 0, attn_tp_size = 1;
  int64_t moe_rank = 0, moe_size = 1;
  bool moe_ep = false;
};

// Throws duet::Error naming what does not divide (heads by tp, experts or expert width by the
// world size).
void check_layout(const ModelConfig& c, int64_t dp, int64_t tp, bool moe_ep);

struct ModelWeights {
  Tensor embed;       // [V, H]
  Tensor final_norm;  // f32 [H]
  Tensor lm_head;     // [V, H] (the embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<DeviceBuffer> storage;  // owns everything above
  ShardSpec shard;
};

// Reads every tensor the config implies, checking names and shapes; progress(done, total) in
// bytes after each tensor.
ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, Backend& be,
                          const std::function<void(uint64_t, uint64_t)>& progress = {},
                          const ShardSpec& shard = {});

}  // namespace duet
