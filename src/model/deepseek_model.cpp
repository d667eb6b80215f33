#include "model/deepseek_model.h"

#include <algorithm>

namespace duet {
namespace {

// Workspace slots: each is one grow-only buffer reused by every step.
enum Slot : size_t {
  kHidden,
  kNormed,
  kQa,
  kQ,
  kCkv,
  kAttn,
  kAttnOut,
  kGateUp,
  kAct,
  kFfnOut,
  kShared,
  kRouteIds,
  kRouteWeights,
  kLogitsSel,
  kLogitsF32,
  kIds,
  kPositions,
  kSlots,
  kQStart,
  kKvLen,
  kDecode,
  kBlockTable,
  kLogitRows,
  kNumSlots
};

// q_a_layernorm and kv_a_layernorm are built without an eps argument in every reference
// implementation, so they use the class default 1e-6 whatever rms_norm_eps says.
constexpr float kLatentNormEps = 1e-6f;

}  // namespace

DeepseekModel::DeepseekModel(const ModelConfig& config, Backend& backend, ModelWeights weights)
    : config_(config), be_(backend), w_(std::move(weights)), rope_tables_(compute_rope(config)) {
  buffers_.resize(kNumSlots);
  inv_freq_buf_ = DeviceBuffer(be_, rope_tables_.inv_freq.size() * sizeof(float));
  be_.copy_to_device(inv_freq_buf_.get(), rope_tables_.inv_freq.data(), inv_freq_buf_.bytes());
  rope_.inv_freq = Tensor::vector(inv_freq_buf_.get(), DType::kF32,
                                  static_cast<int64_t>(rope_tables_.inv_freq.size()));
  rope_.dim = config_.qk_rope_head_dim;
  rope_.attention_factor = rope_tables_.attention_factor;
}

Tensor DeepseekModel::scratch(size_t slot, DType dtype, int64_t rows, int64_t cols) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(rows * cols, 1)) * dtype_size(dtype);
  if (buffers_[slot].bytes() < bytes) {
    // Grow geometrically so a slowly growing batch does not reallocate every step.
    buffers_[slot] = DeviceBuffer(be_, std::max(bytes, buffers_[slot].bytes() * 3 / 2));
  }
  return Tensor::matrix(buffers_[slot].get(), dtype, rows, cols);
}

Tensor DeepseekModel::upload_i32(size_t slot, const std::vector<int32_t>& v, int64_t rows,
                                 int64_t cols) {
  Tensor t = scratch(slot, DType::kI32, rows, cols);
  if (!v.empty()) be_.copy_to_device(t.data, v.data(), v.size() * sizeof(int32_t));
  return t;
}

