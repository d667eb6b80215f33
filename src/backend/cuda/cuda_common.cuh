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
#include "backend/sample_spec.h"
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

// SwiGLU of a gate and an up value as gemm + silu_mul computes it: both rounded to bf16 first
// (as the bf16 product stores them), so a fused kernel gives the same values as the two ops.
__device__ __forceinline__ float swiglu_bf16(float gate, float up) {
  const float g = __bfloat162float(__float2bfloat16_rn(gate));
  return g / (1.0f + expf(-g)) * __bfloat162float(__float2bfloat16_rn(up));
}

// The sum of v over the block (shared: one float per warp; every thread gets the total).
__device__ __forceinline__ float block_sum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += shared[w];
  __syncthreads();  // shared may be reused by the caller
  return total;
}

// Inclusive prefix sum of v over the lanes of a (full) warp.
__device__ __forceinline__ int warp_inclusive_sum(int v) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int u = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += u;
  }
  return v;
}

// acc += dot(w, x) over 8 values; w already converted (once per chunk, shared by the rows).
__device__ __forceinline__ void fma8(float& acc, const float2 (&w)[4], const uint4& x) {
  const __nv_bfloat162* xp = reinterpret_cast<const __nv_bfloat162*>(&x);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 b = __bfloat1622float2(xp[i]);
    acc = fmaf(w[i].x, b.x, acc);
    acc = fmaf(w[i].y, b.y, acc);
  }
}

