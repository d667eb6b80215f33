// y = x w^T for one or two rows of x (decode at the smallest batches): one warp per output feature
// streams its weight row once with 16-byte loads, every row of x (L1-resident) is multiplied in,
// and the lanes' partial sums meet in a shuffle reduction. cuBLAS picks kernels for these shapes
// that leave most SMs idle (measured on H100 at one row: [2048, 11264] weights in 1.6 ms, 29
// GB/s), and at batch 1 decode is nothing but such products. Batched forms: the MoE plan's
// pointer arrays, one expert chunk of `rows` rows per entry; strided problems (MLA's per-head
// products), where y = x w with w stored [K, N] has its own kernel.
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/pdl.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 8;   // output features per CTA, one per warp
constexpr int kUnroll = 4;  // 16-byte loads in flight per lane and weight row
// Rows of more than kUnroll * 32 chunks (K > 1024) take kWideUnroll loads per lane and row, so
// that a warp has a whole 2048-wide row in flight at once: with two rounds of loads a
// [2048, 2048] product took 5.3 us in a chain of them (1.55 TB/s, H100), each round paying the
// full memory latency.
constexpr int kWideUnroll = 8;
// Larger batches go to cuBLAS: every row adds about 17 instructions per 16 weight bytes (an x
// load, conversions, FMAs), and at 8 rows the kernel was instruction-bound at a fraction of the
// memory bandwidth (ncu on H100: [3072, 2048] in 29 us, 430 GB/s).
constexpr int kMaxRows = 2;
// Products of at most this many weight bytes prefetch them into L2 before their programmatic
// wait (pdl.cuh): they fit in L2 beside what the step keeps there. Larger ones (the routed
// experts, the LM head) would push out their own first lines before the loads reach them.
constexpr int64_t kPrefetchMaxBytes = int64_t{16} << 20;

struct SkinnyArgs {
  // `batch` problems (grid y) given by pointer arrays, or (w_ptrs == nullptr) problem b at
  // w + b * w_bstride, x + b * x_bstride, y + b * y_bstride (elements; 0 for one problem).
  const bf16* w;
  const bf16* x;
  void* y;
  const void* const* w_ptrs;
  const void* const* x_ptrs;
  void* const* y_ptrs;
  int64_t ldw, ldx, ldy;
  int64_t w_bstride, x_bstride, y_bstride;
  // A second weight of the same x (single problem, a warp per feature): features n >= N1 are row
  // n - N1 of w2 and go to y2.
  const bf16* w2;
  void* y2;
  int64_t ldw2, ldy2;
  int N1;
  int rows, N, K;
  // > 0: SwiGLU output. Feature n is silu(x w[n]) * (x w[n + glu_offset]): the gate and up
  // rows of a gate_up weight, so the [rows, 2I] product never exists.
  int64_t glu_offset;
  // Non-null: problem b's weight is expert expert_ids[b] - first_expert of the stack at w (stride
  // w_bstride); problems whose expert is not in [0, num_experts) are skipped.
  const int32_t* expert_ids;
  int first_expert, num_experts;
  // Prefetch this CTA's weights into L2 before waiting for the previous kernel (set only where
  // the weights' addresses need no device data: no pointer arrays, no expert ids).
  bool prefetch;
};

// Whether a product of `bytes` weight bytes prefetches them (kPrefetchMaxBytes).
bool wants_prefetch(const Context& c, int64_t bytes) {
  return c.l2_prefetch && bytes <= kPrefetchMaxBytes;
}

// One round of a lane's weight loads: chunks c0, c0 + LANES, ... (U of them) of NW weight rows.
template <int LANES, int NW, int U>
__device__ __forceinline__ void load_round(const uint4* const (&wrow)[NW], int c0, int chunks,
                                           uint4 (&wv)[NW][U]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = c0 + u * LANES;
#pragma unroll
    for (int v = 0; v < NW; ++v)  // weights are read once: streaming loads, kept out of L1
      wv[v][u] = c < chunks ? __ldcs(wrow[v] + c) : make_uint4(0, 0, 0, 0);
  }
}

