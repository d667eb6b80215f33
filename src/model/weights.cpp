#include "model/weights.h"

#include <vector>

#include "model/weight_names.h"

namespace duet {
namespace {

class WeightReader {
 public:
  WeightReader(const Checkpoint& ck, Backend& be, ModelWeights& w,
               const std::function<void(uint64_t, uint64_t)>& progress, uint64_t total)
      : ck_(ck), be_(be), w_(w), progress_(progress), total_(total) {}

  // A tensor of `batch` x rows x cols in `dtype`, read from one or more checkpoint tensors.
  Tensor alloc(DType dtype, int64_t batch, int64_t rows, int64_t cols) {
    const size_t bytes = static_cast<size_t>(batch * rows * cols) * dtype_size(dtype);
    w_.storage.emplace_back(be_, bytes);
    return Tensor::stacked(w_.storage.back().get(), dtype, batch, rows, cols);
  }
  // Reads `name` (shape [rows, cols], or [cols] for vectors) into rows [row0, ...) of dst[b].
  void read_into(const std::string& name, const Tensor& dst, int64_t b, int64_t row0, int64_t rows,
                 bool vector = false) {
    const int64_t cols = dst.cols;
    staging_.resize(static_cast<size_t>(rows * cols) * dst.elem_size());
    std::vector<int64_t> shape =
        vector ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
    ck_.read(name, shape, dst.dtype, staging_.data());
    be_.copy_to_device(dst.at(b, row0), staging_.data(), staging_.size());
    done_ += ck_.info(name).end - ck_.info(name).begin;
    if (progress_) progress_(done_, total_);
  }
  Tensor matrix(const std::string& name, int64_t rows, int64_t cols) {
    Tensor t = alloc(be_.weight_dtype(ck_.info(name).dtype), 1, rows, cols);
    read_into(name, t, 0, 0, rows);
    return t;
  }
  Tensor norm(const std::string& name, int64_t n) {
    Tensor t = alloc(DType::kF32, 1, 1, n);
    read_into(name, t, 0, 0, 1, /*vector=*/true);
    return t;
  }
  // gate and up [I, H] stacked as [2I, H].
  MlpWeights mlp(const std::string& prefix, int64_t I, int64_t H) {
    MlpWeights m;
    m.gate_up = alloc(be_.weight_dtype(ck_.info(prefix + "gate_proj.weight").dtype), 1, 2 * I, H);
    read_into(prefix + "gate_proj.weight", m.gate_up, 0, 0, I);
    read_into(prefix + "up_proj.weight", m.gate_up, 0, I, I);
    m.down = matrix(prefix + "down_proj.weight", H, I);
    return m;
  }

  const Checkpoint& ck() const { return ck_; }

 private:
  const Checkpoint& ck_;
  Backend& be_;
  ModelWeights& w_;
  const std::function<void(uint64_t, uint64_t)>& progress_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::vector<uint8_t> staging_;
};

}  // namespace

ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, Backend& be,
                          const std::function<void(uint64_t, uint64_t)>& progress) {
  if (c.quantized)
    fail(ck.dir(), ": quantised checkpoint: not supported yet (config.json has a ",
         "quantization_config; convert the weights to bf16 first)");
  uint64_t total = 0;
  for (const auto& spec : checkpoint_tensor_specs(c))
    total += ck.info(spec.name).end - ck.info(spec.name).begin;
  ModelWeights w;
  WeightReader rd(ck, be, w, progress, total);
  const int64_t H = c.hidden_size, heads = c.num_attention_heads;
  const int64_t qk = c.qk_head_dim(), r = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  w.embed = rd.matrix("model.embed_tokens.weight", c.vocab_size, H);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l);
    LayerWeights L;
    L.input_norm = rd.norm(p + "input_layernorm.weight", H);
    L.post_norm = rd.norm(p + "post_attention_layernorm.weight", H);
    if (c.q_lora_rank > 0) {
      L.q_a = rd.matrix(p + "self_attn.q_a_proj.weight", c.q_lora_rank, H);
      L.q_a_norm = rd.norm(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank);
      L.q_b = rd.matrix(p + "self_attn.q_b_proj.weight", heads * qk, c.q_lora_rank);
    } else {
      L.q_b = rd.matrix(p + "self_attn.q_proj.weight", heads * qk, H);
    }
    L.kv_a = rd.matrix(p + "self_attn.kv_a_proj_with_mqa.weight", r + dr, H);
    L.kv_a_norm = rd.norm(p + "self_attn.kv_a_layernorm.weight", r);
    L.kv_b =
        rd.matrix(p + "self_attn.kv_b_proj.weight", heads * (c.qk_nope_head_dim + c.v_head_dim), r);
    L.o_proj = rd.matrix(p + "self_attn.o_proj.weight", H, heads * c.v_head_dim);
    L.moe = c.is_moe_layer(l);
    if (!L.moe) {
      L.mlp = rd.mlp(p + "mlp.", c.intermediate_size, H);
    } else {
      const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
      L.router = rd.matrix(p + "mlp.gate.weight", E, H);
      if (!c.is_v2) L.router_bias = rd.norm(p + "mlp.gate.e_score_correction_bias", E);
      const DType wt = be.weight_dtype(ck.info(p + "mlp.experts.0.gate_proj.weight").dtype);
      L.experts_gate_up = rd.alloc(wt, E, 2 * I, H);
      L.experts_down = rd.alloc(wt, E, H, I);
      for (int64_t e = 0; e < E; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        rd.read_into(ep + "gate_proj.weight", L.experts_gate_up, e, 0, I);
        rd.read_into(ep + "up_proj.weight", L.experts_gate_up, e, I, I);
        rd.read_into(ep + "down_proj.weight", L.experts_down, e, 0, H);
      }
      L.has_shared = c.n_shared_experts > 0;
      if (L.has_shared) L.shared = rd.mlp(p + "mlp.shared_experts.", I * c.n_shared_experts, H);
    }
    w.layers.push_back(L);
  }
  w.final_norm = rd.norm("model.norm.weight", H);
  w.lm_head = c.tie_word_embeddings ? w.embed : rd.matrix("lm_head.weight", c.vocab_size, H);
  return w;
}

}  // namespace duet
