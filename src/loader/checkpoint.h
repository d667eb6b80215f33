// A Hugging Face checkpoint directory: one model.safetensors, or shards found through
// model.safetensors.index.json's weight_map. Tensors are looked up by their backbone name
// (the config's weight prefix, "language_model." for Kimi-K2.5, is added here) and converted
// to the dtype the caller asks for while being read from the mapping.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "loader/safetensors.h"

namespace duet {

class Checkpoint {
 public:
  // Opens every shard and validates its header. `prefix` is prepended to every looked-up name.
  static Checkpoint open(const std::string& dir, const std::string& prefix = "");

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const;
  // The tensor's header entry; throws duet::Error naming the tensor and the files when missing.
  const TensorInfo& info(const std::string& name) const;
  // Reads a tensor into dst (numel elements of `dtype`), after checking its shape. Accepts
  // F32/BF16/F16 sources; quantised tensors are refused with a clear message.
  void read(const std::string& name, const std::vector<int64_t>& expected_shape, DType dtype,
            void* dst) const;
  // Every tensor name in the checkpoint (with prefix), for diagnostics.
  std::vector<std::string> names() const;
  uint64_t total_bytes() const;

 private:
  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  const Entry& entry(const std::string& name) const;

  std::string dir_;
  std::string prefix_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
};

// Converts n elements between the float types duet reads (F32, BF16, F16 -> F32 or BF16).
void convert_floats(const void* src, DType src_type, void* dst, DType dst_type, int64_t n);

}  // namespace duet
