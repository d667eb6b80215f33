#include "model/deepseek_model.h"

#include <algorithm>

namespace duet {
namespace {

// Workspace slots of a MicroBatch: each is one grow-only buffer reused by every step.
enum Slot : size_t {
  kHidden,
  kNormed,
  kSubOut,
  kFfnOut,
  kQa,
  kQ,
  kCkv,
  kAttn,
  kGateUp,
  kAct,
  kShared,
  kRouteIds,
  kRouteWeights,
  kLogitsSel,
  kLogits,
  kLogitsF32,
  kIndexArrays,  // the step's token ids, positions, slots, ... in one buffer (PackedIndices)
  kSampled,
  kNumSlots
};

// q_a_layernorm and kv_a_layernorm are built without an eps argument in every reference
// implementation, so they use the class default 1e-6 whatever rms_norm_eps says.
constexpr float kLatentNormEps = 1e-6f;

}  // namespace

Tensor MicroBatch::scratch(Backend& be, size_t slot, DType dtype, int64_t rows, int64_t cols) {
  if (buffers.size() < kNumSlots) buffers.resize(kNumSlots);
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(rows * cols, 1)) * dtype_size(dtype);
  if (buffers[slot].bytes() < bytes) {
    // Grow geometrically so a slowly growing batch does not reallocate every step.
    buffers[slot] = DeviceBuffer(be, std::max(bytes, buffers[slot].bytes() * 3 / 2));
    ++generation;
  }
  return Tensor::matrix(buffers[slot].get(), dtype, rows, cols);
}

DeepseekModel::DeepseekModel(const ModelConfig& config, Backend& backend, ModelWeights weights)
    : config_(config), be_(backend), w_(std::move(weights)), rope_tables_(compute_rope(config)) {
  inv_freq_buf_ = DeviceBuffer(be_, rope_tables_.inv_freq.size() * sizeof(float));
  be_.copy_to_device(inv_freq_buf_.get(), rope_tables_.inv_freq.data(), inv_freq_buf_.bytes());
  rope_.inv_freq = Tensor::vector(inv_freq_buf_.get(), DType::kF32,
                                  static_cast<int64_t>(rope_tables_.inv_freq.size()));
  rope_.dim = config_.qk_rope_head_dim;
  rope_.attention_factor = rope_tables_.attention_factor;
}

void DeepseekModel::forward(const ForwardBatch& batch, LatentCache& cache,
                            std::vector<float>& logits) {
  MicroBatch& mb = single_;
  begin(mb, batch);
  layers(mb, cache);
  this->logits(mb, logits);
}

void DeepseekModel::layers(MicroBatch& mb, LatentCache& cache) {
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    attention(mb, l, cache);
    if (is_moe(l)) {
      // The norm and the router in one op (one launch at one token, where the router's CTAs
      // norm their input themselves). Then the shared experts, which need only the normed rows,
      // on a side branch beside the routed experts, which at decode sizes are chains of
      // latency-bound launches. Neither writes what the other touches (scratch slots and
      // workspaces apart).
      const RouterParams rp = router_params(mb, l, mb.normed, Tensor{});
      be_.add_rms_norm_route(mb.hidden, mb.sub_out, w_.layers[l].post_norm,
                             static_cast<float>(config_.rms_norm_eps), mb.normed, rp);
      {
        SideBranch side(be_);
        shared_experts(mb, l);
      }
      selected_experts(l, rp, mb.ffn_out);
      be_.join_side();
    } else {
      post_attention(mb, l);
      dense_mlp(mb, l);
    }
    finish_layer(mb, l);
  }
}

