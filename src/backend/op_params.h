// Parameter structs of the larger ops (FlashMLA style): every pointer's shape is written next
// to it, and the struct is the documented contract between model/ and each backend.
#pragma once

#include <cstdint>

#include "backend/tensor.h"

namespace duet {

// RoPE over the last `dim` values of a vector, rotating interleaved pairs (x[2i], x[2i+1]) by
// angle position * inv_freq[i] (the layout DeepSeek checkpoints store); cos/sin are scaled by
// attention_factor (yarn's mscale ratio).
struct RopeParams {
  Tensor inv_freq;  // f32 [dim / 2]
  int64_t dim = 0;
  float attention_factor = 1.0f;
};

// Latent cache geometry: 64-token blocks of (kv_lora_rank + rope_dim) values per token.
inline constexpr int64_t kKvBlockSize = 64;

struct MlaParams {
  // Per new token.
  Tensor q;          // [T, H * (dn + dr)], rope already applied
  Tensor positions;  // I32 [T]
  Tensor out;        // [T, H * dv]
  // Per sequence (S sequences; sequence s owns tokens q_start[s] .. q_start[s+1]).
  Tensor q_start;      // I32 [S + 1]
  Tensor kv_len;       // I32 [S]: cached tokens of s after this step's writes
  Tensor decode;       // I32 [S]: 1 = absorbed (decode) form, 0 = expanded (prefill) form
  Tensor block_table;  // I32 [S, max_blocks]: cache block of each 64-token block of s
  int64_t num_seqs = 0;
  const int32_t* host_q_start = nullptr;  // host copies for scheduling work ([S + 1])
  const int32_t* host_kv_len = nullptr;   // [S]
  const int32_t* host_decode = nullptr;   // [S]
  // Model.
  Tensor cache;  // [num_blocks * 64, r + dr]
  Tensor kv_b;   // [H * (dn + dv), r]: per head, dn rows of W_UK then dv rows of W_UV
  int64_t heads = 0, nope_dim = 0, rope_dim = 0, v_dim = 0, kv_rank = 0;
  float scale = 0.0f;  // softmax scale (qk_head_dim^-0.5 * yarn mscale^2)
};

enum class RouterScoring : int32_t { kSigmoidNoauxTc, kSoftmaxGreedy, kSoftmaxGroupLimited };

struct RouterParams {
  Tensor x;        // [T, H] activations
  Tensor gate;     // [E, H] router weight
  Tensor bias;     // f32 [E] e_score_correction_bias (empty for V2)
  Tensor valid;    // I32 [T] 1 for real rows, 0 for pad rows (empty: all real)
  Tensor ids;      // out: I32 [T, k]
  Tensor weights;  // out: f32 [T, k]
  RouterScoring scoring = RouterScoring::kSigmoidNoauxTc;
  int64_t num_experts = 0, top_k = 0, n_group = 1, topk_group = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
};

struct ExpertParams {
  Tensor x;                  // [T, H]
  Tensor ids;                // I32 [T, k] global expert ids (-1: none), distinct per token
  Tensor weights;            // f32 [T, k]
  Tensor gate_up;            // [E_local, 2I, H]: gate rows then up rows
  Tensor down;               // [E_local, H, I]
  int64_t first_expert = 0;  // global id of local expert 0 (expert parallelism)
  Tensor out;                // [T, H], overwritten
};

}  // namespace duet
