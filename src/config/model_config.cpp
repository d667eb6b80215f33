#include "config/model_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace duet {

using json = nlohmann::json;

namespace {

// Reads an optional numeric field; null or absent gives `def`. Wrong types are errors.
template <typename T>
T get_num(const json& j, const char* key, T def, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_boolean() || !it->is_number())
    fail(src, ": field '", key, "' must be a number, got ", it->dump());
  return it->get<T>();
}

int64_t get_int(const json& j, const char* key, int64_t def, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer())
    fail(src, ": field '", key, "' must be an integer, got ", it->dump());
  return it->get<int64_t>();
}

int64_t require_int(const json& j, const char* key, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail(src, ": required field '", key, "' is missing");
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    fail(src, ": field '", key, "' must be a non-negative integer, got ", it->dump());
  return it->get<int64_t>();
}

bool get_bool(const json& j, const char* key, bool def, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) fail(src, ": field '", key, "' must be true or false, got ", it->dump());
  return it->get<bool>();
}

std::string get_str(const json& j, const char* key, const std::string& def,
                    const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) fail(src, ": field '", key, "' must be a string, got ", it->dump());
  return it->get<std::string>();
}

std::vector<int64_t> id_or_list(const json& j, const char* key, const std::string& src) {
  std::vector<int64_t> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (it->is_number_integer()) {
    out.push_back(it->get<int64_t>());
  } else if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_number_integer()) fail(src, ": field '", key, "' must hold integers");
      out.push_back(v.get<int64_t>());
    }
  } else {
    fail(src, ": field '", key, "' must be an integer or a list of integers");
  }
  return out;
}

// rope_scaling (4.x) or rope_parameters (5.x); both may be null or absent.
void parse_rope(const json& j, ModelConfig& c, const std::string& src) {
  c.rope.theta = get_num<double>(j, "rope_theta", 10000.0, src);
  const json* rp = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) {
      if (!it->is_object()) fail(src, ": field '", key, "' must be an object");
      rp = &*it;
      break;
    }
  }
  if (!rp) return;
  const std::string s = src + " (rope settings)";
  c.rope.theta = get_num<double>(*rp, "rope_theta", c.rope.theta, s);
  std::string type = get_str(*rp, "rope_type", "", s);
  if (type.empty()) type = get_str(*rp, "type", "default", s);
  if (type == "default") return;
  if (type != "yarn")
    fail(src, ": rope type '", type, "' is not supported (expected 'default' or 'yarn')");
  c.rope.yarn = true;
  c.rope.factor = get_num<double>(*rp, "factor", 1.0, s);
  c.rope.beta_fast = get_num<double>(*rp, "beta_fast", 32.0, s);
  c.rope.beta_slow = get_num<double>(*rp, "beta_slow", 1.0, s);
  c.rope.mscale = get_num<double>(*rp, "mscale", 0.0, s);
  c.rope.mscale_all_dim = get_num<double>(*rp, "mscale_all_dim", 0.0, s);
  // HF: a missing original_max_position_embeddings means max_position_embeddings.
  c.rope.original_max_position_embeddings =
      get_int(*rp, "original_max_position_embeddings", c.max_position_embeddings, s);
  if (c.rope.factor <= 0) fail(src, ": rope factor must be positive");
}

}  // namespace

double ModelConfig::softmax_scale() const {
  double m = 1.0;
  if (rope.yarn && rope.mscale_all_dim != 0.0 && rope.factor > 1.0)
    m = 0.1 * rope.mscale_all_dim * std::log(rope.factor) + 1.0;
  return std::pow(static_cast<double>(qk_head_dim()), -0.5) * m * m;
}

std::vector<int64_t> eos_ids_from_json(const json& j) {
  return id_or_list(j, "eos_token_id", "generation_config.json");
}

