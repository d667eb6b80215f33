// ModelConfig: the architecture of a DeepSeek-V3-family checkpoint, read from config.json in any
// of the spellings real checkpoints use (see docs/ARCHITECTURE.md, "Config").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace duet {

enum class ScoringFunc { kSigmoid, kSoftmax };
// noaux_tc: sigmoid scores + correction bias for selection, grouped top-2 sums (V3, Kimi,
// Moonlight). greedy: plain top-k (V2). group_limited_greedy: group max, other groups zeroed (V2).
enum class TopkMethod { kNoauxTc, kGreedy, kGroupLimitedGreedy };

struct RopeConfig {
  double theta = 10000.0;
  bool yarn = false;
  double factor = 1.0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 0.0;  // 0: absent (transformers then uses get_mscale(factor))
  double mscale_all_dim = 0.0;
  int64_t original_max_position_embeddings = 4096;
};

struct ModelConfig {
  std::string model_type;  // as written in config.json (text backbone for kimi_k25)
  bool is_v2 = false;      // DeepSeek-V2 router semantics
  // Prefix of the text backbone's tensor names ("language_model." for Kimi-K2.5).
  std::string weight_prefix;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense MLP
  int64_t moe_intermediate_size = 0;  // one routed expert
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t q_lora_rank = 0;  // 0: plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  ScoringFunc scoring_func = ScoringFunc::kSigmoid;
  TopkMethod topk_method = TopkMethod::kNoauxTc;

  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  int64_t max_position_embeddings = 4096;
  bool tie_word_embeddings = false;
  std::string torch_dtype;  // "bfloat16", "float32", ... (informational)
  bool quantized = false;   // quantization_config present

  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // from config.json (generation_config adds more)

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Latent cache width per token per layer: normed latent | roped k_rope.
  int64_t kv_cache_dim() const { return kv_lora_rank + qk_rope_head_dim; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           (moe_layer_freq <= 1 || layer % moe_layer_freq == 0);
  }
  // Softmax scale: qk_head_dim^-0.5 * m^2 with yarn's mscale_all_dim term.
  double softmax_scale() const;
};

// Parses a config.json object. Throws duet::Error naming `source` and the field on bad input.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);
// Reads DIR/config.json and, if present, DIR/generation_config.json (for extra EOS ids).
ModelConfig load_model_config(const std::string& model_dir);
// EOS ids from a generation_config.json object (int or list), empty when absent.
std::vector<int64_t> eos_ids_from_json(const nlohmann::json& j);

// A one-line description for logs: "deepseek_v3: 3 layers, hidden 64, 8 experts top-3, ...".
std::string describe(const ModelConfig& c);

}  // namespace duet
