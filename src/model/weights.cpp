#include "model/weights.h"

#include <cstring>
#include <vector>

#include "model/weight_names.h"

namespace duet {
namespace {

class WeightReader {
 public:
  WeightReader(const Checkpoint& ck, Backend& be, ModelWeights& w,
               const std::function<void(uint64_t, uint64_t)>& progress, uint64_t total)
      : ck_(ck), be_(be), w_(w), progress_(progress), total_(total) {}

  // A tensor of `batch` x rows x cols in `dtype` in backend memory.
  Tensor alloc(DType dtype, int64_t batch, int64_t rows, int64_t cols) {
    const size_t bytes = static_cast<size_t>(batch * rows * cols) * dtype_size(dtype);
    w_.storage.emplace_back(be_, bytes);
    return Tensor::stacked(w_.storage.back().get(), dtype, batch, rows, cols);
  }
  // Reads rows [r0, r0 + n) and columns [c0, c0 + dst.cols) of checkpoint tensor `name`
  // (shape `shape`) into rows [row0, row0 + n) of dst[b]. Vectors have shape {cols}.
  void read_into(const std::string& name, const std::vector<int64_t>& shape, const Tensor& dst,
                 int64_t b, int64_t row0, int64_t r0, int64_t n, int64_t c0 = 0) {
    const size_t esize = dst.elem_size();
    const int64_t full_cols = shape.back();
    full_.resize(static_cast<size_t>(ck_.info(name).numel()) * esize);
    ck_.read(name, shape, dst.dtype, full_.data());
    staging_.resize(static_cast<size_t>(n * dst.cols) * esize);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(staging_.data() + i * dst.cols * esize,
                  full_.data() + ((r0 + i) * full_cols + c0) * esize, dst.cols * esize);
    be_.copy_to_device(dst.at(b, row0), staging_.data(), staging_.size());
    done_ += ck_.info(name).end - ck_.info(name).begin;
    if (progress_) progress_(done_, total_);
  }
  DType wtype(const std::string& name) const { return be_.weight_dtype(ck_.info(name).dtype); }
  // Rows [r0, r0 + rows) and columns [c0, c0 + cols) of a [full_rows, full_cols] matrix.
  Tensor matrix(const std::string& name, int64_t full_rows, int64_t full_cols, int64_t r0 = 0,
                int64_t rows = -1, int64_t c0 = 0, int64_t cols = -1) {
    if (rows < 0) rows = full_rows;
    if (cols < 0) cols = full_cols;
    Tensor t = alloc(wtype(name), 1, rows, cols);
    read_into(name, {full_rows, full_cols}, t, 0, 0, r0, rows, c0);
    return t;
  }
  Tensor norm(const std::string& name, int64_t n) {
    Tensor t = alloc(DType::kF32, 1, 1, n);
    read_into(name, {n}, t, 0, 0, 0, 1);
    return t;
  }
  // gate and up [I, H] stacked as [2I, H]; down [H, I]; rows [i0, i0 + n) of the intermediate
  // dimension only (expert TP sharding).
  MlpWeights mlp(const std::string& prefix, int64_t I, int64_t H, int64_t i0, int64_t n) {
    MlpWeights m;
    m.gate_up = alloc(wtype(prefix + "gate_proj.weight"), 1, 2 * n, H);
    read_into(prefix + "gate_proj.weight", {I, H}, m.gate_up, 0, 0, i0, n);
    read_into(prefix + "up_proj.weight", {I, H}, m.gate_up, 0, n, i0, n);
    m.down = matrix(prefix + "down_proj.weight", H, I, 0, H, i0, n);
    return m;
  }