// acc[v][m] += x[m] . w[v] over one round of loaded chunks (load_round's).
template <int MR, int LANES, int NW, int U>
__device__ __forceinline__ void use_round(const uint4 (&wv)[NW][U], const bf16* x, int64_t ldx,
                                          int rows, int c0, int chunks, float (&acc)[NW][MR]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = c0 + u * LANES;
    if (c >= chunks) break;
#pragma unroll
    for (int v = 0; v < NW; ++v) {
      float2 wf[4];
      const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[v][u]);
#pragma unroll
      for (int i = 0; i < 4; ++i) wf[i] = __bfloat1622float2(wp[i]);
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        if (m >= rows) break;
        const uint4 xv = reinterpret_cast<const uint4*>(x + m * ldx)[c];
        fma8(acc[v][m], wf, xv);
      }
    }
  }
}

// The lanes' partial sums of each output, summed over the warp.
template <int MR, int NW>
__device__ __forceinline__ void warp_sum(float (&acc)[NW][MR]) {
#pragma unroll
  for (int v = 0; v < NW; ++v) {
#pragma unroll
    for (int m = 0; m < MR; ++m) {
#pragma unroll
      for (int off = 16; off > 0; off /= 2)
        acc[v][m] += __shfl_xor_sync(0xffffffffu, acc[v][m], off);
    }
  }
}