// 8 consecutive values (16-byte aligned) to and from fp32 registers.
__device__ __forceinline__ void load8(const bf16* p, float (&v)[8]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float2 f = __bfloat1622float2(h[q]);
    v[2 * q] = f.x;
    v[2 * q + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void store8(bf16* p, const float (&v)[8]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int q = 0; q < 4; ++q) h[q] = __floats2bfloat162_rn(v[2 * q], v[2 * q + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}
__device__ __forceinline__ void store8(float* p, const float (&v)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

// Whether p may be read and written as 16-byte vectors.
__host__ __device__ inline bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
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
  kWsConvertSide,  // kWsConvert of ops on the side branch (they may run beside the main one)
  kWsSampleSpecs,
  kWsSampleGreedy,  // sample_greedy's per-chunk keys
  kWsNumSlots
};

struct CudnnSdpa;  // mla_prefill_cudnn.h

struct Context {
  // Where ops enqueue: the main stream and its cuBLAS handle, or while `on_side` the side
  // branch's (Backend::begin_side), which has a handle and cuBLAS workspace of its own.
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  bool on_side = false;
  // The side branch has ended (side_done recorded on its stream) and the main stream has not yet
  // waited for it; join_side() makes it wait. Ops may join early (mla_decode after its q
  // absorption).
  cudaStream_t main_stream = nullptr;
  cudaEvent_t side_done = nullptr;
  bool side_pending = false;
  void join_side() {
    if (!side_pending) return;
    DUET_CUDA_CHECK(cudaStreamWaitEvent(main_stream, side_done, 0));
    side_pending = false;
  }
  int num_sms = 0;
  // Own kernels on the decode path launch as programmatic dependents (pdl.cuh; Hopper and later),
  // and the small weight products prefetch their weights into L2 before they wait
  // (`l2_prefetch`) or, when a weight row is one round of loads, load it into registers
  // (`preload`). DUET_PDL=0 turns all off, DUET_PDL=noprefetch the prefetch and the preload,
  // DUET_PDL=nopreload the preload (benchmark baselines).
  bool pdl = false;
  bool l2_prefetch = false;
  bool preload = false;
  std::vector<void*> ws_ptr = std::vector<void*>(kWsNumSlots, nullptr);
  std::vector<size_t> ws_bytes = std::vector<size_t>(kWsNumSlots, 0);
  // Bumped whenever a workspace slot is reallocated (recorded graphs then hold stale pointers);
  // while `capturing`, growing a slot is an error instead.
  uint64_t ws_generation = 0;
  bool capturing = false;
  // Pinned host staging for small device-to-host reads (MoE token counts).
  int32_t* host_pinned = nullptr;
  size_t host_pinned_count = 0;
  // cuda_bench only: when set, mla_decode records [0] before the q absorption, [1] before the
  // attention kernel, [2] after it (and the split combine), [3] after the output projection;
  // mla_prefill [0] before the latent gather, [1] before the attention, [2] after it.
  cudaEvent_t* mla_phase_events = nullptr;
  bool mla_force_generic = false;  // cuda_bench only: the generic decode kernel, for comparison
  int mla_variant = 0;  // cuda_bench only: alternative fast-kernel shapes (mla_decode.cu)
  // cuda_bench and tests only: how moe_experts runs (cuda_moe_experts_path in cuda_backend.h).
  int moe_path = 0;
  bool moe_prefill_cublas = false;  // DUET_MOE_PREFILL=cublas (a benchmark baseline)
  // Pinned host staging for small host-to-device uploads (sampling specs), so the copy is a
  // real async DMA; `upload_done` is recorded after each copy and waited for before the
  // staging buffer is rewritten (in a step loop that has long happened).
  void* upload_pinned = nullptr;
  size_t upload_pinned_bytes = 0;
  cudaEvent_t upload_done = nullptr;
  // Zero between launches: the fused small-batch router counts its finished CTAs here, and
  // sample_greedy each row's (kMaxGreedyRows of them).
  unsigned* route_done = nullptr;
  // The router's top k of at most 64 experts by ranking (moe_route.cu); DUET_ROUTE_TOPK=loop
  // selects in k rounds instead (a benchmark baseline).
  bool route_rank_topk = true;
  // add_rms_norm_route in one launch where it fits (DUET_ROUTE_NORM=0: two, a baseline).
  bool route_norm = true;
  int64_t norm_routes_fused = 0;  // add_rms_norm_route calls run in one launch (tests)
  unsigned* greedy_done = nullptr;
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
  // Copies bytes of host memory into workspace `slot` on the stream; returns the device copy.
  void* upload(WsSlot slot, const void* src, size_t bytes);
};

// ---- launchers, one group per .cu file
// elementwise.cu
void embedding(Context& c, const Tensor& ids, const Tensor& table, const Tensor& out);
// residual_add: x += residual_add first (x is then the residual stream); residual_add2: that
// addend is residual_add + residual_add2, rounded to its type (as add() would store it).
void rms_norm(Context& c, const Tensor& x, const Tensor& w, float eps, const Tensor& out,
              const Tensor* residual_add, const Tensor* residual_add2 = nullptr);
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
// skinny_gemm.cu: y = x w^T for 1-2 rows of bf16 x (bf16 w; bf16 or f32 y) at close to the
// weight-streaming bandwidth; false (nothing launched) when the shape or alignment does not fit.
bool skinny_gemm(Context& c, const Tensor& x, const Tensor& w, const Tensor& y);
// y1 = x w1^T and y2 = x w2^T in one launch (bf16 throughout); false as skinny_gemm.
bool skinny_gemm_pair(Context& c, const Tensor& x, const Tensor& w1, const Tensor& y1,
                      const Tensor& w2, const Tensor& y2);
// y [rows, N] = silu(x w[:N]^T) * (x w[N:]^T) for a gate_up weight w [2N, K], bf16 y; false as
// skinny_gemm.
bool skinny_gemm_silu_mul(Context& c, const Tensor& x, const Tensor& w, const Tensor& y);
// Pointer-array form: y[b] [rows, N] = x[b] [rows, K] w[b]^T, w[b] [N, K] with row stride ldw.
// glu_offset > 0: y[b] [rows, N] = silu(x w[:N]^T) * (x w[glu_offset : glu_offset + N]^T), the
// SwiGLU of a gate_up weight without its [rows, 2N] product.
bool skinny_gemm_batched(Context& c, int batch, int64_t rows, int64_t N, int64_t K,
                         const void* const* w, int64_t ldw, const void* const* x, void* const* y,
                         int64_t glu_offset = 0);
// One token's routed experts, no plan: for j < k, y + j y_stride [1, N] = (x + j x_stride) [1, K]
// times expert (ids[j] - first)'s weight (w + e w_estride, [N (+ glu_offset), K], row stride
// ldw)^T, skipping experts outside [0, E); glu_offset as in skinny_gemm_batched. false as
// skinny_gemm.
bool skinny_gemm_experts(Context& c, const int32_t* ids, int k, int first, int E, int64_t N,
                         int64_t K, const bf16* w, int64_t w_estride, int64_t ldw, const bf16* x,
                         int64_t x_stride, bf16* y, int64_t y_stride, int64_t glu_offset);
// Strided form of gemm_strided_batched for 1-2 rows (w_transposed: w[b] stored [K, N]); false as
// skinny_gemm.
bool skinny_gemm_strided_batched(Context& c, int64_t batch, int64_t rows, int64_t N, int64_t K,
                                 const bf16* x, int64_t ldx, int64_t stride_x, const bf16* w,
                                 int64_t ldw, int64_t stride_w, bf16* y, int64_t ldy,
                                 int64_t stride_y, bool w_transposed);
// grouped_gemm.cu: for every expert e < E at once, rows y[first[e] + i] = x[src(first[e] + i)]
// w[e]^T, i < count[e], with first and count read from device memory (nothing comes back to the
// host). glu_offset > 0: SwiGLU of a gate_up weight as in skinny_gemm_batched.
struct GroupedGemm {
  const bf16* x;  // [*, K] row-major, row stride ldx
  int64_t ldx;
  const int32_t* row_src;  // [rows] x row of each grouped row; nullptr: the grouped row itself
  const bf16* w;           // expert e: [N (+ glu_offset), K] at w + e * w_stride, row stride ldw
  int64_t w_stride, ldw;
  const int32_t* expert_first;  // [E]
  const int32_t* expert_count;  // [E], each at most max_rows
  int E, max_rows;
  bf16* y;  // [rows, N], row stride ldy
  int64_t ldy;
  int64_t N, K, glu_offset;
};
// Whether the kernel takes this shape and alignment (16-byte rows, an even N); grouped_gemm
// refuses the rest.
bool grouped_gemm_fits(const GroupedGemm& g);
void grouped_gemm(Context& c, const GroupedGemm& g);
// moe_pack.cu: the routed tokens packed by expert over the whole GPU (prefill sizes): counts[e]
// and expert_first[e] of each local expert (ascending id), rows[t k + j] the packed row of token
// t's slot j (-1 for an expert not held here), xp [rows, H] the tokens in those rows.
struct MoePack {
  const int32_t* ids;  // [T, k], row stride ld_ids; global expert ids
  int64_t ld_ids;
  int T, k, first, E;  // local experts first .. first + E - 1
  const bf16* x;       // [T, H], row stride ld_x
  int64_t ld_x, H;
  int32_t *counts, *expert_first, *fill;  // [E] each; fill is scratch
  int32_t* rows;                          // [T k]
  bf16* xp;                               // [T k, H]
};
bool moe_pack_fits(int64_t E, int64_t H, int64_t ld_x, const void* x, const void* xp);
void moe_pack(Context& c, const MoePack& p);
// grouped_gemm_wgmma.cu: the same product over x's packed rows (row_src null; x has x_rows rows)
// on warpgroup MMAs, for prefill-sized row counts.
bool grouped_gemm_wgmma_fits(const GroupedGemm& g, int64_t x_rows);
void grouped_gemm_wgmma(Context& c, const GroupedGemm& g, int64_t x_rows);
// rope_cache.cu
void rope_q(Context& c, const Tensor& q, const Tensor& positions, const RopeParams& rope,
            int64_t heads, int64_t nope_dim);
// With q: also rope_q(q, heads, nope_dim) for the same tokens, in the same launch.
void mla_cache_write(Context& c, const Tensor& ckv, const Tensor& norm_w, float eps,
                     const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                     const Tensor& cache, const Tensor* q = nullptr, int64_t heads = 0,
                     int64_t nope_dim = 0);
// mla_decode.cu / mla_prefill.cu
void mla_decode(Context& c, const MlaParams& p);
void mla_prefill(Context& c, const MlaParams& p);
// moe_one_token.cu: moe_experts for one token (decode at batch 1) in two launches and no plan;
// false (nothing launched) for shapes it does not take.
bool moe_one_token(Context& c, const ExpertParams& p);
// moe_route.cu / moe_experts.cu
void moe_route(Context& c, const RouterParams& p);
// add_rms_norm(residual, x, w, eps, out) and moe_route(p) over p.x == out in one launch (one
// token: the router's CTAs norm their input themselves); false (nothing launched) for shapes it
// does not take or with DUET_ROUTE_NORM=0.
bool add_rms_norm_route(Context& c, const Tensor& residual, const Tensor& x, const Tensor& w,
                        float eps, const Tensor& out, const RouterParams& p);
void moe_experts(Context& c, const ExpertParams& p);
// sample_greedy.cu: sample_tokens when every row is greedy and there are at most kMaxGreedyRows
// rows, each row spread over many CTAs; false (nothing launched) otherwise.
constexpr int64_t kMaxGreedyRows = 64;
bool sample_greedy(Context& c, const Tensor& logits, const std::vector<SampleSpec>& specs,
                   const Tensor& tokens);
// sample.cu: tokens[r] = the token row r of logits picks under specs[r] (semantics: sample_row).
void sample_tokens(Context& c, const Tensor& logits, const std::vector<SampleSpec>& specs,
                   const Tensor& tokens);

}  // namespace duet::cuda
