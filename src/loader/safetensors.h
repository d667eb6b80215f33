// Reading safetensors files through mmap: the header is parsed and validated up front, tensor
// bytes are read straight from the mapping (no copy of the whole file into memory).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/dtype.h"

namespace duet {

struct TensorInfo {
  std::string name;
  std::string dtype_name;  // as written in the header ("BF16", "F8_E4M3", ...)
  DType dtype = DType::kUnknown;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data buffer; end is exclusive
  uint64_t end = 0;
  int64_t numel() const;
};

std::string shape_str(const std::vector<int64_t>& shape);

// Parses and validates a header (the JSON text) against a data buffer of data_size bytes.
// Every problem is a duet::Error naming `path` and, where it applies, the tensor: invalid JSON,
// bad dtype/shape/offset types, offsets out of range, overlapping or leaving holes, byte counts
// that do not match shape x dtype. Exposed for the fuzz target and tests.
std::vector<TensorInfo> parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                 const std::string& path);

class SafetensorsFile {
 public:
  // Maps the file and validates it (truncated file, header length past EOF, ...).
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // Pointer to the tensor's bytes inside the mapping (not aligned; use memcpy).
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> by_name_;
};

}  // namespace duet
