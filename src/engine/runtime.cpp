#include "engine/runtime.h"

#include <unistd.h>

#include <algorithm>

#include "common/log.h"

namespace duet {

namespace {
int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? static_cast<int64_t>(pages) * size : int64_t{8} << 30;
}
}  // namespace

Runtime::Runtime(const EngineOptions& o) {
  if (o.dp != 1 || o.tp != 1)
    fail("--dp/--tp: parallel layouts other than 1 x 1 are not available in this build yet");
  model_ = load_model(o.model_dir, o.device, o.threads, o.load_progress);
  if (o.load_tokenizer) tokenizer_ = Tokenizer::load(o.model_dir);
  default_sampling_ = default_sampling_params(o.model_dir);
  max_model_len_ = o.max_model_len > 0 ? o.max_model_len : model_.config.max_position_embeddings;
  if (max_model_len_ > model_.config.max_position_embeddings)
    log_warn("--max-model-len ", max_model_len_, " exceeds max_position_embeddings ",
             model_.config.max_position_embeddings);
  const size_t block_bytes =
      LatentCache::bytes_per_block(model_.config, model_.backend->cache_dtype());
  int64_t blocks;
  if (o.kv_cache_tokens > 0) {
    blocks = (o.kv_cache_tokens + kKvBlockSize - 1) / kKvBlockSize;
  } else {
    // CPU: a quarter of physical memory, but no more than every sequence at full length.
    const int64_t by_memory = physical_memory_bytes() / 4 / static_cast<int64_t>(block_bytes);
    const int64_t by_demand = o.max_num_seqs * ((max_model_len_ + kKvBlockSize - 1) / kKvBlockSize);
    blocks = std::max<int64_t>(1, std::min(by_memory, by_demand));
  }
  cache_ = std::make_unique<LatentCache>(*model_.backend, model_.config, blocks);
  pool_ = std::make_unique<BlockPool>(blocks, o.enable_prefix_caching);
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerConfig{o.max_num_seqs, o.max_num_batched_tokens}, *pool_);
}

void Runtime::validate(const std::vector<int32_t>& prompt, const SamplingParams& params) const {
  if (prompt.empty()) fail("the prompt is empty");
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n >= max_model_len_)
    fail("the prompt has ", n, " tokens; this model's context is ", max_model_len_,
         " tokens, including at least one generated token");
  for (int32_t id : prompt)
    if (id < 0 || id >= model_.config.vocab_size)
      fail("prompt token id ", id, " is outside the vocabulary (0..", model_.config.vocab_size - 1,
           ")");
  params.validate(model_.config.vocab_size);
  if (!scheduler_->fits_pool(n + 1))
    fail("the prompt needs ", n + 1, " KV slots but the whole cache holds ",
         pool_->num_blocks() * kKvBlockSize);
}

void Runtime::forward(const ForwardBatch& batch, std::vector<float>& logits) {
  model_.model->forward(batch, *cache_, logits);
}

}  // namespace duet