namespace {
// A step's I32 index arrays packed into one host buffer and uploaded by one copy (eight small
// copies were eight host round trips through the driver between steps, with the GPU idle).
// Each array starts at a 16-byte boundary; its tensor is a view of the device buffer.
class PackedIndices {
 public:
  // Adds v, an I32 [rows, cols] array; returns its index for view().
  size_t add(const std::vector<int32_t>& v, int64_t rows, int64_t cols) {
    DUET_CHECK(static_cast<int64_t>(v.size()) == rows * cols, "index array of ", v.size(),
               " values for [", rows, ", ", cols, "]");
    parts_.push_back({host_.size(), rows, cols});
    host_.insert(host_.end(), v.begin(), v.end());
    host_.resize((host_.size() + 3) / 4 * 4, 0);
    return parts_.size() - 1;
  }
  // Uploads everything into the MicroBatch slot kIndexArrays.
  void upload(Backend& be, MicroBatch& mb) {
    device_ = mb.scratch(be, kIndexArrays, DType::kI32, 1, static_cast<int64_t>(host_.size()));
    if (!host_.empty())
      be.copy_to_device(device_.data, host_.data(), host_.size() * sizeof(int32_t));
  }
  Tensor view(size_t i) const {
    const Part& p = parts_[i];
    return Tensor::matrix(static_cast<int32_t*>(device_.data) + p.offset, DType::kI32, p.rows,
                          p.cols);
  }

 private:
  struct Part {
    size_t offset;
    int64_t rows, cols;
  };
  std::vector<int32_t> host_;
  std::vector<Part> parts_;
  Tensor device_;
};
}  // namespace

void DeepseekModel::begin(MicroBatch& mb, const ForwardBatch& batch) {
  upload(mb, batch);
  embed(mb);
}

void DeepseekModel::upload(MicroBatch& mb, const ForwardBatch& batch, int64_t table_width) {
  const int64_t T = batch.num_tokens(), H = config_.hidden_size;
  const DType act = be_.act_dtype();
  mb.batch = &batch;
  mb.num_tokens = T;
  mb.num_seqs = static_cast<int64_t>(batch.seqs.size());
  std::vector<int32_t> positions, slots;
  positions.reserve(T);
  slots.reserve(T);
  mb.h_q_start.assign(1, 0);
  mb.h_kv_len.clear();
  mb.h_decode.clear();
  size_t max_blocks = 1;
  for (const auto& s : batch.seqs) max_blocks = std::max(max_blocks, s.block_ids.size());
  // A fixed width keeps the table's layout (and a recorded graph's) across steps; blocks past
  // it are never read, since they lie past the sequence's cached tokens.
  if (table_width > 0) max_blocks = static_cast<size_t>(table_width);
  std::vector<int32_t> table(mb.num_seqs * max_blocks, 0);
  for (int64_t i = 0; i < mb.num_seqs; ++i) {
    const SeqInBatch& s = batch.seqs[i];
    const int64_t kv = static_cast<int64_t>(s.num_cached) + s.num_new_tokens;
    DUET_CHECK(static_cast<int64_t>(s.block_ids.size()) * kKvBlockSize >= kv, "sequence needs ", kv,
               " cache slots but has ", s.block_ids.size(), " blocks");
    for (int32_t j = 0; j < s.num_new_tokens; ++j) {
      const int32_t p = s.num_cached + j;
      positions.push_back(p);
      slots.push_back(s.block_ids[p / kKvBlockSize] * static_cast<int32_t>(kKvBlockSize) +
                      p % kKvBlockSize);
    }
    mb.h_q_start.push_back(mb.h_q_start.back() + s.num_new_tokens);
    mb.h_kv_len.push_back(static_cast<int32_t>(kv));
    mb.h_decode.push_back(s.decode ? 1 : 0);
    DUET_CHECK(static_cast<int64_t>(max_blocks) * kKvBlockSize >= kv, "block table width ",
               max_blocks, " cannot hold ", kv, " tokens");
    std::copy_n(s.block_ids.begin(), std::min(max_blocks, s.block_ids.size()),
                table.begin() + i * max_blocks);
  }
  DUET_CHECK(mb.h_q_start.back() == T, "sequence token counts do not add up to the batch");
  const int64_t R = static_cast<int64_t>(batch.logit_rows.size());
  for (int32_t r : batch.logit_rows) DUET_CHECK(r >= 0 && r < T, "logit row ", r, " out of range");
  PackedIndices idx;
  const size_t ids = idx.add(batch.token_ids, 1, T), pos = idx.add(positions, 1, T);
  const size_t sl = idx.add(slots, 1, T), qs = idx.add(mb.h_q_start, 1, mb.num_seqs + 1);
  const size_t kv = idx.add(mb.h_kv_len, 1, mb.num_seqs),
               dec = idx.add(mb.h_decode, 1, mb.num_seqs);
  const size_t bt = idx.add(table, mb.num_seqs, static_cast<int64_t>(max_blocks));
  const size_t lr = idx.add(batch.logit_rows, 1, R);
  idx.upload(be_, mb);
  mb.ids = idx.view(ids);
  mb.positions = idx.view(pos);
  mb.slots = idx.view(sl);
  mb.q_start = idx.view(qs);
  mb.kv_len = idx.view(kv);
  mb.decode = idx.view(dec);
  mb.block_table = idx.view(bt);
  mb.logit_rows = idx.view(lr);
  mb.hidden = mb.scratch(be_, kHidden, act, T, H);
  mb.normed = mb.scratch(be_, kNormed, act, T, H);
  mb.sub_out = mb.scratch(be_, kSubOut, act, T, H);
  mb.ffn_out = mb.scratch(be_, kFfnOut, act, T, H);
}

