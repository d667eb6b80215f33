// duet mkmodel: writes a random-weight checkpoint in Hugging Face layout from a preset or a
// config.json. Tensors are filled in parallel with a counter-based generator (the same bytes
// for any thread count) and streamed to disk shard by shard.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "apps/model_presets.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/thread_pool.h"
#include "config/model_config.h"
#include "loader/safetensors_writer.h"
#include "model/weight_names.h"

namespace duet {
namespace {

using ojson = nlohmann::ordered_json;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Approximately standard normal value number i of stream `key`: the sum of four 16-bit
// uniforms from one hash (Irwin-Hall), rescaled to unit variance. One hash per value keeps a
// 30 GB checkpoint to minutes; the weights only need to be random and well scaled.
float normal(uint64_t key, uint64_t i) {
  const uint64_t h = splitmix64(key ^ (i * 0xd1b54a32d192ed03ull));
  const double sum =
      static_cast<double>((h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + (h >> 48));
  // Mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
  return static_cast<float>((sum - 131070.0) / 37837.2);
}

// Scale of each tensor's values: norms near 1, matrices 1/sqrt(fan_in) so activations keep
// their size through the layers, a small router bias.
void fill_tensor(const TensorSpec& spec, uint64_t key, uint8_t* dst, ThreadPool& pool) {
  const int64_t n = spec.numel();
  const bool is_norm = spec.name.find("norm") != std::string::npos;
  const bool is_bias = spec.name.find("e_score_correction_bias") != std::string::npos;
  const double fan_in = spec.shape.empty() ? 1.0 : static_cast<double>(spec.shape.back());
  const float scale = is_bias   ? 0.05f
                      : is_norm ? 0.1f
                      : spec.name.find("embed_tokens") != std::string::npos
                          ? 1.0f
                          : static_cast<float>(1.0 / std::sqrt(fan_in));
  const float offset = is_norm ? 1.0f : 0.0f;
  pool.parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = offset + scale * normal(key, static_cast<uint64_t>(i));
      if (spec.dtype == DType::kF32) {
        std::memcpy(dst + 4 * i, &v, 4);
      } else {
        const uint16_t h = f32_to_bf16(v);
        std::memcpy(dst + 2 * i, &h, 2);
      }
    }
  });
}

int run_mkmodel(const std::vector<std::string>& args) {
  std::string presets;
  for (const auto& n : model_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  Flags flags("duet mkmodel", "duet mkmodel (--preset NAME | --config FILE) --out DIR [flags]",
              "Writes a random-weight checkpoint in Hugging Face layout (config.json,\n"
              "generation_config.json, bf16 safetensors with F32 router biases, sharded with\n"
              "model.safetensors.index.json when large). Presets: " +
                  presets + ".");
  auto& preset = flags.add_string("preset", "", "architecture preset");
  auto& config_path = flags.add_string("config", "", "a config.json to use instead of a preset");
  auto& out = flags.add_string("out", "", "output directory (created)");
  auto& layers = flags.add_int("layers", 0, "truncate to N decoder layers (0: all)");
  auto& seed = flags.add_int("seed", 0, "random seed of the weights");
  auto& shard_gb = flags.add_double("shard-gb", 4.0, "largest shard in GiB");
  auto& tokenizer = flags.add_string("tokenizer", "", "copy tokenizer files from this directory");
  auto& threads = flags.add_int("threads", 0, "threads (0: all cores)");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
  if (out.empty()) fail("duet mkmodel: --out is required");
  if (preset.empty() == config_path.empty())
    fail("duet mkmodel: give exactly one of --preset, --config");
  ojson cfg;
  if (!preset.empty()) {
    cfg = model_preset(preset);
  } else {
    try {
      cfg = ojson::parse(read_file(config_path));
    } catch (const ojson::exception& e) {
      fail(config_path, ": invalid JSON: ", e.what());
    }
  }
  ojson& text = cfg.contains("text_config") ? cfg["text_config"] : cfg;
  if (layers > 0) text["num_hidden_layers"] = layers;
  const ModelConfig c = parse_model_config(nlohmann::json::parse(cfg.dump()), "config");
  std::filesystem::create_directories(out);
  write_file(path_join(out, "config.json"), cfg.dump(2) + "\n");
  ojson gen = {
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_ids.empty() ? ojson(nullptr) : ojson(c.eos_token_ids[0])}};
  write_file(path_join(out, "generation_config.json"), gen.dump(2) + "\n");
  if (!tokenizer.empty()) {
    for (const char* f :
         {"tokenizer.json", "tokenizer_config.json", "tiktoken.model", "chat_template.jinja"}) {
      const std::string src = path_join(tokenizer, f);
      if (file_exists(src))
        std::filesystem::copy_file(src, path_join(out, f),
                                   std::filesystem::copy_options::overwrite_existing);
    }
  }
  std::vector<TensorSpec> specs = checkpoint_tensor_specs(c);
  for (auto& s : specs) s.name = c.weight_prefix + s.name;
  uint64_t total = 0;
  for (const auto& s : specs) total += s.bytes();
  ThreadPool pool(threads > 0 ? static_cast<int>(threads) : ThreadPool::default_threads());
  ProgressBar bar("mkmodel " + out, total);
  const auto start = std::chrono::steady_clock::now();
  write_checkpoint(
      out, specs,
      [&](size_t i, uint8_t* dst) {
        fill_tensor(specs[i], splitmix64(static_cast<uint64_t>(seed) * 1000003 + i), dst, pool);
      },
      static_cast<uint64_t>(shard_gb * (1ull << 30)),
      [&](uint64_t done, uint64_t) { bar.update(done); });
  bar.finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_info("wrote ", describe(c), " to ", out, ": ", total / 1e9, " GB in ", secs, " s");
  return 0;
}

RegisterCommand reg("mkmodel",
                    {"write a random-weight checkpoint from a preset or config", run_mkmodel});

}  // namespace
}  // namespace duet