// CTA_ROW: the whole CTA shares one output feature (few features: a warp per feature would leave
// most SMs idle, e.g. the router's 64 took 11 us at one row); otherwise a warp per feature.
// PRE: the feature's rows are one round of loads, issued before the programmatic wait (weights
// only: pdl.cuh), so that they are in registers when the previous kernel ends.
template <int MR, typename TO, bool GLU, bool CTA_ROW, int U, bool PRE>
__global__ void __launch_bounds__(kWarps * 32) skinny_kernel(SkinnyArgs a) {
  // The experts form lets its dependents launch only once every CTA has passed its own wait, so
  // that the router's ids it waited for are in L2 when they start (moe_one_token.cu's
  // down_combine_kernel reads them before its wait).
  if (!a.expert_ids) pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = CTA_ROW ? blockIdx.x : blockIdx.x * kWarps + warp;
  if (n >= a.N) return;
  const int b = blockIdx.y;
  const bool second = !CTA_ROW && a.w2 && n >= a.N1;  // a feature of the pair's second weight
  const int64_t f = second ? n - a.N1 : n;            // its row in that weight
  const int64_t ldw = second ? a.ldw2 : a.ldw;
  const int chunks = a.K / 8;  // 16-byte chunks of a row
  constexpr int kLanes = CTA_ROW ? kWarps * 32 : 32;
  const int l = CTA_ROW ? static_cast<int>(threadIdx.x) : lane;
  constexpr int kNW = GLU ? 2 : 1;  // weight rows per feature: gate (and up)
  const uint4* wrow[kNW];
  auto locate = [&](const bf16* w) {
    wrow[0] = reinterpret_cast<const uint4*>(w + f * ldw);
    if constexpr (GLU) wrow[1] = reinterpret_cast<const uint4*>(w + (f + a.glu_offset) * ldw);
  };
  // Pointer arrays and expert ids are device data that earlier ops write: those weights are
  // found only after the wait. Otherwise their addresses are known now.
  const bool direct = !a.w_ptrs && !a.expert_ids;
  if (direct) locate(second ? a.w2 : a.w + b * a.w_bstride);
  uint4 wv[kNW][U];
  if constexpr (PRE) {
    load_round<kLanes, kNW, U>(wrow, l, chunks, wv);
  } else if (direct && a.prefetch && (CTA_ROW ? threadIdx.x == 0 : lane == 0)) {
#pragma unroll
    for (int v = 0; v < kNW; ++v) prefetch_l2_bulk(wrow[v], int64_t{2} * a.K);
  }
  pdl_wait();
  if (a.expert_ids) pdl_launch_dependents();
  if (!direct) {
    int64_t wb = b;  // which weight of the stack
    if (a.expert_ids) {
      wb = a.expert_ids[b] - a.first_expert;
      if (wb < 0 || wb >= a.num_experts) return;  // the whole CTA: b is the CTA's
    }
    locate(a.w_ptrs ? static_cast<const bf16*>(a.w_ptrs[b]) : a.w + wb * a.w_bstride);
  }
  const bf16* x = a.x_ptrs ? static_cast<const bf16*>(a.x_ptrs[b]) : a.x + b * a.x_bstride;
  TO* y = second     ? static_cast<TO*>(a.y2)
          : a.y_ptrs ? static_cast<TO*>(a.y_ptrs[b])
                     : static_cast<TO*>(a.y) + b * a.y_bstride;
  const int64_t ldy = second ? a.ldy2 : a.ldy;
  float sums[kNW][MR] = {};
  if constexpr (PRE) {
    use_round<MR, kLanes, kNW, U>(wv, x, a.ldx, a.rows, l, chunks, sums);
  } else {
    for (int c0 = l; c0 < chunks; c0 += kLanes * U) {
      load_round<kLanes, kNW, U>(wrow, c0, chunks, wv);
      use_round<MR, kLanes, kNW, U>(wv, x, a.ldx, a.rows, c0, chunks, sums);
    }
  }
  warp_sum<MR, kNW>(sums);
  float acc[MR], up[MR];
#pragma unroll
  for (int m = 0; m < MR; ++m) {
    acc[m] = sums[0][m];
    up[m] = sums[kNW - 1][m];
  }
  if constexpr (CTA_ROW) {  // the warps' sums meet in shared memory
    __shared__ float part[2][MR][kWarps];
    if (lane == 0) {
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        part[0][m][warp] = acc[m];
        part[1][m][warp] = up[m];
      }
    }
    __syncthreads();
    if (warp != 0) return;
#pragma unroll
    for (int m = 0; m < MR; ++m) {
      acc[m] = up[m] = 0.0f;
      for (int i = 0; i < kWarps; ++i) {
        acc[m] += part[0][m][i];
        up[m] += part[1][m][i];
      }
    }
  }
  if constexpr (GLU) {
#pragma unroll
    for (int m = 0; m < MR; ++m) acc[m] = swiglu_bf16(acc[m], up[m]);
  }
  if (lane == 0) {
#pragma unroll
    for (int m = 0; m < MR; ++m)
      if (m < a.rows) y[static_cast<int64_t>(m) * ldy + f] = from_float<TO>(acc[m]);
  }
}

// y = x w with w stored [K, N] (k-major rows, as the MLA absorption reads W_UK): a CTA takes 64
// output columns; its 32 row groups of 8 lanes stream w rows k = group, group + 32, ... (each lane
// 8 columns with 16-byte loads) and meet in shared memory. bf16 y.
constexpr int kXwCols = 64, kXwGroups = 32;

// PRE: K <= kXwGroups * kUnroll, every row of the CTA loaded before the programmatic wait.
template <int MR, bool PRE>
__global__ void __launch_bounds__(kXwGroups * 8) skinny_xw_kernel(SkinnyArgs a) {
  pdl_launch_dependents();
  const int lane8 = threadIdx.x % 8, group = threadIdx.x / 8, b = blockIdx.y;
  const int n = blockIdx.x * kXwCols + lane8 * 8;
  const bf16* w = a.w + b * a.w_bstride;
  uint4 wv[kUnroll];
  auto load = [&](int k0) {  // rows k0, k0 + kXwGroups, ...
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k0 + u * kXwGroups;
      wv[u] = n < a.N && k < a.K ? __ldcs(reinterpret_cast<const uint4*>(w + k * a.ldw + n))
                                 : make_uint4(0, 0, 0, 0);
    }
  };
  if constexpr (PRE) {
    load(group);
  } else if (a.prefetch) {  // this CTA's 64 columns of every row k: one line each
    for (int k = threadIdx.x; k < a.K; k += kXwGroups * 8)
      prefetch_l2_line(w + static_cast<int64_t>(k) * a.ldw + blockIdx.x * kXwCols);
  }
  pdl_wait();
  const bf16* x = a.x + b * a.x_bstride;
  float acc[MR][8] = {};
  for (int k0 = group; k0 < a.K; k0 += kXwGroups * kUnroll) {
    if (!PRE) load(k0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k0 + u * kXwGroups;
      if (k >= a.K) break;
      const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[u]);
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        if (m >= a.rows) break;
        const float xv = __bfloat162float(x[m * a.ldx + k]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 wf = __bfloat1622float2(wp[i]);
          acc[m][2 * i] = fmaf(xv, wf.x, acc[m][2 * i]);
          acc[m][2 * i + 1] = fmaf(xv, wf.y, acc[m][2 * i + 1]);
        }
      }
    }
  }
  __shared__ float part[kXwGroups][MR][kXwCols];