void DeepseekModel::embed(MicroBatch& mb) {
  be_.embedding(mb.ids, w_.embed, mb.hidden);
  be_.rms_norm(mb.hidden, w_.layers[0].input_norm, static_cast<float>(config_.rms_norm_eps),
               mb.normed);
}

void DeepseekModel::attention(MicroBatch& mb, int64_t l, LatentCache& cache) {
  const ModelConfig& c = config_;
  const LayerWeights& L = w_.layers[l];
  const int64_t T = mb.num_tokens;
  const int64_t heads = L.kv_b.rows / (c.qk_nope_head_dim + c.v_head_dim);  // this rank's heads
  const int64_t dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t r = c.kv_lora_rank;
  const DType act = be_.act_dtype();
  const Tensor& x = mb.normed;
  // q: [T, heads * (dn + dr)]
  Tensor q = mb.scratch(be_, kQ, act, T, heads * (dn + dr));
  // ckv: [T, r + dr] -> cache rows (normed latent | roped k_rope)
  Tensor ckv = mb.scratch(be_, kCkv, act, T, r + dr);
  if (c.q_lora_rank > 0) {
    Tensor qa = mb.scratch(be_, kQa, act, T, c.q_lora_rank);  // [T, q_lora]
    be_.gemm_pair(x, L.q_a, qa, L.kv_a, ckv);
    be_.rms_norm(qa, L.q_a_norm, kLatentNormEps, qa);
    be_.gemm(qa, L.q_b, q);
  } else {
    be_.gemm_pair(x, L.q_b, q, L.kv_a, ckv);
  }
  // The cache write (with q's RoPE) on a side branch: mla_attention's q absorption reads only
  // q's no-RoPE columns and runs beside it; the attention itself joins the branch first.
  {
    SideBranch side(be_);
    be_.mla_cache_write_and_rope_q(ckv, L.kv_a_norm, kLatentNormEps, mb.positions, mb.slots, rope_,
                                   cache.layer(l), q, heads, dn);
  }
  // attn: [T, heads * dv]
  Tensor attn = mb.scratch(be_, kAttn, act, T, heads * dv);
  MlaParams p;
  p.q = q;
  p.positions = mb.positions;
  p.out = attn;
  p.q_start = mb.q_start;
  p.kv_len = mb.kv_len;
  p.decode = mb.decode;
  p.block_table = mb.block_table;
  p.num_seqs = mb.num_seqs;
  p.host_q_start = mb.h_q_start.data();
  p.host_kv_len = mb.h_kv_len.data();
  p.host_decode = mb.h_decode.data();
  p.cache = cache.layer(l);
  p.kv_b = L.kv_b;
  p.heads = heads;
  p.nope_dim = dn;
  p.rope_dim = dr;
  p.v_dim = dv;
  p.kv_rank = r;
  p.scale = static_cast<float>(c.softmax_scale());
  be_.mla_attention(p);
  be_.gemm(attn, L.o_proj, mb.sub_out);
}