void DeepseekModel::forward(const ForwardBatch& batch, LatentCache& cache,
                            std::vector<float>& logits) {
  const ModelConfig& c = config_;
  const int64_t T = batch.num_tokens(), H = c.hidden_size, V = c.vocab_size;
  const DType act = be_.act_dtype();

  // Per-step metadata: positions, cache slots, sequence boundaries, block tables.
  num_seqs_ = static_cast<int64_t>(batch.seqs.size());
  std::vector<int32_t> positions, slots;
  positions.reserve(T);
  slots.reserve(T);
  h_q_start_.assign(1, 0);
  h_kv_len_.clear();
  h_decode_.clear();
  size_t max_blocks = 1;
  for (const auto& s : batch.seqs) max_blocks = std::max(max_blocks, s.block_ids.size());
  std::vector<int32_t> table(num_seqs_ * max_blocks, 0);
  for (int64_t i = 0; i < num_seqs_; ++i) {
    const SeqInBatch& s = batch.seqs[i];
    const int64_t kv = static_cast<int64_t>(s.num_cached) + s.num_new_tokens;
    DUET_CHECK(static_cast<int64_t>(s.block_ids.size()) * kKvBlockSize >= kv, "sequence needs ", kv,
               " cache slots but has ", s.block_ids.size(), " blocks");
    for (int32_t j = 0; j < s.num_new_tokens; ++j) {
      const int32_t p = s.num_cached + j;
      positions.push_back(p);
      const int32_t block = s.block_ids[p / kKvBlockSize];
      DUET_CHECK(block >= 0 && block < cache.num_blocks(), "block id ", block, " out of range");
      slots.push_back(block * static_cast<int32_t>(kKvBlockSize) + p % kKvBlockSize);
    }
    h_q_start_.push_back(h_q_start_.back() + s.num_new_tokens);
    h_kv_len_.push_back(static_cast<int32_t>(kv));
    h_decode_.push_back(s.decode ? 1 : 0);
    std::copy(s.block_ids.begin(), s.block_ids.end(), table.begin() + i * max_blocks);
  }
  DUET_CHECK(h_q_start_.back() == T, "sequence token counts do not add up to the batch");
  ids_ = upload_i32(kIds, batch.token_ids, 1, T);
  positions_ = upload_i32(kPositions, positions, 1, T);
  slots_ = upload_i32(kSlots, slots, 1, T);
  q_start_ = upload_i32(kQStart, h_q_start_, 1, num_seqs_ + 1);
  kv_len_ = upload_i32(kKvLen, h_kv_len_, 1, num_seqs_);
  decode_ = upload_i32(kDecode, h_decode_, 1, num_seqs_);
  block_table_ = upload_i32(kBlockTable, table, num_seqs_, static_cast<int64_t>(max_blocks));

  // hidden: [T, H] residual stream; normed: [T, H] input of the next sublayer.
  Tensor hidden = scratch(kHidden, act, T, H);
  Tensor normed = scratch(kNormed, act, T, H);
  Tensor sub_out = scratch(kAttnOut, act, T, H);
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (T > 0) {
    be_.embedding(ids_, w_.embed, hidden);
    be_.rms_norm(hidden, w_.layers[0].input_norm, eps, normed);
  }
  for (int64_t l = 0; l < c.num_hidden_layers && T > 0; ++l) {
    attention(l, normed, sub_out, cache);
    be_.add_rms_norm(hidden, sub_out, w_.layers[l].post_norm, eps, normed);
    feed_forward(l, normed, sub_out);
    const Tensor& next_norm =
        l + 1 < c.num_hidden_layers ? w_.layers[l + 1].input_norm : w_.final_norm;
    be_.add_rms_norm(hidden, sub_out, next_norm, eps, normed);
  }

  // LM head over the requested rows only: [R, H] -> [R, V] f32.
  const int64_t R = static_cast<int64_t>(batch.logit_rows.size());
  logits.assign(static_cast<size_t>(R * V), 0.0f);
  if (R == 0) return;
  for (int32_t r : batch.logit_rows) DUET_CHECK(r >= 0 && r < T, "logit row ", r, " out of range");
  Tensor rows = upload_i32(kLogitRows, batch.logit_rows, 1, R);
  Tensor sel = scratch(kLogitsSel, act, R, H);
  be_.gather_rows(normed, rows, sel);
  // Logits straight out of the GEMM's fp32 accumulator: rounding them to bf16 first would add
  // up to half a bf16 ulp of the largest logit. lg: [R, V] f32.
  Tensor lg = scratch(kLogitsF32, DType::kF32, R, V);
  be_.gemm(sel, w_.lm_head, lg);
  be_.copy_to_host(logits.data(), lg.data, logits.size() * sizeof(float));
}

