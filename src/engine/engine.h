// Engine: the serving loop over one model. Requests come in (from any thread), one scheduling
// step at a time batches them (continuous batching, chunked prefill, prefix caching,
// preemption), and outputs stream back through each request's callback.
//
// Threads: add_request/abort/stats may be called from any thread. Outputs are delivered on the
// thread that runs step() (the engine thread after start()); a callback must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/model_config.h"
#include "engine/sampling_params.h"

namespace duet {

class Tokenizer;

enum class FinishReason { kNone, kLength, kStop, kAbort, kError };
const char* finish_reason_name(FinishReason r);  // "", "length", "stop", "abort", "error"

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // top-n (id, logprob), best first
};

struct RequestOutput {
  int64_t request_id = 0;
  std::vector<int32_t> token_ids;      // tokens generated since the previous output
  std::string text;                    // their text (empty when the model has no tokenizer);
                                       // never a partial UTF-8 sequence, never past a stop string
  std::vector<TokenLogprob> logprobs;  // one per token in token_ids, when requested
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string stop_reason;  // the matched stop string, if any
  std::string error;        // set with kError
  int32_t num_prompt_tokens = 0;
  int32_t num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  int32_t num_output_tokens = 0;  // total so far
};

using OutputCallback = std::function<void(const RequestOutput&)>;

struct EngineOptions {
  std::string model_dir;
  std::string device;   // "", "cpu", "cuda"
  int64_t threads = 0;  // CPU threads (0: all cores)
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 2048;  // per-step token budget (chunked prefill)
  int64_t kv_cache_tokens = 0;            // 0: from memory (gpu_memory_utilization / RAM)
  double gpu_memory_utilization = 0.9;
  int64_t max_model_len = 0;  // 0: max_position_embeddings
  bool enable_prefix_caching = true;
  // Parallel layout (see CLI.md).
  int64_t dp = 1, tp = 1;
  std::string moe = "tp";
  bool tbo = false;
  int32_t tbo_min_tokens_decode = 32;  // TBO thresholds on the largest rank's tokens
  int32_t tbo_min_tokens_prefill = 512;
  bool pad_moe_gather = false;        // pad every rank's rows to the max (else variable size)
  bool prefill_delayer = true;        // with dp > 1: align prefills across DP ranks
  double collective_timeout_s = 120;  // a rank missing a collective this long fails the step
  bool load_tokenizer = true;
  // Run every step op by op (no recorded decode graphs), like vLLM's --enforce-eager.
  bool enforce_eager = false;
  // Tests: NaN into MoE pad rows and unused gather rows before every layer; count the rows
  // routed to each expert.
  bool debug_poison_padding = false;
  bool debug_count_experts = false;
  std::function<void(uint64_t done, uint64_t total)> load_progress;
};

struct EngineStats {
  int64_t running = 0, waiting = 0;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0;  // free includes cached-but-unused blocks
  int64_t kv_tokens_capacity = 0;
  int64_t prompt_tokens = 0, generation_tokens = 0;         // totals since start
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // in tokens
  int64_t preemptions = 0;
  int64_t steps = 0;
  int64_t graph_replays = 0;  // decode steps replayed from recorded graphs (every rank)
};

class Engine {
 public:
  static std::unique_ptr<Engine> create(const EngineOptions& options);
  virtual ~Engine() = default;

  virtual const ModelConfig& model_config() const = 0;
  virtual const Tokenizer* tokenizer() const = 0;       // nullptr when the checkpoint has none
  virtual SamplingParams default_sampling() const = 0;  // from generation_config.json
  virtual int64_t max_model_len() const = 0;
  virtual std::vector<int64_t> eos_token_ids() const = 0;

  // Queues a request and returns its id. Invalid requests (prompt empty or longer than the
  // context, ids out of range, bad sampling values, a prompt that can never fit the KV pool)
  // throw duet::Error with a message naming the problem; nothing is queued then.
  virtual int64_t add_request(std::vector<int32_t> prompt_ids, SamplingParams params,
                              OutputCallback on_output) = 0;
  // Aborts a request (unknown or finished ids are ignored); its KV blocks are returned and its
  // callback receives a final output with kAbort.
  virtual void abort(int64_t request_id) = 0;

  // Runs one step on the calling thread; returns false when there was nothing to do.
  virtual bool step() = 0;
  // Runs steps until no request is left (offline use: generate, eval, tests).
  virtual void run_until_idle() = 0;
  // Runs the loop on a background thread until stop(); stop() aborts nothing by itself.
  virtual void start() = 0;
  virtual void stop() = 0;

  virtual EngineStats stats() const = 0;
  // False after a step failed (the error is in last_error()); /health reports it.
  virtual bool healthy() const = 0;
  virtual std::string last_error() const = 0;
};

}  // namespace duet
