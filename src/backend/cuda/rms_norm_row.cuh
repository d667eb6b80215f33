// One row's RMSNorm held in registers, for rows of at most 8 kNormChunks kNormThreads values at
// 16-byte aligned addresses: thread t of the block owns the 8-value chunks t, t + kNormThreads,
// ... Shared by the vector RMSNorm kernel (elementwise.cu) and the one-token router that norms
// its own input (moe_route.cu), so that the two give the same bits.
#pragma once

#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {

constexpr int kNormThreads = 256;
constexpr int kNormChunks = 4;  // chunks per thread: rows of up to 8192 values

// wv = the norm weights of this thread's chunks (of `chunks` in the row).
template <typename TW>
__device__ __forceinline__ void norm_load_weights(const TW* w, int chunks,
                                                  float (&wv)[kNormChunks][8]) {
#pragma unroll
  for (int i = 0; i < kNormChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormThreads;
    if (ch >= chunks) break;
    load8(w + ch * 8, wv[i]);
  }
}

// v = this thread's chunks of the residual row r, or of r + x (x + x2 first, rounded as add()
// stores it) rounded to TR as the residual stores it.
template <typename TR, typename TX>
__device__ __forceinline__ void norm_load_row(const TR* r, const TX* x, const TX* x2, int chunks,
                                              float (&v)[kNormChunks][8]) {
#pragma unroll
  for (int i = 0; i < kNormChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormThreads;
    if (ch >= chunks) break;
    load8(r + ch * 8, v[i]);
    if (x) {
      float xv[8];
      load8(x + ch * 8, xv);
      if (x2) {
        float x2v[8];
        load8(x2 + ch * 8, x2v);
#pragma unroll
        for (int j = 0; j < 8; ++j) xv[j] = to_float(from_float<TX>(xv[j] + x2v[j]));
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) v[i][j] = to_float(from_float<TR>(v[i][j] + xv[j]));
    }
  }
}

// 1 / sqrt(mean(v^2) + eps) over the block's row of `cols` values (every thread gets it; red:
// kNormThreads / 32 floats of shared memory).
__device__ __forceinline__ float norm_inv_rms(const float (&v)[kNormChunks][8], int chunks,
                                              int64_t cols, float eps, float* red) {
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormThreads;
    if (ch >= chunks) break;
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[i][j] * v[i][j];
  }
  const float mean = block_sum(ss, red) / static_cast<float>(cols);
  return 1.0f / sqrtf(mean + eps);
}

}  // namespace duet::cuda
