// Element types of tensors and conversions between the ones duet computes with.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace duet {

enum class DType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8, kF8E4M3, kUnknown };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
// safetensors dtype strings ("BF16", "F32", ...); unknown strings map to kUnknown.
DType dtype_from_safetensors(std::string_view s);
std::string_view dtype_to_safetensors(DType t);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t h);

}  // namespace duet
