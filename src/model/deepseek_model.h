// The DeepSeek-V3-family forward pass (V3/R1, Kimi K2/K2.5, Moonlight, V2), written once
// against the Backend interface. One call runs one step over a ForwardBatch: every new token's
// latent is written into the cache, attention reads keys back from it, and logits are produced
// for the requested rows.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "config/model_config.h"
#include "model/forward_batch.h"
#include "model/latent_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace duet {

class DeepseekModel {
 public:
  DeepseekModel(const ModelConfig& config, Backend& backend, ModelWeights weights);

  const ModelConfig& config() const { return config_; }
  Backend& backend() const { return be_; }

  // Runs one step. logits (host) receives [batch.logit_rows.size(), vocab_size] f32.
  void forward(const ForwardBatch& batch, LatentCache& cache, std::vector<float>& logits);

 private:
  struct Workspace;  // activation buffers, grown to the largest batch seen
  void attention(int64_t layer, const Tensor& x, const Tensor& out, LatentCache& cache);
  void feed_forward(int64_t layer, const Tensor& x, const Tensor& out);
  Tensor scratch(size_t slot, DType dtype, int64_t rows, int64_t cols);
  Tensor upload_i32(size_t slot, const std::vector<int32_t>& v, int64_t rows, int64_t cols);

  ModelConfig config_;
  Backend& be_;
  ModelWeights w_;
  RopeTables rope_tables_;
  DeviceBuffer inv_freq_buf_;
  RopeParams rope_;
  std::vector<DeviceBuffer> buffers_;  // workspace slots, grow-only

  // Per-step metadata (device) and host mirrors.
  Tensor ids_, positions_, slots_, q_start_, kv_len_, decode_, block_table_;
  std::vector<int32_t> h_q_start_, h_kv_len_, h_decode_;
  int64_t num_seqs_ = 0;
};

}  // namespace duet
