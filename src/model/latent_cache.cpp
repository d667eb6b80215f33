#include "model/latent_cache.h"

namespace duet {

size_t LatentCache::bytes_per_block(const ModelConfig& c, DType dtype) {
  return static_cast<size_t>(c.num_hidden_layers * kKvBlockSize * c.kv_cache_dim()) *
         dtype_size(dtype);
}

LatentCache::LatentCache(Backend& be, const ModelConfig& c, int64_t num_blocks)
    : num_blocks_(num_blocks) {
  const DType dt = be.cache_dtype();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const int64_t rows = num_blocks * kKvBlockSize, cols = c.kv_cache_dim();
    storage_.emplace_back(be, static_cast<size_t>(rows * cols) * dtype_size(dt));
    layers_.push_back(Tensor::matrix(storage_.back().get(), dt, rows, cols));
    be.fill_zero(layers_.back());
  }
}

}  // namespace duet
