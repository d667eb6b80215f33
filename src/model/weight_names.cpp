#include "model/weight_names.h"

namespace duet {

std::string layer_prefix(int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

std::vector<TensorSpec> checkpoint_tensor_specs(const ModelConfig& c) {
  const int64_t H = c.hidden_size, heads = c.num_attention_heads;
  const int64_t qk = c.qk_head_dim(), r = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  const auto bf16 = DType::kBF16;
  // Real checkpoints store norms in the model dtype; duet's mkmodel writes them as BF16 too.
  std::vector<TensorSpec> s;
  s.push_back({"model.embed_tokens.weight", bf16, {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l);
    s.push_back({p + "input_layernorm.weight", bf16, {H}});
    if (c.q_lora_rank > 0) {
      s.push_back({p + "self_attn.q_a_proj.weight", bf16, {c.q_lora_rank, H}});
      s.push_back({p + "self_attn.q_a_layernorm.weight", bf16, {c.q_lora_rank}});
      s.push_back({p + "self_attn.q_b_proj.weight", bf16, {heads * qk, c.q_lora_rank}});
    } else {
      s.push_back({p + "self_attn.q_proj.weight", bf16, {heads * qk, H}});
    }
    s.push_back({p + "self_attn.kv_a_proj_with_mqa.weight", bf16, {r + dr, H}});
    s.push_back({p + "self_attn.kv_a_layernorm.weight", bf16, {r}});
    s.push_back(
        {p + "self_attn.kv_b_proj.weight", bf16, {heads * (c.qk_nope_head_dim + c.v_head_dim), r}});
    s.push_back({p + "self_attn.o_proj.weight", bf16, {H, heads * c.v_head_dim}});
    s.push_back({p + "post_attention_layernorm.weight", bf16, {H}});
    if (c.is_moe_layer(l)) {
      const int64_t I = c.moe_intermediate_size;
      s.push_back({p + "mlp.gate.weight", bf16, {c.n_routed_experts, H}});
      if (!c.is_v2)
        s.push_back({p + "mlp.gate.e_score_correction_bias", DType::kF32, {c.n_routed_experts}});
      for (int64_t e = 0; e < c.n_routed_experts; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        s.push_back({ep + "gate_proj.weight", bf16, {I, H}});
        s.push_back({ep + "up_proj.weight", bf16, {I, H}});
        s.push_back({ep + "down_proj.weight", bf16, {H, I}});
      }
      if (c.n_shared_experts > 0) {
        const int64_t Is = I * c.n_shared_experts;
        s.push_back({p + "mlp.shared_experts.gate_proj.weight", bf16, {Is, H}});
        s.push_back({p + "mlp.shared_experts.up_proj.weight", bf16, {Is, H}});
        s.push_back({p + "mlp.shared_experts.down_proj.weight", bf16, {H, Is}});
      }
    } else {
      const int64_t I = c.intermediate_size;
      s.push_back({p + "mlp.gate_proj.weight", bf16, {I, H}});
      s.push_back({p + "mlp.up_proj.weight", bf16, {I, H}});
      s.push_back({p + "mlp.down_proj.weight", bf16, {H, I}});
    }
  }
  s.push_back({"model.norm.weight", bf16, {H}});
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", bf16, {c.vocab_size, H}});
  return s;
}

}  // namespace duet
