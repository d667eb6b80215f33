// The order sampling works in (sample.cu, sample_greedy.cu): every token of a logit row gets an
// order-preserving 64-bit key (the logit's bits, then the inverted id), so "logit descending,
// ties to the lower id" (sample_row's order) is "key descending" with no ties, and the greedy
// token is the id of the largest key.
#pragma once

#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {

__device__ __forceinline__ float plus_zero(float v) {
  return v == 0.0f ? 0.0f : v;  // -0 and +0 tie on the CPU
}

__device__ __forceinline__ unsigned ordered(float v) {
  const unsigned b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ unsigned long long make_key(float v, int id) {
  return (static_cast<unsigned long long>(ordered(v)) << 32) |
         (0xffffffffu - static_cast<unsigned>(id));
}

__device__ __forceinline__ int key_id(unsigned long long k) {
  return static_cast<int>(0xffffffffu - static_cast<unsigned>(k));
}

}  // namespace duet::cuda
