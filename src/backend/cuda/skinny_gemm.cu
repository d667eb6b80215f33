// y = x w^T for one or two rows of x (decode at the smallest batches): one warp per output feature
// streams its weight row once with 16-byte loads, every row of x (L1-resident) is multiplied in,
// and the lanes' partial sums meet in a shuffle reduction. cuBLAS picks kernels for these shapes
// that leave most SMs idle (measured on H100 at one row: [2048, 11264] weights in 1.6 ms, 29
// GB/s), and at batch 1 decode is nothing but such products. Batched form: the MoE plan's
// pointer arrays, one expert chunk of `rows` rows per entry.
#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 8;   // output features per CTA, one per warp
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane
// Larger batches go to cuBLAS: every row adds about 17 instructions per 16 weight bytes (an x
// load, conversions, FMAs), and at 8 rows the kernel was instruction-bound at a fraction of the
// memory bandwidth (ncu on H100: [3072, 2048] in 29 us, 430 GB/s).
constexpr int kMaxRows = 2;

struct SkinnyArgs {
  // Single problem (w_ptrs == nullptr) or `batch` problems given by pointer arrays.
  const bf16* w;
  const bf16* x;
  void* y;
  const void* const* w_ptrs;
  const void* const* x_ptrs;
  void* const* y_ptrs;
  int64_t ldw, ldx, ldy;
  int rows, N, K;
  // > 0: SwiGLU output. Feature n is silu(x w[n]) * (x w[n + glu_offset]): the gate and up
  // rows of a gate_up weight, so the [rows, 2I] product never exists.
  int64_t glu_offset;
};

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

// acc[m] += x[m] . w over this lane's chunks of one weight row.
template <int MR>
__device__ __forceinline__ void dot_rows(const uint4* wrow, const bf16* x, int64_t ldx, int rows,
                                         int chunks, int lane, float (&acc)[MR]) {
  for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      // Weights are read once: keep them out of L1 (streaming load).
      wv[u] = c < chunks ? __ldcs(wrow + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c >= chunks) break;
      float2 wf[4];
      const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[u]);
#pragma unroll
      for (int i = 0; i < 4; ++i) wf[i] = __bfloat1622float2(wp[i]);
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        if (m >= rows) break;
        const uint4 xv = reinterpret_cast<const uint4*>(x + m * ldx)[c];
        fma8(acc[m], wf, xv);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < MR; ++m) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
  }
}

template <int MR, typename TO, bool GLU>
__global__ void __launch_bounds__(kWarps * 32) skinny_kernel(SkinnyArgs a) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = blockIdx.x * kWarps + warp;
  if (n >= a.N) return;
  const bf16* w = a.w_ptrs ? static_cast<const bf16*>(a.w_ptrs[blockIdx.y]) : a.w;
  const bf16* x = a.x_ptrs ? static_cast<const bf16*>(a.x_ptrs[blockIdx.y]) : a.x;
  TO* y = static_cast<TO*>(a.y_ptrs ? a.y_ptrs[blockIdx.y] : a.y);
  const int chunks = a.K / 8;  // 16-byte chunks of a row
  float acc[MR] = {};
  dot_rows<MR>(reinterpret_cast<const uint4*>(w + static_cast<int64_t>(n) * a.ldw), x, a.ldx,
               a.rows, chunks, lane, acc);
  if constexpr (GLU) {
    float up[MR] = {};
    dot_rows<MR>(reinterpret_cast<const uint4*>(w + (n + a.glu_offset) * a.ldw), x, a.ldx, a.rows,
                 chunks, lane, up);
#pragma unroll
    for (int m = 0; m < MR; ++m) acc[m] = acc[m] / (1.0f + expf(-acc[m])) * up[m];  // as silu_mul
  }
  if (lane == 0) {
#pragma unroll
    for (int m = 0; m < MR; ++m)
      if (m < a.rows) y[static_cast<int64_t>(m) * a.ldy + n] = from_float<TO>(acc[m]);
  }
}

template <typename TO>
void launch(Context& c, const SkinnyArgs& a, int batch) {
  const dim3 grid(static_cast<unsigned>(ceil_div(a.N, kWarps)), static_cast<unsigned>(batch));
  static_assert(kMaxRows == 2, "one instance per row count");
  auto* kernel = a.glu_offset > 0
                     ? (a.rows <= 1 ? skinny_kernel<1, TO, true> : skinny_kernel<2, TO, true>)
                     : (a.rows <= 1 ? skinny_kernel<1, TO, false> : skinny_kernel<2, TO, false>);
  kernel<<<grid, kWarps * 32, 0, c.stream>>>(a);
  DUET_CUDA_LAUNCHED();
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

bool skinny_gemm(Context& c, const Tensor& x, const Tensor& w, const Tensor& y) {
  if (x.rows < 1 || x.rows > kMaxRows || x.dtype != DType::kBF16 || w.dtype != DType::kBF16 ||
      (y.dtype != DType::kBF16 && y.dtype != DType::kF32) || x.cols % 8 != 0 || x.ld % 8 != 0 ||
      w.ld % 8 != 0 || !aligned16(x.data) || !aligned16(w.data) || w.rows > (int64_t{1} << 30))
    return false;
  SkinnyArgs a{};
  a.w = w.ptr<const bf16>();
  a.x = x.ptr<const bf16>();
  a.y = y.data;
  a.ldw = w.ld;
  a.ldx = x.ld;
  a.ldy = y.ld;
  a.rows = static_cast<int>(x.rows);
  a.N = static_cast<int>(w.rows);
  a.K = static_cast<int>(x.cols);
  if (y.dtype == DType::kF32)
    launch<float>(c, a, 1);
  else
    launch<bf16>(c, a, 1);
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
