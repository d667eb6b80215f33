#include "apps/engine_flags.h"

#include <memory>

#include "common/log.h"
#include "common/progress.h"

namespace duet {

EngineFlags add_engine_flags(Flags& flags, const std::string& model_help) {
  EngineFlags f;
  f.model = &flags.add_string("model", "", model_help);
  f.device = &flags.add_string("device", "", "cpu or cuda (default: cuda when a GPU is usable)");
  f.threads = &flags.add_int("threads", 0, "CPU threads (0: all cores)");
  f.max_num_seqs = &flags.add_int("max-num-seqs", 256, "most sequences in one step");
  f.max_num_batched_tokens =
      &flags.add_int("max-num-batched-tokens", 2048, "token budget of one step (chunked prefill)");
  f.kv_cache_tokens =
      &flags.add_int("kv-cache-tokens", 0, "KV cache capacity in tokens (0: from memory)");
  f.gpu_memory_utilization = &flags.add_double(
      "gpu-memory-utilization", 0.9, "share of GPU memory for weights and KV cache (cuda)");
  f.max_model_len = &flags.add_int("max-model-len", 0, "context length (0: the model's)");
  f.no_prefix_caching = &flags.add_bool("no-prefix-caching", "disable the prefix cache");
  f.dp = &flags.add_int("dp", 1, "attention data-parallel ranks");
  f.tp = &flags.add_int("tp", 1, "attention tensor-parallel ranks per DP group");
  f.moe = &flags.add_string("moe", "tp", "MoE sharding over all ranks: tp or ep");
  f.tbo = &flags.add_bool("tbo", "two-batch overlap");
  f.tbo_min_tokens_decode =
      &flags.add_int("tbo-min-tokens-decode", 32,
                     "TBO runs when the largest rank decodes at least this many tokens");
  f.tbo_min_tokens_prefill =
      &flags.add_int("tbo-min-tokens-prefill", 512,
                     "TBO runs when the largest rank prefills at least this many tokens");
  f.pad_moe_gather = &flags.add_bool(
      "pad-moe-gather", "pad every DP rank's MoE rows to the largest (else variable-size gathers)");
  f.no_prefill_delayer = &flags.add_bool("no-prefill-delayer",
                                         "with --dp > 1, do not hold prefills until ranks align");
  f.enforce_eager = &flags.add_bool(
      "enforce-eager", "run decode steps op by op instead of replaying recorded CUDA graphs");
  f.collective_timeout = &flags.add_double(
      "collective-timeout", 120, "seconds a rank may wait in a collective before the step fails");
  return f;
}

EngineOptions EngineFlags::options(const std::string& default_model) const {
  EngineOptions o;
  o.model_dir = model->empty() ? default_model : *model;
  if (o.model_dir.empty()) fail("--model is required");
  o.device = *device;
  o.threads = *threads;
  o.max_num_seqs = *max_num_seqs;
  o.max_num_batched_tokens = *max_num_batched_tokens;
  o.kv_cache_tokens = *kv_cache_tokens;
  o.gpu_memory_utilization = *gpu_memory_utilization;
  o.max_model_len = *max_model_len;
  o.enable_prefix_caching = !*no_prefix_caching;
  o.dp = *dp;
  o.tp = *tp;
  o.moe = *moe;
  o.tbo = *tbo;
  o.tbo_min_tokens_decode = static_cast<int32_t>(*tbo_min_tokens_decode);
  o.tbo_min_tokens_prefill = static_cast<int32_t>(*tbo_min_tokens_prefill);
  o.pad_moe_gather = *pad_moe_gather;
  o.prefill_delayer = !*no_prefill_delayer;
  o.collective_timeout_s = *collective_timeout;
  o.enforce_eager = *enforce_eager;
  if (o.collective_timeout_s <= 0) fail("--collective-timeout must be positive");
  if (o.max_num_seqs < 1) fail("--max-num-seqs must be at least 1");
  if (o.max_num_batched_tokens < 1) fail("--max-num-batched-tokens must be at least 1");
  if (o.dp < 1 || o.tp < 1) fail("--dp and --tp must be at least 1");
  if (o.moe != "tp" && o.moe != "ep") fail("--moe must be tp or ep, got '", o.moe, "'");
  return o;
}

std::unique_ptr<Engine> create_engine_with_progress(const EngineOptions& options) {
  std::unique_ptr<ProgressBar> bar;
  EngineOptions o = options;
  o.load_progress = [&](uint64_t done, uint64_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>("loading " + options.model_dir, total);
    bar->update(done);
  };
  auto engine = Engine::create(o);
  if (bar) bar->finish();
  const EngineStats s = engine->stats();
  log_info("model ", describe(engine->model_config()), "; layout dp ", o.dp, " x tp ", o.tp,
           ", moe ", o.moe, o.tbo ? ", tbo" : "", "; KV cache ", s.kv_tokens_capacity, " tokens");
  return engine;
}

}  // namespace duet
