// One row of RMSNorm with the residual add, by a whole block of kNormRowThreads threads, the
// row held in registers: the body of elementwise.cu's vector kernel, and the epilogue of the
// skinny products that end in a norm (skinny_gemm.cu), so both give the same bits.
#pragma once

#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {

constexpr int kNormRowThreads = 256;
constexpr int kNormRowChunks = 4;  // 8-value chunks per thread: rows of at most 8192 values
constexpr int kNormRowMaxCols = 8 * kNormRowChunks * kNormRowThreads;

// 8 consecutive values read past L1 (from L2, where other CTAs' writes meet).
__device__ __forceinline__ void load8_cg(const bf16* p, float (&v)[8]) {
  const uint4 u = __ldcg(reinterpret_cast<const uint4*>(p));
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float2 f = __bfloat1622float2(h[q]);
    v[2 * q] = f.x;
    v[2 * q + 1] = f.y;
  }
}
__device__ __forceinline__ void load8_cg(const float* p, float (&v)[8]) {
  const float4 a = __ldcg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldcg(reinterpret_cast<const float4*>(p) + 1);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

// out = w * (r * rsqrt(mean(r^2) + eps)) over one row of `cols` values (a multiple of 8, at
// most kNormRowMaxCols, 16-byte aligned), with r = res, or r = res + x (+ x2) stored back to res
// first. CG: res, x and x2 are read past L1. red: kNormRowThreads / 32 floats of shared memory.
template <typename TR, typename TX, typename TW, typename TO, bool CG>
__device__ __forceinline__ void add_rms_norm_row(TR* r, const TX* x, const TX* x2, const TW* w,
                                                 float eps, TO* out, int64_t cols, float* red) {
  auto load = [](const auto* p, float (&v)[8]) {
    if constexpr (CG)
      load8_cg(p, v);
    else
      load8(p, v);
  };
  const int chunks = static_cast<int>(cols / 8);
  // The weights load with the row (not after the reduction): one round trip to memory fewer.
  float v[kNormRowChunks][8], wv[kNormRowChunks][8];
#pragma unroll
  for (int i = 0; i < kNormRowChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormRowThreads;
    if (ch >= chunks) break;
    load(r + ch * 8, v[i]);
    load8(w + ch * 8, wv[i]);
    if (x) {
      float xv[8];
      load(x + ch * 8, xv);
      if (x2) {  // x + x2 rounded as add() stores it
        float x2v[8];
        load(x2 + ch * 8, x2v);
#pragma unroll
        for (int j = 0; j < 8; ++j) xv[j] = to_float(from_float<TX>(xv[j] + x2v[j]));
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) v[i][j] = to_float(from_float<TR>(v[i][j] + xv[j]));
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormRowChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormRowThreads;
    if (ch >= chunks) break;
    if (x) store8(r + ch * 8, v[i]);  // the norm reads the residual as stored
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[i][j] * v[i][j];
  }
  const float mean = block_sum(ss, red) / static_cast<float>(cols);
  const float inv = 1.0f / sqrtf(mean + eps);
#pragma unroll
  for (int i = 0; i < kNormRowChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormRowThreads;
    if (ch >= chunks) break;
    float o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = wv[i][j] * (v[i][j] * inv);
    store8(out + ch * 8, o);
  }
}

}  // namespace duet::cuda
