// Shared pieces of the CUDA backend's .cu files: error checks, bf16 helpers, the per-backend
// context (stream, cuBLAS handles, grow-only workspace) and the launchers each .cu file defines.
// Only .cu files include this; the rest of duet sees backend.h alone.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backend/op_params.h"
#include "backend/tensor.h"
#include "common/error.h"

#define DUET_CUDA_CHECK(expr)                                                                     \
  do {                                                                                            \
    const cudaError_t err_ = (expr);                                                              \
    if (err_ != cudaSuccess) {                                                                    \
      cudaGetLastError(); /* clear it, so later checks report their own errors */                 \
      throw ::duet::Error(::duet::str_cat("CUDA error at ", __FILE__, ":", __LINE__, ": ", #expr, \
                                          ": ", cudaGetErrorString(err_)));                       \
    }                                                                                             \
  } while (0)

#define DUET_CUBLAS_CHECK(expr)                                                              \
  do {                                                                                       \
    const cublasStatus_t st_ = (expr);                                                       \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                        \
      throw ::duet::Error(::duet::str_cat("cuBLAS error at ", __FILE__, ":", __LINE__, ": ", \
                                          #expr, ": ", cublasGetStatusString(st_)));         \
  } while (0)

// Every launch is followed by this, so a bad configuration fails at its call site.
#define DUET_CUDA_LAUNCHED() DUET_CUDA_CHECK(cudaGetLastError())

namespace duet::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(bf16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float v) {
  return __float2bfloat16_rn(v);
}

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Workspace slots; each is one grow-only device buffer, so the steady-state step loop never
// calls cudaMalloc (a buffer only grows when a step is larger than every step before it).
enum WsSlot : int {
  kWsRouterLogits,
  kWsMoeCounts,
  kWsMoeRows,
  kWsMoeX,
  kWsMoeHidden,
  kWsMoeAct,
  kWsMoeY,
  kWsMlaQLat,
  kWsMlaOLat,
  kWsMlaPartO,
  kWsMlaPartLse,
  kWsMlaLatents,
  kWsMlaKv,
  kWsMlaK,      // cuDNN prefill: K = [k_nope | k_rope] per head
  kWsMlaAux,    // cuDNN prefill: per-sequence lengths and ragged offsets
  kWsMlaCudnn,  // cuDNN's own workspace
  kWsConvert,
  kWsNumSlots
};

struct CudnnSdpa;  // mla_prefill_cudnn.h

struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  int num_sms = 0;
  std::vector<void*> ws_ptr = std::vector<void*>(kWsNumSlots, nullptr);
  std::vector<size_t> ws_bytes = std::vector<size_t>(kWsNumSlots, 0);
  // Pinned host staging for small device-to-host reads (MoE token counts).
  int32_t* host_pinned = nullptr;
  size_t host_pinned_count = 0;
  // cuDNN fused attention for prefill; created on the first prefill, null when unavailable.
  CudnnSdpa* cudnn = nullptr;
  bool cudnn_tried = false;

  // At least `bytes` of device memory in `slot`, kept until a larger request.
  void* workspace(WsSlot slot, size_t bytes);
  template <typename T>
  T* workspace_as(WsSlot slot, size_t count) {
    return static_cast<T*>(workspace(slot, count * sizeof(T)));
  }
  int32_t* pinned(size_t count);
};

// ---- launchers, one group per .cu file
// elementwise.cu
void embedding(Context& c, const Tensor& ids, const Tensor& table, const Tensor& out);
void rms_norm(Context& c, const Tensor& x, const Tensor& w, float eps, const Tensor& out,
              const Tensor* residual_add);
void add(Context& c, const Tensor& y, const Tensor& x);
void silu_mul(Context& c, const Tensor& gate_up, const Tensor& out);
void gather_rows(Context& c, const Tensor& x, const Tensor& rows, const Tensor& out);
void convert(Context& c, const Tensor& x, const Tensor& out);
void fill(Context& c, const Tensor& t, float value);
// gemm.cu: y = x w^T (any mix of bf16/f32 x, w and y; fp32 accumulation).
void gemm(Context& c, const Tensor& x, const Tensor& w, const Tensor& y);
// y[b] = x[b] w[b]^T for `batch` problems given by element strides (bf16 in and out).
void gemm_strided_batched(Context& c, int64_t batch, int64_t T, int64_t N, int64_t K, const bf16* x,
                          int64_t ldx, int64_t stride_x, const bf16* w, int64_t ldw,
                          int64_t stride_w, bf16* y, int64_t ldy, int64_t stride_y,
                          bool w_transposed);
// rope_cache.cu
void rope_q(Context& c, const Tensor& q, const Tensor& positions, const RopeParams& rope,
            int64_t heads, int64_t nope_dim);
void mla_cache_write(Context& c, const Tensor& ckv, const Tensor& norm_w, float eps,
                     const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                     const Tensor& cache);
// mla_decode.cu / mla_prefill.cu
void mla_decode(Context& c, const MlaParams& p);
void mla_prefill(Context& c, const MlaParams& p);
// moe_route.cu / moe_experts.cu
void moe_route(Context& c, const RouterParams& p);
void moe_experts(Context& c, const ExpertParams& p);

}  // namespace duet::cuda
