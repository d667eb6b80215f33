#include "config/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace duet {
namespace {

using json = nlohmann::json;

json v3_base() {
  return json::parse(R"({
    "model_type": "deepseek_v3", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96,
    "moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
    "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 3, "n_group": 4,
    "topk_group": 2, "first_k_dense_replace": 1, "q_lora_rank": 24, "kv_lora_rank": 16,
    "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 12,
    "routed_scaling_factor": 2.5, "rms_norm_eps": 1e-5, "max_position_embeddings": 256,
    "rope_theta": 10000.0, "eos_token_id": 1, "bos_token_id": 0,
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}
  })");
}

TEST(ModelConfig, ParsesLegacyRopeScaling) {
  ModelConfig c = parse_model_config(v3_base(), "cfg");
  EXPECT_TRUE(c.rope.yarn);
  EXPECT_EQ(c.rope.factor, 40);
  EXPECT_EQ(c.q_lora_rank, 24);
  EXPECT_EQ(c.kv_cache_dim(), 24);
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(c.topk_method, TopkMethod::kNoauxTc);
}

TEST(ModelConfig, SoftmaxScaleMatchesPublishedValues) {
  // DeepSeek-V3: 192^-0.5 * (0.1 ln 40 + 1)^2 = 0.13523378
  json j = v3_base();
  j["qk_nope_head_dim"] = 128;
  j["qk_rope_head_dim"] = 64;
  EXPECT_NEAR(parse_model_config(j, "cfg").softmax_scale(), 0.13523378, 1e-8);
  j["rope_scaling"]["mscale_all_dim"] = 0.707;  // V2-Lite
  EXPECT_NEAR(parse_model_config(j, "cfg").softmax_scale(), 0.11472139, 1e-8);
  j["rope_scaling"] = nullptr;  // Moonlight: no yarn
  EXPECT_NEAR(parse_model_config(j, "cfg").softmax_scale(), 0.07216878, 1e-8);
}

TEST(ModelConfig, ParsesTransformers5Spelling) {
  json j = v3_base();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_theta", 50000.0}, {"rope_type", "default"}};
  j["dtype"] = "bfloat16";
  j["q_lora_rank"] = nullptr;
  j["n_group"] = nullptr;
  j["topk_group"] = nullptr;
  ModelConfig c = parse_model_config(j, "cfg");
  EXPECT_FALSE(c.rope.yarn);
  EXPECT_EQ(c.rope.theta, 50000.0);
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_EQ(c.n_group, 1);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(ModelConfig, KimiK25UsesTextConfigAndPrefix) {
  json text = v3_base();
  text["model_type"] = "kimi_k2";
  json j = {{"model_type", "kimi_k25"}, {"text_config", text}, {"vision_config", json::object()}};
  ModelConfig c = parse_model_config(j, "cfg");
  EXPECT_EQ(c.weight_prefix, "language_model.");
  EXPECT_EQ(c.hidden_size, 64);
}

TEST(ModelConfig, V2DefaultsToSoftmaxGreedy) {
  json j = v3_base();
  j["model_type"] = "deepseek_v2";
  j.erase("n_group");
  j.erase("topk_group");
  ModelConfig c = parse_model_config(j, "cfg");
  EXPECT_TRUE(c.is_v2);
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSoftmax);
  EXPECT_EQ(c.topk_method, TopkMethod::kGreedy);
  EXPECT_FALSE(c.norm_topk_prob);
}

TEST(ModelConfig, RefusesBadConfigs) {
  json j = v3_base();
  j["model_type"] = "llama";
  EXPECT_THROW(parse_model_config(j, "cfg"), Error);
  j = v3_base();
  j["n_group"] = 3;  // 8 experts not divisible by 3
  EXPECT_THROW(parse_model_config(j, "cfg"), Error);
  j = v3_base();
  j["hidden_size"] = "big";
  EXPECT_THROW(parse_model_config(j, "cfg"), Error);
  j = v3_base();
  j.erase("vocab_size");
  EXPECT_THROW(parse_model_config(j, "cfg"), Error);
  try {
    j = v3_base();
    j["model_type"] = "qwen2";
    parse_model_config(j, "x/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos);
  }
}

TEST(ModelConfig, IgnoresUnknownFields) {
  json j = v3_base();
  j["some_future_field"] = {1, 2, 3};
  j["num_nextn_predict_layers"] = 1;
  EXPECT_NO_THROW(parse_model_config(j, "cfg"));
}

}  // namespace
}  // namespace duet