void DeepseekModel::post_attention(MicroBatch& mb, int64_t l) {
  be_.add_rms_norm(mb.hidden, mb.sub_out, w_.layers[l].post_norm,
                   static_cast<float>(config_.rms_norm_eps), mb.normed);
}

namespace {
void run_mlp(Backend& be, MicroBatch& mb, const MlpWeights& m, const Tensor& x, const Tensor& dst) {
  const int64_t T = x.rows, I = m.down.cols;
  Tensor gu = mb.scratch(be, kGateUp, be.act_dtype(), T, 2 * I);  // [T, 2I]
  Tensor a = mb.scratch(be, kAct, be.act_dtype(), T, I);          // [T, I]
  be.gemm_silu_mul(x, m.gate_up, gu, a);
  be.gemm(a, m.down, dst);
}
}  // namespace

void DeepseekModel::dense_mlp(MicroBatch& mb, int64_t l) {
  run_mlp(be_, mb, w_.layers[l].mlp, mb.normed, mb.ffn_out);
}

RouterParams DeepseekModel::router_params(MicroBatch& mb, int64_t l, const Tensor& x,
                                          const Tensor& valid) {
  const ModelConfig& c = config_;
  const LayerWeights& L = w_.layers[l];
  const int64_t rows = x.rows, k = c.num_experts_per_tok;
  RouterParams rp;
  rp.x = x;
  rp.gate = L.router;
  rp.bias = L.router_bias;
  rp.valid = valid;
  rp.ids = mb.scratch(be_, kRouteIds, DType::kI32, rows, k);          // [rows, k]
  rp.weights = mb.scratch(be_, kRouteWeights, DType::kF32, rows, k);  // [rows, k]
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
  return rp;
}

void DeepseekModel::selected_experts(int64_t l, const RouterParams& rp, const Tensor& out) {
  const LayerWeights& L = w_.layers[l];
  ExpertParams ep;
  ep.x = rp.x;
  ep.ids = rp.ids;
  ep.weights = rp.weights;
  ep.gate_up = L.experts_gate_up;
  ep.down = L.experts_down;
  ep.first_expert = L.first_expert;
  ep.out = out;
  be_.moe_experts(ep);
}

void DeepseekModel::routed_experts(MicroBatch& mb, int64_t l, const Tensor& x, const Tensor& valid,
                                   const Tensor& out, std::vector<int64_t>* expert_counts) {
  const RouterParams rp = router_params(mb, l, x, valid);
  be_.moe_route(rp);
  if (expert_counts) {
    std::vector<int32_t> ids(static_cast<size_t>(rp.ids.rows * rp.ids.cols));
    if (!ids.empty()) be_.copy_to_host(ids.data(), rp.ids.data, ids.size() * sizeof(int32_t));
    expert_counts->resize(static_cast<size_t>(config_.n_routed_experts), 0);
    for (int32_t e : ids)
      if (e >= 0) ++(*expert_counts)[e];
  }
  selected_experts(l, rp, out);
}

void DeepseekModel::shared_experts(MicroBatch& mb, int64_t l) {
  const LayerWeights& L = w_.layers[l];
  if (!L.has_shared) return;
  mb.shared = mb.scratch(be_, kShared, be_.act_dtype(), mb.num_tokens, config_.hidden_size);
  run_mlp(be_, mb, L.shared, mb.normed, mb.shared);
}

