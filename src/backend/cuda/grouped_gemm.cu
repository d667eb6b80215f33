// Grouped GEMM for the routed experts at decode-sized token counts: every expert's rows times
// its weights in one launch, with each expert's row range read from device memory, so nothing
// is read back and no batch entry is wasted on a chunk that does not exist.
//
// CTA (feature tile, expert): 4 warps own 16 output features each (64 per CTA; with SwiGLU the
// matching 64 up rows as well) and stream that weight tile once through a 4-stage cp.async
// pipeline of 64-wide k slabs, while the expert's rows (at most 64 per pass, the weight tile
// re-read from L2 for more) sit in the same stages. Tensor cores (mma.sync m16n8k16, ldmatrix
// fragments) do the products; at these sizes the kernel is bound by the weight stream. The
// cuBLAS pointer-array kernels it replaces ran at 70-78% of the copy bandwidth at 32-128
// tokens, and every unused chunk entry re-read an expert from L2.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kBN = 16 * kWarps;  // output features per CTA
constexpr int kBK = 64;           // k per pipeline stage
constexpr int kStages = 4;
constexpr int kMaxMTiles = 4;  // rows per pass: 16 per m tile
constexpr int kLd = kBK + 8;   // shared row stride (144 bytes): ldmatrix rows hit distinct banks

template <bool GLU>
struct Shape {
  static constexpr int kWRows = GLU ? 2 * kBN : kBN;  // gate rows, then up rows
  static constexpr int kXRows = 16 * kMaxMTiles;
  static constexpr int kStageElems = (kWRows + kXRows) * kLd;
  static constexpr size_t kSmemBytes = kStages * kStageElems * sizeof(bf16);
};

// Loads k slab `kt` of the weight tile and of the pass's rows into `stage`; rows and features
// past the ends, and k past K, are zero-filled.
template <bool GLU, int MT>
__device__ __forceinline__ void load_stage(const GroupedGemm& g, const bf16* w, int n0,
                                           const int32_t* src_row, int kt, bf16* stage) {
  using S = Shape<GLU>;
  const int k0 = kt * kBK;
  for (int i = threadIdx.x; i < S::kWRows * 8; i += kWarps * 32) {
    const int r = i / 8, ch = i % 8;
    const int n = n0 + r % kBN;
    const int k = k0 + ch * 8;
    const bool ok = n < g.N && k < g.K;
    const int64_t wr = n + (r >= kBN ? g.glu_offset : 0);
    cp_async16(stage + r * kLd + ch * 8, ok ? w + wr * g.ldw + k : w, ok ? 16 : 0);
  }
  bf16* xs = stage + S::kWRows * kLd;
  for (int i = threadIdx.x; i < MT * 16 * 8; i += kWarps * 32) {
    const int r = i / 8, ch = i % 8;
    const int k = k0 + ch * 8;
    const int src = src_row[r];
    const bool ok = src >= 0 && k < g.K;
    cp_async16(xs + r * kLd + ch * 8, ok ? g.x + src * g.ldx + k : g.x, ok ? 16 : 0);
  }
}

