// The latent KV cache in backend memory: per layer, num_blocks blocks of 64 tokens, each token
// one row of kv_lora_rank + rope_dim values (normed latent | roped k_rope).
#pragma once

#include <vector>

#include "backend/backend.h"
#include "config/model_config.h"

namespace duet {

class LatentCache {
 public:
  LatentCache(Backend& be, const ModelConfig& c, int64_t num_blocks);
  int64_t num_blocks() const { return num_blocks_; }
  // [num_blocks * 64, r + dr] of layer l.
  const Tensor& layer(int64_t l) const { return layers_[l]; }
  static size_t bytes_per_block(const ModelConfig& c, DType dtype);

 private:
  int64_t num_blocks_;
  std::vector<DeviceBuffer> storage_;
  std::vector<Tensor> layers_;
};

}  // namespace duet