#pragma unroll
  for (int m = 0; m < MR; ++m)
#pragma unroll
    for (int e = 0; e < 8; ++e) part[group][m][lane8 * 8 + e] = acc[m][e];
  __syncthreads();
  if (threadIdx.x >= MR * kXwCols) return;
  const int m = threadIdx.x / kXwCols, col = threadIdx.x % kXwCols;
  const int out = blockIdx.x * kXwCols + col;
  if (m >= a.rows || out >= a.N) return;
  float sum = 0.0f;
  for (int g = 0; g < kXwGroups; ++g) sum += part[g][m][col];
  static_cast<bf16*>(a.y)[b * a.y_bstride + m * a.ldy + out] = __float2bfloat16_rn(sum);
}

// Up to this many features a CTA per feature (at most this many CTAs).
constexpr int kCtaRowFeatures = 1024;

template <typename TO, bool CTA_ROW>
void launch_rows(Context& c, const SkinnyArgs& a, int batch) {
  const dim3 grid(static_cast<unsigned>(CTA_ROW ? a.N : ceil_div(a.N, kWarps)),
                  static_cast<unsigned>(batch));
  static_assert(kMaxRows == 2, "one instance per row count");
  auto pick = [&](auto unroll, auto pre) {
    constexpr int U = decltype(unroll)::value;
    constexpr bool P = decltype(pre)::value;
    return a.glu_offset > 0 ? (a.rows <= 1 ? skinny_kernel<1, TO, true, CTA_ROW, U, P>
                                           : skinny_kernel<2, TO, true, CTA_ROW, U, P>)
                            : (a.rows <= 1 ? skinny_kernel<1, TO, false, CTA_ROW, U, P>
                                           : skinny_kernel<2, TO, false, CTA_ROW, U, P>);
  };
  // DUET_SKINNY_WIDE=0: kUnroll for every row length (a benchmark baseline).
  static const bool wide_enabled = [] {
    const char* v = std::getenv("DUET_SKINNY_WIDE");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  constexpr int kLanes = CTA_ROW ? kWarps * 32 : 32;
  // A CTA per feature has 256 lanes on a row: one round of kUnroll.
  const bool wide = !CTA_ROW && wide_enabled && a.K / 8 > kUnroll * kLanes;
  const int rounds = ceil_div(a.K / 8, (wide ? kWideUnroll : kUnroll) * kLanes);
  const bool pre = c.preload && !a.w_ptrs && !a.expert_ids && rounds == 1;
  using Fixed = std::false_type;
  using Pre = std::true_type;
  using Narrow = std::integral_constant<int, kUnroll>;
  using Wide = std::integral_constant<int, kWideUnroll>;
  auto* kernel = wide ? (pre ? pick(Wide{}, Pre{}) : pick(Wide{}, Fixed{}))
                      : (pre ? pick(Narrow{}, Pre{}) : pick(Narrow{}, Fixed{}));
  launch_pdl(c, kernel, grid, kWarps * 32, 0, a);
}

template <typename TO>
void launch(Context& c, SkinnyArgs a, int batch) {
  const int64_t weight_bytes = int64_t{2} * batch * a.N * a.K * (a.glu_offset > 0 ? 2 : 1);
  a.prefetch = !a.w_ptrs && !a.expert_ids && wants_prefetch(c, weight_bytes);
  if (batch == 1 && a.N <= kCtaRowFeatures && !a.w2)
    launch_rows<TO, true>(c, a, batch);
  else
    launch_rows<TO, false>(c, a, batch);
}

}  // namespace

