// Writing safetensors checkpoints (used by `duet mkmodel` and by tests that build files).
// Tensors are produced one at a time by a callback and streamed to disk, so a checkpoint far
// larger than memory can be written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace duet {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  int64_t numel() const;
  uint64_t bytes() const { return static_cast<uint64_t>(numel()) * dtype_size(dtype); }
};

// fill(index, dst) writes specs[index].bytes() bytes into dst.
using TensorFill = std::function<void(size_t index, uint8_t* dst)>;

// Writes one file holding `specs` in the given order (header padded to 8 bytes, as the
// reference writer does). Returns the bytes written.
uint64_t write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                           const TensorFill& fill);

// Writes a checkpoint into dir: model.safetensors when everything fits in max_shard_bytes,
// else model-0000i-of-0000n.safetensors shards plus model.safetensors.index.json.
// progress(done_bytes, total_bytes) is called after each tensor.
void write_checkpoint(const std::string& dir, const std::vector<TensorSpec>& specs,
                      const TensorFill& fill, uint64_t max_shard_bytes,
                      const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace duet
