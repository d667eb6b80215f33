#include "engine/runtime.h"

#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "common/thread_pool.h"
#include "loader/checkpoint.h"

namespace duet {

namespace {

// Device memory one step's activations and workspaces can take at the token budget (a full
// prefill chunk) and the sequence limit (logits of every sequence), kept out of the KV cache
// so that the largest step allocates what it needs instead of failing. Buffers grow by 1.5x,
// hence the factor; the fixed part covers cuBLAS, graphs and allocator slack.
int64_t activation_reserve_bytes(const ModelConfig& c, int64_t tokens, int64_t seqs) {
  const int64_t H = c.hidden_size, heads = c.num_attention_heads;
  const int64_t I_dense =
      std::max(c.intermediate_size, c.moe_intermediate_size * c.n_shared_experts);
  // Residual stream, norms, sublayer outputs, q, latent, attention output, dense MLP.
  const int64_t model = 5 * H + heads * (c.qk_head_dim() + c.v_head_dim) + c.kv_cache_dim() +
                        c.q_lora_rank + 3 * I_dense;
  // Expanded K/V of prefill attention and the gathered latents.
  const int64_t mla = heads * (c.qk_nope_head_dim + c.v_head_dim) + c.kv_cache_dim();
  // Routed experts: permuted rows, gate_up, activation and output per selected expert.
  const int64_t moe = c.num_experts_per_tok * (2 * H + 3 * c.moe_intermediate_size);
  const int64_t per_token = 2 * (model + mla + moe) + 4 * c.n_routed_experts;
  const int64_t logits = seqs * c.vocab_size * 4 + seqs * H * 2;
  return (tokens * per_token + logits) * 3 / 2 + (int64_t{1} << 30);
}

}  // namespace

namespace {
int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? static_cast<int64_t>(pages) * size : int64_t{8} << 30;
}
}  // namespace

Runtime::Runtime(const EngineOptions& o) {
  if (o.model_dir.empty()) fail("--model is required");
  config_ = load_model_config(o.model_dir);
  const int64_t dp = o.dp, tp = o.tp, world = dp * tp;
  check_layout(config_, dp, tp, o.moe == "ep");
  if (world > 1 && !o.device.empty() && o.device != "cpu")
    fail("--dp/--tp beyond one rank run on CPU ranks in this build (--device cpu)");
  // Ranks exchange activations through host memory (ThreadComm), so a multi-rank layout runs
  // on CPU ranks even where the default device would be the GPU.
  const std::string device = world > 1 ? "cpu" : o.device;
  if (o.load_tokenizer) tokenizer_ = Tokenizer::load(o.model_dir);
  default_sampling_ = default_sampling_params(o.model_dir);
  max_model_len_ = o.max_model_len > 0 ? o.max_model_len : config_.max_position_embeddings;
  if (max_model_len_ > config_.max_position_embeddings)
    log_warn("--max-model-len ", max_model_len_, " exceeds max_position_embeddings ",
             config_.max_position_embeddings);

  // Communicators: one attention-TP group per DP group, one "dp" group per TP index.
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(o.collective_timeout_s * 1000));
  std::vector<ThreadCommGroup*> tp_groups(dp, nullptr), dp_groups(tp, nullptr);
  if (tp > 1)
    for (int64_t g = 0; g < dp; ++g) {
      comm_groups_.push_back(
          std::make_unique<ThreadCommGroup>(static_cast<int>(tp), "attn_tp", timeout));
      tp_groups[g] = comm_groups_.back().get();
    }
  if (dp > 1)
    for (int64_t t = 0; t < tp; ++t) {
      comm_groups_.push_back(
          std::make_unique<ThreadCommGroup>(static_cast<int>(dp), "dp", timeout));
      dp_groups[t] = comm_groups_.back().get();
    }

  // KV capacity per DP group (in blocks), the same on every rank of the group.
  const int64_t threads = o.threads > 0 ? o.threads : ThreadPool::default_threads();
  const int64_t per_rank_threads = std::max<int64_t>(1, threads / world);
  ExecutorOptions eo;
  eo.tbo.enabled = o.tbo;
  eo.tbo.min_tokens_decode = o.tbo_min_tokens_decode;
  eo.tbo.min_tokens_prefill = o.tbo_min_tokens_prefill;
  eo.gather = o.pad_moe_gather ? GatherMode::kPadded : GatherMode::kVariable;
  eo.poison_padding = o.debug_poison_padding;
  eo.count_experts = o.debug_count_experts;
  int64_t blocks = 0;
  for (int64_t g = 0; g < dp; ++g) {
    for (int64_t t = 0; t < tp; ++t) {
      auto r = std::make_unique<Rank>();
      r->group = g;
      r->tp_index = t;
      r->model.config = config_;
      r->model.backend = make_backend(device, per_rank_threads);
      ShardSpec shard;
      shard.attn_tp_rank = t;
      shard.attn_tp_size = tp;
      shard.moe_rank = g * tp + t;
      shard.moe_size = world;
      shard.moe_ep = o.moe == "ep";
      Checkpoint ck = Checkpoint::open(o.model_dir, config_.weight_prefix);
      r->model.model = std::make_unique<DeepseekModel>(
          config_, *r->model.backend,
          load_weights(
              config_, ck, *r->model.backend,
              g == 0 && t == 0 ? o.load_progress : std::function<void(uint64_t, uint64_t)>{},
              shard));
      if (blocks == 0) {
        const size_t block_bytes =
            LatentCache::bytes_per_block(config_, r->model.backend->cache_dtype());
        if (o.kv_cache_tokens > 0) {
          blocks = (o.kv_cache_tokens + kKvBlockSize - 1) / kKvBlockSize;
        } else {
          // GPU: the share of device memory --gpu-memory-utilization leaves after the weights.
          // CPU: a quarter of physical memory over all ranks. Never more than every sequence at
          // full length needs.
          const auto [free, total] = r->model.backend->memory_info();
          const int64_t usable =
              total > 0
                  ? static_cast<int64_t>(free) -
                        static_cast<int64_t>((1.0 - o.gpu_memory_utilization) *
                                             static_cast<double>(total)) -
                        activation_reserve_bytes(config_, o.max_num_batched_tokens, o.max_num_seqs)
                  : physical_memory_bytes() / 4 / world;
          if (usable <= 0)
            fail(
                "no device memory left for the KV cache after the weights (raise "
                "--gpu-memory-utilization or set --kv-cache-tokens)");
          const int64_t by_memory = usable / static_cast<int64_t>(block_bytes);
          const int64_t by_demand =
              o.max_num_seqs * ((max_model_len_ + kKvBlockSize - 1) / kKvBlockSize);
          blocks = std::max<int64_t>(1, std::min(by_memory, by_demand));
        }
      }
      // One block more than the pool hands out: the scratch block decode graphs pad with.
      r->cache = std::make_unique<LatentCache>(*r->model.backend, config_, blocks + 1);
      eo.graphs = !o.enforce_eager;
      eo.graph_scratch_block = static_cast<int32_t>(blocks);
      if (tp_groups[g]) r->tp_comm = tp_groups[g]->make_rank(static_cast<int>(t));
      if (dp_groups[t]) r->dp_comm = dp_groups[t]->make_rank(static_cast<int>(g));
      r->exec = std::make_unique<StepExecutor>(*r->model.model, *r->cache, r->tp_comm.get(),
                                               r->dp_comm.get(), g, eo);
      ranks_.push_back(std::move(r));
    }
    pools_.push_back(std::make_unique<BlockPool>(blocks, o.enable_prefix_caching));
    schedulers_.push_back(std::make_unique<Scheduler>(
        SchedulerConfig{o.max_num_seqs, o.max_num_batched_tokens}, *pools_.back()));
  }
  if (ranks_.size() > 1)
    for (auto& r : ranks_) r->thread = std::thread([this, rp = r.get()] { rank_loop(*rp); });
}

