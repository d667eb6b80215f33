// Flags shared by every command that runs the engine (generate, serve, eval, bench --model):
// model, device, threads, batching limits, KV capacity and the parallel layout.
#pragma once

#include <string>

#include "common/flags.h"
#include "engine/engine.h"

namespace duet {

struct EngineFlags {
  std::string* model;
  std::string* device;
  int64_t* threads;
  int64_t* max_num_seqs;
  int64_t* max_num_batched_tokens;
  int64_t* kv_cache_tokens;
  double* gpu_memory_utilization;
  int64_t* max_model_len;
  bool* no_prefix_caching;
  int64_t* dp;
  int64_t* tp;
  std::string* moe;
  bool* tbo;
  int64_t* tbo_min_tokens_decode;
  int64_t* tbo_min_tokens_prefill;
  bool* pad_moe_gather;
  bool* no_prefill_delayer;
  double* collective_timeout;
  bool* enforce_eager;

  // Options for Engine::create; the model directory falls back to `default_model`.
  EngineOptions options(const std::string& default_model = "") const;
};

EngineFlags add_engine_flags(Flags& flags, const std::string& model_help);

// Creates the engine with a loading progress bar and logs a one-line summary.
std::unique_ptr<Engine> create_engine_with_progress(const EngineOptions& options);

}  // namespace duet
