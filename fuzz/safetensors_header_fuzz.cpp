// Fuzzes the safetensors header parser: arbitrary header text against an arbitrary data size
// must either parse into tensors that tile the buffer or raise duet::Error, never crash.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/error.h"
#include "loader/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t data_size;
  std::memcpy(&data_size, data, 4);
  std::string_view header(reinterpret_cast<const char*>(data + 4), size - 4);
  try {
    auto tensors = duet::parse_safetensors_header(header, data_size % (1u << 20), "fuzz");
    uint64_t covered = 0;
    for (const auto& t : tensors) covered += t.end - t.begin;
    if (covered != data_size % (1u << 20)) __builtin_trap();  // must tile the buffer exactly
  } catch (const duet::Error&) {
  }
  return 0;
}