namespace {

// One problem y = x w^T (glu: SwiGLU of the gate_up weight w, y [rows, w.rows / 2]).
bool skinny_single(Context& c, const Tensor& x, const Tensor& w, const Tensor& y, bool glu) {
  if (x.rows < 1 || x.rows > kMaxRows || x.dtype != DType::kBF16 || w.dtype != DType::kBF16 ||
      (y.dtype != DType::kBF16 && y.dtype != DType::kF32) || x.cols % 8 != 0 || x.ld % 8 != 0 ||
      w.ld % 8 != 0 || !aligned16(x.data) || !aligned16(w.data) || w.rows > (int64_t{1} << 30) ||
      (glu && (y.dtype != DType::kBF16 || w.rows != 2 * y.cols)))
    return false;
  SkinnyArgs a{};
  a.w = w.ptr<const bf16>();
  a.x = x.ptr<const bf16>();
  a.y = y.data;
  a.ldw = w.ld;
  a.ldx = x.ld;
  a.ldy = y.ld;
  a.rows = static_cast<int>(x.rows);
  a.N = static_cast<int>(glu ? y.cols : w.rows);
  a.K = static_cast<int>(x.cols);
  a.glu_offset = glu ? y.cols : 0;
  if (y.dtype == DType::kF32)
    launch<float>(c, a, 1);
  else
    launch<bf16>(c, a, 1);
  return true;
}

}  // namespace

bool skinny_gemm(Context& c, const Tensor& x, const Tensor& w, const Tensor& y) {
  return skinny_single(c, x, w, y, false);
}

bool skinny_gemm_pair(Context& c, const Tensor& x, const Tensor& w1, const Tensor& y1,
                      const Tensor& w2, const Tensor& y2) {
  auto fits = [&](const Tensor& w, const Tensor& y) {
    return w.dtype == DType::kBF16 && y.dtype == DType::kBF16 && w.ld % 8 == 0 &&
           aligned16(w.data) && w.cols == x.cols && y.rows == x.rows && y.cols == w.rows;
  };
  if (x.rows < 1 || x.rows > kMaxRows || x.dtype != DType::kBF16 || x.cols % 8 != 0 ||
      x.ld % 8 != 0 || !aligned16(x.data) || !fits(w1, y1) || !fits(w2, y2) ||
      w1.rows + w2.rows > (int64_t{1} << 30))
    return false;
  SkinnyArgs a{};
  a.w = w1.ptr<const bf16>();
  a.x = x.ptr<const bf16>();
  a.y = y1.data;
  a.ldw = w1.ld;
  a.ldx = x.ld;
  a.ldy = y1.ld;
  a.w2 = w2.ptr<const bf16>();
  a.y2 = y2.data;
  a.ldw2 = w2.ld;
  a.ldy2 = y2.ld;
  a.N1 = static_cast<int>(w1.rows);
  a.rows = static_cast<int>(x.rows);
  a.N = static_cast<int>(w1.rows + w2.rows);
  a.K = static_cast<int>(x.cols);
  launch<bf16>(c, a, 1);
  return true;
}

bool skinny_gemm_silu_mul(Context& c, const Tensor& x, const Tensor& w, const Tensor& y) {
  return skinny_single(c, x, w, y, true);
}