void DeepseekModel::finish_layer(MicroBatch& mb, int64_t l) {
  const Tensor& next_norm =
      l + 1 < config_.num_hidden_layers ? w_.layers[l + 1].input_norm : w_.final_norm;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  if (mb.shared.empty()) {
    be_.add_rms_norm(mb.hidden, mb.ffn_out, next_norm, eps, mb.normed);
  } else {  // the shared experts' sum joins here, saving a pass over the rows
    be_.add2_rms_norm(mb.hidden, mb.ffn_out, mb.shared, next_norm, eps, mb.normed);
    mb.shared = Tensor{};
  }
}

void DeepseekModel::logits(MicroBatch& mb, std::vector<float>& out) {
  lm_head(mb);
  fetch_logits(mb, out);
}

void DeepseekModel::lm_head(MicroBatch& mb) {
  const int64_t R = mb.logit_rows.cols;
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  if (R == 0) return;
  Tensor sel = mb.scratch(be_, kLogitsSel, be_.act_dtype(), R, H);  // [R, H]
  be_.gather_rows(mb.normed, mb.logit_rows, sel);
  // Logits straight out of the GEMM's fp32 accumulator: rounding them to the activation dtype
  // first would add up to half a bf16 ulp of the largest logit. lg: [R, V] f32.
  Tensor lg = mb.scratch(be_, kLogitsF32, DType::kF32, R, V);
  be_.gemm(sel, w_.lm_head, lg);
}

void DeepseekModel::fetch_logits(MicroBatch& mb, std::vector<float>& out, int64_t rows) {
  const int64_t R = rows < 0 ? mb.logit_rows.cols : rows;
  const int64_t V = config_.vocab_size;
  DUET_CHECK(R <= mb.logit_rows.cols, "fetch of ", R, " logit rows, ", mb.logit_rows.cols,
             " computed");
  out.assign(static_cast<size_t>(R * V), 0.0f);
  if (R == 0) return;
  const Tensor lg = mb.scratch(be_, kLogitsF32, DType::kF32, mb.logit_rows.cols, V);
  be_.copy_to_host(out.data(), lg.data, out.size() * sizeof(float));
}

void DeepseekModel::finish_step(MicroBatch& mb, StepOutput& out, int64_t rows) {
  const ForwardBatch& batch = *mb.batch;
  const int64_t R = rows < 0 ? mb.logit_rows.cols : rows;
  const int64_t V = config_.vocab_size;
  out.tokens.clear();
  if (!batch.samples_on_backend()) return fetch_logits(mb, out.logits, R);
  DUET_CHECK(static_cast<int64_t>(batch.sample.size()) >= R &&
                 static_cast<int64_t>(batch.logits_to_host.size()) >= R,
             "sampling settings for ", batch.sample.size(), " of ", R, " logit rows");
  out.logits.clear();
  out.tokens.assign(static_cast<size_t>(R), -1);
  if (R == 0) return;
  const Tensor lg = mb.scratch(be_, kLogitsF32, DType::kF32, mb.logit_rows.cols, V);
  const Tensor picked = mb.scratch(be_, kSampled, DType::kI32, 1, R);  // I32 [R]
  be_.sample_tokens(lg.slice_rows(0, R),
                    std::vector<SampleSpec>(batch.sample.begin(), batch.sample.begin() + R),
                    picked);
  be_.copy_to_host(out.tokens.data(), picked.data, static_cast<size_t>(R) * sizeof(int32_t));
  for (int64_t r = 0; r < R; ++r) {
    if (!batch.logits_to_host[r]) continue;
    out.tokens[r] = -1;
    out.logits.resize(out.logits.size() + static_cast<size_t>(V));
    be_.copy_to_host(out.logits.data() + out.logits.size() - V, lg.slice_rows(r, r + 1).data,
                     static_cast<size_t>(V) * sizeof(float));
  }
}

}  // namespace duet