// One pass: rows [m0, m0 + 16 MT) of the expert (fewer are real) times the CTA's weight tile.
template <bool GLU, int MT>
__device__ void pass(const GroupedGemm& g, const bf16* w, int n0, int first, int m0, int count,
                     const int32_t* src_row, bf16* smem) {
  using S = Shape<GLU>;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kt_count = static_cast<int>((g.K + kBK - 1) / kBK);
  float acc[MT][2][4] = {};
  [[maybe_unused]] float up[GLU ? MT : 1][2][4] = {};
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < kt_count) load_stage<GLU, MT>(g, w, n0, src_row, s, smem + s * S::kStageElems);
    cp_async_commit();
  }
  // Fragment addresses inside a stage (see mma.cuh for the layouts): B from the weight rows
  // (n, k contiguous: the mma's column-major B as is), A from the rows of x.
  const int b_off = (warp * 16 + (lane & 7) + (lane >> 4) * 8) * kLd + ((lane >> 3) & 1) * 8;
  const int a_off = ((lane & 7) + ((lane >> 3) & 1) * 8) * kLd + (lane >> 4) * 8;
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // slab kt is in; every warp is done with the stage refilled next
    const int next = kt + kStages - 1;
    if (next < kt_count)
      load_stage<GLU, MT>(g, w, n0, src_row, next, smem + (next % kStages) * S::kStageElems);
    cp_async_commit();
    const bf16* ws = smem + (kt % kStages) * S::kStageElems;
    const bf16* xs = ws + S::kWRows * kLd;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t b[4], bu[4];
      ldmatrix_x4(b, ws + b_off + kk * 16);
      if constexpr (GLU) ldmatrix_x4(bu, ws + kBN * kLd + b_off + kk * 16);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        uint32_t a[4];
        ldmatrix_x4(a, xs + mt * 16 * kLd + a_off + kk * 16);
        mma_bf16(acc[mt][0], a, b[0], b[1]);
        mma_bf16(acc[mt][1], a, b[2], b[3]);
        if constexpr (GLU) {
          mma_bf16(up[mt][0], a, bu[0], bu[1]);
          mma_bf16(up[mt][1], a, bu[2], bu[3]);
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the next pass reuses the stages and the source rows
  const int gq = lane / 4, tq = lane % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int n = n0 + warp * 16 + nt * 8 + 2 * tq;
      if (n >= g.N) continue;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = m0 + mt * 16 + gq + h * 8;
        if (m >= count) continue;
        float v0 = acc[mt][nt][2 * h], v1 = acc[mt][nt][2 * h + 1];
        if constexpr (GLU) {  // as silu_mul, without rounding gate and up to bf16 first
          v0 = v0 / (1.0f + expf(-v0)) * up[mt][nt][2 * h];
          v1 = v1 / (1.0f + expf(-v1)) * up[mt][nt][2 * h + 1];
        }
        *reinterpret_cast<__nv_bfloat162*>(g.y + static_cast<int64_t>(first + m) * g.ldy + n) =
            __floats2bfloat162_rn(v0, v1);
      }
    }
  }
}

template <bool GLU>
__global__ void __launch_bounds__(kWarps * 32) grouped_kernel(GroupedGemm g) {
  extern __shared__ __align__(16) unsigned char grouped_smem[];
  bf16* smem = reinterpret_cast<bf16*>(grouped_smem);
  __shared__ int32_t src_row[16 * kMaxMTiles];
  const int e = blockIdx.y;
  const int count = g.expert_count[e];
  if (count == 0) return;
  const int first = g.expert_first[e];
  const int n0 = blockIdx.x * kBN;
  const bf16* w = g.w + e * g.w_stride;
  for (int m0 = 0; m0 < count; m0 += 16 * kMaxMTiles) {
    if (threadIdx.x < 16 * kMaxMTiles) {
      const int m = m0 + static_cast<int>(threadIdx.x);
      src_row[threadIdx.x] = m < count ? (g.row_src ? g.row_src[first + m] : first + m) : -1;
    }
    __syncthreads();
    const int tiles = (count - m0 + 15) / 16;
    if (tiles == 1)
      pass<GLU, 1>(g, w, n0, first, m0, count, src_row, smem);
    else if (tiles == 2)
      pass<GLU, 2>(g, w, n0, first, m0, count, src_row, smem);
    else if (tiles == 3)
      pass<GLU, 3>(g, w, n0, first, m0, count, src_row, smem);
    else
      pass<GLU, 4>(g, w, n0, first, m0, count, src_row, smem);
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <bool GLU>
void launch(Context& c, const GroupedGemm& g) {
  static bool configured = false;  // per instantiation; the attribute is per function
  if (!configured) {
    DUET_CUDA_CHECK(cudaFuncSetAttribute(grouped_kernel<GLU>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(Shape<GLU>::kSmemBytes)));
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(g.N, kBN)), static_cast<unsigned>(g.E));
  grouped_kernel<GLU><<<grid, kWarps * 32, Shape<GLU>::kSmemBytes, c.stream>>>(g);
  DUET_CUDA_LAUNCHED();
}

}  // namespace

bool grouped_gemm_fits(const GroupedGemm& g) {
  return g.N % 2 == 0 && g.K % 8 == 0 && g.ldx % 8 == 0 && g.ldw % 8 == 0 && g.w_stride % 8 == 0 &&
         g.ldy % 2 == 0 && g.N + g.glu_offset < (int64_t{1} << 30) && g.K < (int64_t{1} << 30) &&
         aligned16(g.x) && aligned16(g.w) && reinterpret_cast<uintptr_t>(g.y) % 4 == 0;
}

void grouped_gemm(Context& c, const GroupedGemm& g) {
  DUET_CHECK(grouped_gemm_fits(g), "cuda grouped_gemm: shape or alignment (N ", g.N, ", K ", g.K,
             ")");
  if (g.E == 0 || g.N == 0) return;
  if (g.glu_offset > 0)
    launch<true>(c, g);
  else
    launch<false>(c, g);
}

}  // namespace duet::cuda
