#include "apps/model_presets.h"

#include "common/error.h"

namespace duet {

using ojson = nlohmann::ordered_json;

namespace {

ojson yarn(double factor, double beta_fast, double beta_slow, double mscale) {
  return {{"type", "yarn"},
          {"factor", factor},
          {"beta_fast", beta_fast},
          {"beta_slow", beta_slow},
          {"mscale", mscale},
          {"mscale_all_dim", mscale},
          {"original_max_position_embeddings", 4096}};
}

ojson base(const std::string& type, int64_t hidden, int64_t layers, int64_t heads,
           const ojson& q_lora, int64_t inter, int64_t moe_inter, int64_t experts, int64_t topk,
           int64_t shared, int64_t n_group, int64_t topk_group, int64_t first_dense, double scaling,
           double eps, double theta, const ojson& rope_scaling, int64_t max_pos, int64_t vocab,
           int64_t bos, int64_t eos) {
  return {{"architectures", {"DeepseekV3ForCausalLM"}},
          {"model_type", type},
          {"vocab_size", vocab},
          {"hidden_size", hidden},
          {"intermediate_size", inter},
          {"moe_intermediate_size", moe_inter},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"num_key_value_heads", heads},
          {"q_lora_rank", q_lora},
          {"kv_lora_rank", 512},
          {"qk_nope_head_dim", 128},
          {"qk_rope_head_dim", 64},
          {"v_head_dim", 128},
          {"n_routed_experts", experts},
          {"num_experts_per_tok", topk},
          {"n_shared_experts", shared},
          {"n_group", n_group},
          {"topk_group", topk_group},
          {"first_k_dense_replace", first_dense},
          {"moe_layer_freq", 1},
          {"scoring_func", "sigmoid"},
          {"topk_method", "noaux_tc"},
          {"norm_topk_prob", true},
          {"routed_scaling_factor", scaling},
          {"hidden_act", "silu"},
          {"rms_norm_eps", eps},
          {"rope_theta", theta},
          {"rope_scaling", rope_scaling},
          {"max_position_embeddings", max_pos},
          {"bos_token_id", bos},
          {"eos_token_id", eos},
          {"tie_word_embeddings", false},
          {"torch_dtype", "bfloat16"}};
}

}  // namespace

std::vector<std::string> model_preset_names() {
  return {"tiny", "moonlight-16b-a3b", "deepseek-v3", "kimi-k2"};
}

ojson model_preset(const std::string& name) {
  if (name == "moonlight-16b-a3b")
    return base("deepseek_v3", 2048, 27, 16, nullptr, 11264, 1408, 64, 6, 2, 1, 1, 1, 2.446, 1e-5,
                50000.0, nullptr, 8192, 163840, 163584, 163585);
  if (name == "deepseek-v3")
    return base("deepseek_v3", 7168, 61, 128, 1536, 18432, 2048, 256, 8, 1, 8, 4, 3, 2.5, 1e-6,
                10000.0, yarn(40, 32, 1, 1.0), 163840, 129280, 0, 1);
  if (name == "kimi-k2")
    return base("kimi_k2", 7168, 61, 64, 1536, 18432, 2048, 384, 8, 1, 1, 1, 1, 2.827, 1e-6,
                50000.0, yarn(32, 1, 1, 1.0), 131072, 163840, 163584, 163585);
  if (name == "tiny") {
    // DeepSeek-V3's vocabulary (so its real tokenizer fits) around a very small MoE body.
    ojson c = base("deepseek_v3", 128, 4, 4, 64, 256, 64, 16, 4, 1, 4, 2, 1, 2.5, 1e-6, 10000.0,
                   nullptr, 4096, 129280, 0, 1);
    c["kv_lora_rank"] = 64;
    c["qk_nope_head_dim"] = 32;
    c["qk_rope_head_dim"] = 16;
    c["v_head_dim"] = 32;
    return c;
  }
  std::string names;
  for (const auto& n : model_preset_names()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown preset '", name, "' (presets: ", names, ")");
}

}  // namespace duet