namespace {

// Problem b at w + b * w_bstride, x + b * x_bstride, y + b * y_bstride.
SkinnyArgs strided_args(const bf16* w, int64_t ldw, int64_t w_bstride, const bf16* x, int64_t ldx,
                        int64_t x_bstride, void* y, int64_t ldy, int64_t y_bstride, int64_t rows,
                        int64_t N, int64_t K) {
  SkinnyArgs a{};
  a.w = w;
  a.x = x;
  a.y = y;
  a.ldw = ldw;
  a.ldx = ldx;
  a.ldy = ldy;
  a.w_bstride = w_bstride;
  a.x_bstride = x_bstride;
  a.y_bstride = y_bstride;
  a.rows = static_cast<int>(rows);
  a.N = static_cast<int>(N);
  a.K = static_cast<int>(K);
  return a;
}

}  // namespace

bool skinny_gemm_strided_batched(Context& c, int64_t batch, int64_t rows, int64_t N, int64_t K,
                                 const bf16* x, int64_t ldx, int64_t stride_x, const bf16* w,
                                 int64_t ldw, int64_t stride_w, bf16* y, int64_t ldy,
                                 int64_t stride_y, bool w_transposed) {
  if (rows < 1 || rows > kMaxRows || batch < 1 || batch > 65535 || N > (int64_t{1} << 30) ||
      K > (int64_t{1} << 30) || ldw % 8 != 0 || stride_w % 8 != 0 || !aligned16(w))
    return false;
  // Without w_transposed x moves as 16-byte chunks along k; with it w does along n.
  if (w_transposed ? N % 8 != 0 : K % 8 != 0 || ldx % 8 != 0 || stride_x % 8 != 0 || !aligned16(x))
    return false;
  SkinnyArgs a = strided_args(w, ldw, stride_w, x, ldx, stride_x, y, ldy, stride_y, rows, N, K);
  if (!w_transposed) {
    launch<bf16>(c, a, static_cast<int>(batch));
    return true;
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(N, kXwCols)), static_cast<unsigned>(batch));
  a.prefetch = wants_prefetch(c, 2 * batch * N * K);
  const bool pre = c.preload && K <= kXwGroups * kUnroll;
  auto* kernel = rows == 1 ? (pre ? skinny_xw_kernel<1, true> : skinny_xw_kernel<1, false>)
                           : (pre ? skinny_xw_kernel<2, true> : skinny_xw_kernel<2, false>);
  launch_pdl(c, kernel, grid, kXwGroups * 8, 0, a);
  return true;
}

bool skinny_gemm_experts(Context& c, const int32_t* ids, int k, int first, int E, int64_t N,
                         int64_t K, const bf16* w, int64_t w_estride, int64_t ldw, const bf16* x,
                         int64_t x_stride, bf16* y, int64_t y_stride, int64_t glu_offset) {
  if (k < 1 || k > 65535 || K % 8 != 0 || ldw % 8 != 0 || w_estride % 8 != 0 || x_stride % 8 != 0 ||
      !aligned16(w) || !aligned16(x) || N > (int64_t{1} << 30))
    return false;
  SkinnyArgs a = strided_args(w, ldw, w_estride, x, K, x_stride, y, N, y_stride, 1, N, K);
  a.glu_offset = glu_offset;
  a.expert_ids = ids;
  a.first_expert = first;
  a.num_experts = E;
  launch<bf16>(c, a, k);
  return true;
}

bool skinny_gemm_batched(Context& c, int batch, int64_t rows, int64_t N, int64_t K,
                         const void* const* w, int64_t ldw, const void* const* x, void* const* y,
                         int64_t glu_offset) {
  if (rows < 1 || rows > kMaxRows || K % 8 != 0 || ldw % 8 != 0 || batch < 1) return false;
  SkinnyArgs a{};
  a.w_ptrs = w;
  a.x_ptrs = x;
  a.y_ptrs = y;
  a.ldw = ldw;
  a.ldx = K;
  a.ldy = N;
  a.rows = static_cast<int>(rows);
  a.N = static_cast<int>(N);
  a.K = static_cast<int>(K);
  a.glu_offset = glu_offset;
  launch<bf16>(c, a, batch);
  return true;
}

}  // namespace duet::cuda