 private:
  const Checkpoint& ck_;
  Backend& be_;
  ModelWeights& w_;
  const std::function<void(uint64_t, uint64_t)>& progress_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::vector<uint8_t> full_, staging_;
};

}  // namespace

void check_layout(const ModelConfig& c, int64_t dp, int64_t tp, bool moe_ep) {
  const int64_t world = dp * tp;
  if (dp < 1 || tp < 1) fail("--dp and --tp must be at least 1");
  if (c.num_attention_heads % tp)
    fail("--tp ", tp, " does not divide the model's ", c.num_attention_heads, " attention heads");
  if (c.n_routed_experts > 0) {
    if (moe_ep && c.n_routed_experts % world)
      fail("--moe ep over ", world, " ranks does not divide the model's ", c.n_routed_experts,
           " routed experts");
    if (!moe_ep && c.moe_intermediate_size % world)
      fail("--moe tp over ", world, " ranks does not divide the expert width ",
           c.moe_intermediate_size, " (moe_intermediate_size)");
  }
}

ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, Backend& be,
                          const std::function<void(uint64_t, uint64_t)>& progress,
                          const ShardSpec& shard) {
  if (c.quantized)
    fail(ck.dir(), ": quantised checkpoint: not supported yet (config.json has a ",
         "quantization_config; convert the weights to bf16 first)");
  uint64_t total = 0;
  for (const auto& spec : checkpoint_tensor_specs(c))
    total += ck.info(spec.name).end - ck.info(spec.name).begin;
  ModelWeights w;
  w.shard = shard;
  WeightReader rd(ck, be, w, progress, total);
  const int64_t H = c.hidden_size, heads = c.num_attention_heads;
  const int64_t qk = c.qk_head_dim(), r = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim;
  // This rank's heads.
  const int64_t hl = heads / shard.attn_tp_size, h0 = shard.attn_tp_rank * hl;
  w.embed = rd.matrix("model.embed_tokens.weight", c.vocab_size, H);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l);
    LayerWeights L;
    L.input_norm = rd.norm(p + "input_layernorm.weight", H);
    L.post_norm = rd.norm(p + "post_attention_layernorm.weight", H);
    if (c.q_lora_rank > 0) {
      L.q_a = rd.matrix(p + "self_attn.q_a_proj.weight", c.q_lora_rank, H);
      L.q_a_norm = rd.norm(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank);
      L.q_b =
          rd.matrix(p + "self_attn.q_b_proj.weight", heads * qk, c.q_lora_rank, h0 * qk, hl * qk);
    } else {
      L.q_b = rd.matrix(p + "self_attn.q_proj.weight", heads * qk, H, h0 * qk, hl * qk);
    }
    L.kv_a = rd.matrix(p + "self_attn.kv_a_proj_with_mqa.weight", r + dr, H);
    L.kv_a_norm = rd.norm(p + "self_attn.kv_a_layernorm.weight", r);
    L.kv_b = rd.matrix(p + "self_attn.kv_b_proj.weight", heads * (dn + dv), r, h0 * (dn + dv),
                       hl * (dn + dv));
    L.o_proj = rd.matrix(p + "self_attn.o_proj.weight", H, heads * dv, 0, H, h0 * dv, hl * dv);
    L.moe = c.is_moe_layer(l);
    if (!L.moe) {
      L.mlp = rd.mlp(p + "mlp.", c.intermediate_size, H, 0, c.intermediate_size);
    } else {
      const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
      L.router = rd.matrix(p + "mlp.gate.weight", E, H);
      if (!c.is_v2) L.router_bias = rd.norm(p + "mlp.gate.e_score_correction_bias", E);
      // Expert parallelism: a contiguous range of experts. Expert TP: every expert, a slice of
      // its intermediate dimension.
      const int64_t el = shard.moe_ep ? E / shard.moe_size : E;
      const int64_t e0 = shard.moe_ep ? shard.moe_rank * el : 0;
      const int64_t il = shard.moe_ep ? I : I / shard.moe_size;
      const int64_t i0 = shard.moe_ep ? 0 : shard.moe_rank * il;
      const DType wt = rd.wtype(p + "mlp.experts.0.gate_proj.weight");
      L.experts_gate_up = rd.alloc(wt, el, 2 * il, H);  // [E_local, 2 I_local, H]
      L.experts_down = rd.alloc(wt, el, H, il);         // [E_local, H, I_local]
      L.first_expert = e0;
      for (int64_t e = 0; e < el; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e0 + e) + ".";
        rd.read_into(ep + "gate_proj.weight", {I, H}, L.experts_gate_up, e, 0, i0, il);
        rd.read_into(ep + "up_proj.weight", {I, H}, L.experts_gate_up, e, il, i0, il);
        rd.read_into(ep + "down_proj.weight", {H, I}, L.experts_down, e, 0, 0, H, i0);
      }
      L.has_shared = c.n_shared_experts > 0;
      const int64_t Is = I * c.n_shared_experts;
      if (L.has_shared) L.shared = rd.mlp(p + "mlp.shared_experts.", Is, H, 0, Is);
    }
    w.layers.push_back(L);
  }
  w.final_norm = rd.norm("model.norm.weight", H);
  w.lm_head = c.tie_word_embeddings ? w.embed : rd.matrix("lm_head.weight", c.vocab_size, H);
  return w;
}

}  // namespace duet