void DeepseekModel::attention(int64_t l, const Tensor& x, const Tensor& out, LatentCache& cache) {
  const ModelConfig& c = config_;
  const LayerWeights& L = w_.layers[l];
  const int64_t T = x.rows, heads = c.num_attention_heads;
  const int64_t dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t r = c.kv_lora_rank;
  const DType act = be_.act_dtype();
  // q: [T, heads * (dn + dr)]
  Tensor q = scratch(kQ, act, T, heads * (dn + dr));
  if (c.q_lora_rank > 0) {
    Tensor qa = scratch(kQa, act, T, c.q_lora_rank);  // [T, q_lora]
    be_.gemm(x, L.q_a, qa);
    be_.rms_norm(qa, L.q_a_norm, kLatentNormEps, qa);
    be_.gemm(qa, L.q_b, q);
  } else {
    be_.gemm(x, L.q_b, q);
  }
  // ckv: [T, r + dr] -> cache rows (normed latent | roped k_rope)
  Tensor ckv = scratch(kCkv, act, T, r + dr);
  be_.gemm(x, L.kv_a, ckv);
  be_.mla_cache_write(ckv, L.kv_a_norm, kLatentNormEps, positions_, slots_, rope_, cache.layer(l));
  be_.rope_q(q, positions_, rope_, heads, dn);
  // attn: [T, heads * dv]
  Tensor attn = scratch(kAttn, act, T, heads * dv);
  MlaParams p;
  p.q = q;
  p.positions = positions_;
  p.out = attn;
  p.q_start = q_start_;
  p.kv_len = kv_len_;
  p.decode = decode_;
  p.block_table = block_table_;
  p.num_seqs = num_seqs_;
  p.host_q_start = h_q_start_.data();
  p.host_kv_len = h_kv_len_.data();
  p.host_decode = h_decode_.data();
  p.cache = cache.layer(l);
  p.kv_b = L.kv_b;
  p.heads = heads;
  p.nope_dim = dn;
  p.rope_dim = dr;
  p.v_dim = dv;
  p.kv_rank = r;
  p.scale = static_cast<float>(c.softmax_scale());
  be_.mla_attention(p);
  be_.gemm(attn, L.o_proj, out);
}

void DeepseekModel::feed_forward(int64_t l, const Tensor& x, const Tensor& out) {
  const ModelConfig& c = config_;
  const LayerWeights& L = w_.layers[l];
  const int64_t T = x.rows;
  const DType act = be_.act_dtype();
  auto mlp = [&](const MlpWeights& m, const Tensor& dst) {
    const int64_t I = m.down.cols;
    Tensor gu = scratch(kGateUp, act, T, 2 * I);  // [T, 2I]
    be_.gemm(x, m.gate_up, gu);
    Tensor a = scratch(kAct, act, T, I);  // [T, I]
    be_.silu_mul(gu, a);
    be_.gemm(a, m.down, dst);
  };
  if (!L.moe) {
    mlp(L.mlp, out);
    return;
  }
  const int64_t k = c.num_experts_per_tok;
  RouterParams rp;
  rp.x = x;
  rp.gate = L.router;
  rp.bias = L.router_bias;
  rp.ids = scratch(kRouteIds, DType::kI32, T, k);          // [T, k]
  rp.weights = scratch(kRouteWeights, DType::kF32, T, k);  // [T, k]
  rp.scoring = !c.is_v2 ? RouterScoring::kSigmoidNoauxTc
               : c.topk_method == TopkMethod::kGroupLimitedGreedy
                   ? RouterScoring::kSoftmaxGroupLimited
                   : RouterScoring::kSoftmaxGreedy;
  rp.num_experts = c.n_routed_experts;
  rp.top_k = k;
  rp.n_group = c.n_group;
  rp.topk_group = c.topk_group;
  rp.norm_topk_prob = c.norm_topk_prob;
  rp.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
  be_.moe_route(rp);
  ExpertParams ep;
  ep.x = x;
  ep.ids = rp.ids;
  ep.weights = rp.weights;
  ep.gate_up = L.experts_gate_up;
  ep.down = L.experts_down;
  ep.first_expert = 0;
  ep.out = out;
  be_.moe_experts(ep);
  if (L.has_shared) {
    Tensor shared = scratch(kShared, act, T, c.hidden_size);  // [T, H]
    mlp(L.shared, shared);
    be_.add(out, shared);
  }
}

}  // namespace duet