Runtime::~Runtime() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& r : ranks_)
    if (r->thread.joinable()) r->thread.join();
}

std::vector<const Communicator*> Runtime::communicators(bool tp_group) const {
  std::vector<const Communicator*> out;
  for (const auto& r : ranks_) out.push_back(tp_group ? r->tp_comm.get() : r->dp_comm.get());
  return out;
}

std::vector<StepExecutor*> Runtime::executors() {
  std::vector<StepExecutor*> out;
  for (auto& r : ranks_) out.push_back(r->exec.get());
  return out;
}

void Runtime::validate(const std::vector<int32_t>& prompt, const SamplingParams& params) const {
  if (prompt.empty()) fail("the prompt is empty");
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n >= max_model_len_)
    fail("the prompt has ", n, " tokens; this model's context is ", max_model_len_,
         " tokens, including at least one generated token");
  for (int32_t id : prompt)
    if (id < 0 || id >= config_.vocab_size)
      fail("prompt token id ", id, " is outside the vocabulary (0..", config_.vocab_size - 1, ")");
  params.validate(config_.vocab_size);
  if (!schedulers_[0]->fits_pool(n + 1))
    fail("the prompt needs ", n + 1, " KV slots but the whole cache holds ",
         pools_[0]->num_blocks() * kKvBlockSize);
}

void Runtime::rank_loop(Rank& r) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    std::string error;
    try {
      StepOutput out;
      r.exec->run((*batches_)[r.group], out);
      if (r.tp_index == 0) (*outputs_)[r.group] = std::move(out);
    } catch (const std::exception& e) {
      error = str_cat(
          "rank ", r.group * static_cast<int64_t>(ranks_.size() / schedulers_.size()) + r.tp_index,
          " (dp ", r.group, ", tp ", r.tp_index, "): ", e.what());
      // Release every peer blocked in a collective with this error.
      for (auto& g : comm_groups_) g->poison(error);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error.empty() && error_.empty()) error_ = error;
    if (--pending_ == 0) cv_.notify_all();
  }
}

void Runtime::forward(const std::vector<ForwardBatch>& batches, std::vector<StepOutput>& outputs) {
  DUET_CHECK(static_cast<int64_t>(batches.size()) == num_groups());
  outputs.assign(batches.size(), {});
  if (ranks_.size() == 1) {
    ranks_[0]->exec->run(batches[0], outputs[0]);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  batches_ = &batches;
  outputs_ = &outputs;
  error_.clear();
  pending_ = static_cast<int>(ranks_.size());
  ++generation_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return pending_ == 0; });
  if (!error_.empty()) fail(error_);
}

}  // namespace duet