ModelConfig parse_model_config(const json& root, const std::string& src) {
  if (!root.is_object()) fail(src, ": expected a JSON object");
  ModelConfig c;
  const json* j = &root;
  const std::string top_type = get_str(root, "model_type", "", src);
  if (top_type == "kimi_k25") {
    // Multimodal wrapper: the text backbone is under text_config, its tensors under
    // language_model.; vision tensors are skipped by the loader.
    auto it = root.find("text_config");
    if (it == root.end() || !it->is_object())
      fail(src, ": model_type kimi_k25 needs a 'text_config' object");
    j = &*it;
    c.weight_prefix = "language_model.";
    c.model_type = get_str(*j, "model_type", "kimi_k2", src);
  } else {
    c.model_type = top_type;
  }
  if (c.model_type == "deepseek_v2") {
    c.is_v2 = true;
  } else if (c.model_type != "deepseek_v3" && c.model_type != "kimi_k2") {
    fail(src, ": model_type '", top_type.empty() ? "(missing)" : top_type,
         "' is not supported (duet serves deepseek_v3, kimi_k2, kimi_k25 and deepseek_v2)");
  }
  const std::string act = get_str(*j, "hidden_act", "silu", src);
  if (act != "silu") fail(src, ": hidden_act '", act, "' is not supported (expected silu)");

  c.vocab_size = require_int(*j, "vocab_size", src);
  c.hidden_size = require_int(*j, "hidden_size", src);
  c.intermediate_size = require_int(*j, "intermediate_size", src);
  c.num_hidden_layers = require_int(*j, "num_hidden_layers", src);
  c.num_attention_heads = require_int(*j, "num_attention_heads", src);
  c.kv_lora_rank = require_int(*j, "kv_lora_rank", src);
  c.qk_nope_head_dim = require_int(*j, "qk_nope_head_dim", src);
  c.qk_rope_head_dim = require_int(*j, "qk_rope_head_dim", src);
  c.v_head_dim = require_int(*j, "v_head_dim", src);
  c.q_lora_rank = get_int(*j, "q_lora_rank", 0, src);
  // Absent MoE fields take transformers' defaults for the family (DeepSeek-V3's sizes for
  // V3/Kimi, V2-Lite's for V2); null group fields mean "no grouping".
  const bool v2 = c.is_v2;
  c.moe_intermediate_size = get_int(*j, "moe_intermediate_size", v2 ? 1407 : 2048, src);
  c.n_routed_experts = get_int(*j, "n_routed_experts", v2 ? 64 : 256, src);
  c.n_shared_experts = get_int(*j, "n_shared_experts", v2 ? 2 : 1, src);
  c.num_experts_per_tok = get_int(*j, "num_experts_per_tok", v2 ? 6 : 8, src);
  c.first_k_dense_replace = get_int(*j, "first_k_dense_replace", v2 ? 0 : 3, src);
  c.moe_layer_freq = get_int(*j, "moe_layer_freq", 1, src);
  c.n_group = j->contains("n_group") ? get_int(*j, "n_group", 1, src) : (v2 ? 1 : 8);
  c.topk_group = j->contains("topk_group") ? get_int(*j, "topk_group", 1, src) : (v2 ? 1 : 4);
  c.max_position_embeddings = get_int(*j, "max_position_embeddings", 4096, src);
  c.rms_norm_eps = get_num<double>(*j, "rms_norm_eps", 1e-6, src);
  c.tie_word_embeddings = get_bool(*j, "tie_word_embeddings", false, src);
  c.torch_dtype = get_str(*j, "dtype", get_str(*j, "torch_dtype", "", src), src);
  c.bos_token_id = get_int(*j, "bos_token_id", -1, src);
  c.eos_token_ids = id_or_list(*j, "eos_token_id", src);
  c.quantized = (j->contains("quantization_config") && !(*j)["quantization_config"].is_null()) ||
                (root.contains("quantization_config") && !root["quantization_config"].is_null());

  // Routing: V3-family configs may omit scoring_func / topk_method (HF hard-codes sigmoid +
  // noaux_tc); V2 defaults to softmax + greedy and never normalises the top-k weights.
  const std::string scoring = get_str(*j, "scoring_func", c.is_v2 ? "softmax" : "sigmoid", src);
  const std::string method = get_str(*j, "topk_method", c.is_v2 ? "greedy" : "noaux_tc", src);
  if (scoring == "sigmoid")
    c.scoring_func = ScoringFunc::kSigmoid;
  else if (scoring == "softmax")
    c.scoring_func = ScoringFunc::kSoftmax;
  else
    fail(src, ": scoring_func '", scoring, "' is not supported (sigmoid or softmax)");
  if (method == "noaux_tc")
    c.topk_method = TopkMethod::kNoauxTc;
  else if (method == "greedy")
    c.topk_method = TopkMethod::kGreedy;
  else if (method == "group_limited_greedy")
    c.topk_method = TopkMethod::kGroupLimitedGreedy;
  else
    fail(src, ": topk_method '", method, "' is not supported");
  if (c.is_v2) {
    c.norm_topk_prob = false;  // HF's V2 router ignores norm_topk_prob
    c.routed_scaling_factor = get_num<double>(*j, "routed_scaling_factor", 1.0, src);
    if (c.topk_method == TopkMethod::kNoauxTc)
      fail(src, ": topk_method noaux_tc is not a DeepSeek-V2 routing method");
  } else {
    c.norm_topk_prob = get_bool(*j, "norm_topk_prob", true, src);
    c.routed_scaling_factor = get_num<double>(*j, "routed_scaling_factor", 2.5, src);
    if (c.topk_method != TopkMethod::kNoauxTc || c.scoring_func != ScoringFunc::kSigmoid)
      fail(src, ": model_type ", c.model_type, " routes with sigmoid + noaux_tc, got ", scoring,
           " + ", method);
  }
  parse_rope(*j, c, src);

  // Structural checks: every size must make the model well formed.
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) fail(src, ": '", name, "' must be positive");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.kv_lora_rank, "kv_lora_rank");
  positive(c.qk_rope_head_dim, "qk_rope_head_dim");
  positive(c.v_head_dim, "v_head_dim");
  if (c.qk_rope_head_dim % 2) fail(src, ": qk_rope_head_dim must be even");
  if (c.q_lora_rank < 0) fail(src, ": q_lora_rank must be null or positive");
  if (c.n_routed_experts > 0) {
    positive(c.moe_intermediate_size, "moe_intermediate_size");
    positive(c.num_experts_per_tok, "num_experts_per_tok");
    if (c.num_experts_per_tok > c.n_routed_experts)
      fail(src, ": num_experts_per_tok (", c.num_experts_per_tok, ") exceeds n_routed_experts (",
           c.n_routed_experts, ")");
    if (c.topk_method != TopkMethod::kGreedy) {
      if (c.n_group <= 0 || c.n_routed_experts % c.n_group)
        fail(src, ": n_routed_experts (", c.n_routed_experts, ") is not divisible by n_group (",
             c.n_group, ")");
      if (c.topk_group <= 0 || c.topk_group > c.n_group)
        fail(src, ": topk_group (", c.topk_group, ") must be in 1..n_group (", c.n_group, ")");
      if (c.topk_method == TopkMethod::kNoauxTc && c.n_routed_experts / c.n_group < 2 &&
          c.n_group > 1)
        fail(src, ": noaux_tc grouping needs at least 2 experts per group");
      if (c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group))
        fail(src, ": num_experts_per_tok exceeds the experts in the kept groups");
    }
  }
  if (c.first_k_dense_replace < c.num_hidden_layers || c.n_routed_experts == 0)
    positive(c.intermediate_size, "intermediate_size");
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  const std::string path = path_join(model_dir, "config.json");
  if (!file_exists(path)) fail(model_dir, ": no config.json (is this a Hugging Face checkpoint?)");
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  ModelConfig c = parse_model_config(j, path);
  const std::string gen = path_join(model_dir, "generation_config.json");
  if (file_exists(gen)) {
    try {
      json g = json::parse(read_file(gen));
      for (int64_t id : eos_ids_from_json(g)) {
        bool seen = false;
        for (int64_t e : c.eos_token_ids) seen |= (e == id);
        if (!seen) c.eos_token_ids.push_back(id);
      }
    } catch (const json::exception& e) {
      fail(gen, ": invalid JSON: ", e.what());
    }
  }
  return c;
}

std::string describe(const ModelConfig& c) {
  return str_cat(c.model_type, ": ", c.num_hidden_layers, " layers, hidden ", c.hidden_size, ", ",
                 c.num_attention_heads, " heads, q_lora ",
                 c.q_lora_rank ? std::to_string(c.q_lora_rank) : std::string("none"), ", ",
                 c.n_routed_experts, " experts top-", c.num_experts_per_tok, " + ",
                 c.n_shared_experts, " shared, vocab ", c.vocab_size);
}

}  // namespace duet
