// Grouped GEMM for the routed experts at decode-sized token counts: every expert's rows times
// its weights in one launch, with each expert's row range read from device memory, so nothing
// is read back and no batch entry is wasted on a chunk that does not exist.
//
// CTA (feature tile, expert, row range): 8 warps own 16 output features each (128 per CTA;
// with SwiGLU the matching 128 up rows as well) and stream that weight tile through a pipeline
// of 64-wide k slabs (4 stages; 2 with SwiGLU, so that two CTAs share an SM), loaded as TMA
// tensor-map boxes, while 64 of the expert's rows per pass come by cp.async into the same stages
// (through the row map, so the tokens are read in place). Tensor cores (mma.sync m16n8k16, ldmatrix
// fragments) do the products; at these sizes the kernel is bound by the weight stream. The cuBLAS
// pointer-array kernels it replaces ran at 70-78% of the copy bandwidth at 32-128 tokens, and every
// unused chunk entry re-read an expert from L2; per-thread cp.async weight tiles reached 75-78%
// (docs/PERFORMANCE.md).
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/tensor_map.h"

namespace duet::cuda {
namespace {

constexpr int kMaxMTiles = 4;     // rows per pass: 16 per m tile
constexpr int kMaxRangeCtas = 8;  // CTAs sharing one expert's row ranges (grid z)
constexpr int kBK = 64;           // k per pipeline stage: one 128-byte row segment
constexpr int kXLd = kBK + 8;     // padded row stride of x in shared memory: ldmatrix rows hit
                                  // distinct banks

// WARPS warps own 16 output features each; STAGES pipeline stages. TMA: the weight tile of a
// stage is one tensor-map box (two with SwiGLU) landing 128-byte swizzled, completing on a
// per-stage mbarrier; otherwise per-thread cp.async into padded rows. Rows of x always come by
// cp.async (they are gathered through the row map).
template <bool GLU_, int WARPS, int STAGES, bool TMA>
struct Shape {
  static constexpr bool GLU = GLU_, kTma = TMA;
  static constexpr int kWarps = WARPS, kStages = STAGES;
  static constexpr int kBN = 16 * WARPS;              // output features per CTA
  static constexpr int kWRows = GLU ? 2 * kBN : kBN;  // gate rows, then up rows
  static constexpr int kWLd = TMA ? kBK : kXLd;
  static constexpr int kXOffset = kWRows * kWLd;  // elements from a stage's start to its x rows
  // Stages start at multiples of 1024 bytes (the 128-byte swizzle's period).
  static constexpr int kStageElems = (kXOffset + 16 * kMaxMTiles * kXLd + 511) / 512 * 512;
  static constexpr size_t kSmemBytes = STAGES * kStageElems * sizeof(bf16) + 1024;
  // Element index of 16-byte chunk `chunk` of weight row `row` within a stage.
  __device__ static int w_index(int row, int chunk) {
    return TMA ? row * kBK + ((chunk ^ (row & 7)) << 3) : row * kXLd + chunk * 8;
  }
};

// Loads k slab `kt` of the pass's rows of x into `stage` (all threads; rows past the pass's
// real ones and k past K are zero-filled), and without TMA also the weight tile.
template <typename S, int MT>
__device__ __forceinline__ void load_stage(const GroupedGemm& g, const bf16* w, int n0,
                                           const int32_t* src_row, int kt, bf16* stage) {
  constexpr int kBN = S::kBN, kChunks = kBK / 8;
  const int k0 = kt * kBK;
  if constexpr (!S::kTma) {
    for (int i = threadIdx.x; i < S::kWRows * kChunks; i += S::kWarps * 32) {
      const int r = i / kChunks, ch = i % kChunks;
      const int n = n0 + r % kBN;
      const int k = k0 + ch * 8;
      const bool ok = n < g.N && k < g.K;
      const int64_t wr = n + (r >= kBN ? g.glu_offset : 0);
      cp_async16(stage + S::w_index(r, ch), ok ? w + wr * g.ldw + k : w, ok ? 16 : 0);
    }
  }
  bf16* xs = stage + S::kXOffset;
  for (int i = threadIdx.x; i < MT * 16 * kChunks; i += S::kWarps * 32) {
    const int r = i / kChunks, ch = i % kChunks;
    const int k = k0 + ch * 8;
    const int src = src_row[r];
    const bool ok = src >= 0 && k < g.K;
    cp_async16(xs + r * kXLd + ch * 8, ok ? g.x + src * g.ldx + k : g.x, ok ? 16 : 0);
  }
}

// TMA: thread 0 starts the weight boxes of slab kt (gate rows n0.., and the up rows) on `bar`.
// Rows and k past the tensor's ends arrive as zeros; their bytes count all the same.
template <typename S>
__device__ __forceinline__ void load_weights_tma(const CUtensorMap* map, int e, int n0,
                                                 int64_t glu_offset, int kt, bf16* stage,
                                                 uint64_t* bar) {
  constexpr uint32_t kBoxBytes = S::kBN * kBK * sizeof(bf16);
  mbar_arrive_expect_tx(bar, (S::GLU ? 2 : 1) * kBoxBytes);
  tma_load_3d(stage, map, kt * kBK, n0, e, bar);
  if constexpr (S::GLU)
    tma_load_3d(stage + S::kBN * kBK, map, kt * kBK, n0 + static_cast<int>(glu_offset), e, bar);
}

// One pass: rows [m0, m0 + 16 MT) of the expert (fewer are real) times the CTA's weight tile.
// k tile number `fills + kt` of the CTA uses stage (fills + kt) % STAGES and, with TMA, mbarrier
// phase parity ((fills + kt) / STAGES) & 1; `fills` counts the tiles of the CTA's earlier passes.
template <typename S, int MT>
__device__ void pass(const GroupedGemm& g, const CUtensorMap* map, const bf16* w, int e, int n0,
                     int first, int m0, int count, const int32_t* src_row, bf16* smem,
                     uint64_t* full, uint32_t& fills) {
  constexpr bool GLU = S::GLU;
  constexpr int kBN = S::kBN, kStages = S::kStages;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kt_count = static_cast<int>((g.K + kBK - 1) / kBK);
  float acc[MT][2][4] = {};
  [[maybe_unused]] float up[GLU ? MT : 1][2][4] = {};
  auto stage_of = [&](int kt) { return static_cast<int>((fills + kt) % kStages); };
  auto load = [&](int kt) {
    bf16* stage = smem + stage_of(kt) * S::kStageElems;
    if constexpr (S::kTma) {
      if (threadIdx.x == 0)
        load_weights_tma<S>(map, e, n0, g.glu_offset, kt, stage, &full[stage_of(kt)]);
    }
    load_stage<S, MT>(g, w, n0, src_row, kt, stage);
  };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < kt_count) load(s);
    cp_async_commit();
  }
  // Fragment rows and chunks inside a stage (see mma.cuh for the layouts): B from the weight
  // rows (n, k contiguous: the mma's column-major B as is), A from the rows of x.
  const int b_row = warp * 16 + (lane & 7) + (lane >> 4) * 8, b_chunk = (lane >> 3) & 1;
  const int a_off = ((lane & 7) + ((lane >> 3) & 1) * 8) * kXLd + (lane >> 4) * 8;
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<kStages - 2>();
    if constexpr (S::kTma) mbar_wait(&full[stage_of(kt)], ((fills + kt) / kStages) & 1);
    __syncthreads();  // slab kt is in; every warp is done with the stage refilled next
    const int next = kt + kStages - 1;
    if (next < kt_count) load(next);
    cp_async_commit();
    const bf16* ws = smem + stage_of(kt) * S::kStageElems;
    const bf16* xs = ws + S::kXOffset;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t b[4], bu[4];
      ldmatrix_x4(b, ws + S::w_index(b_row, kk * 2 + b_chunk));
      if constexpr (GLU) ldmatrix_x4(bu, ws + S::w_index(kBN + b_row, kk * 2 + b_chunk));
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        uint32_t a[4];
        ldmatrix_x4(a, xs + mt * 16 * kXLd + a_off + kk * 16);
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
  fills += kt_count;
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
        if constexpr (GLU) {
          v0 = swiglu_bf16(v0, up[mt][nt][2 * h]);
          v1 = swiglu_bf16(v1, up[mt][nt][2 * h + 1]);
        }
        *reinterpret_cast<__nv_bfloat162*>(g.y + static_cast<int64_t>(first + m) * g.ldy + n) =
            __floats2bfloat162_rn(v0, v1);
      }
    }
  }
}

// `map` (TMA only): the weights as a [E, N + glu_offset, K] tensor.
template <typename S>
__global__ void __launch_bounds__(S::kWarps * 32)
    grouped_kernel(const __grid_constant__ CUtensorMap map, GroupedGemm g) {
  extern __shared__ unsigned char grouped_smem[];
  bf16* smem =
      reinterpret_cast<bf16*>((reinterpret_cast<uintptr_t>(grouped_smem) + 1023) / 1024 * 1024);
  __shared__ int32_t src_row[16 * kMaxMTiles];
  __shared__ uint64_t full[S::kStages];   // TMA only
  constexpr int kRows = 16 * kMaxMTiles;  // rows per pass
  const int e = blockIdx.y;
  const int count = g.expert_count[e];
  if (count <= static_cast<int>(blockIdx.z) * kRows) return;  // no rows for this CTA
  if constexpr (S::kTma) {
    if (threadIdx.x < S::kStages) mbar_init(&full[threadIdx.x], 1);
    fence_async_shared();
  }
  uint32_t fills = 0;
  const int first = g.expert_first[e];
  const int n0 = blockIdx.x * S::kBN;
  const bf16* w = g.w + e * g.w_stride;
  // The CTA takes the expert's row ranges z, z + gridDim.z, ...
  for (int m0 = blockIdx.z * kRows; m0 < count; m0 += gridDim.z * kRows) {
    if (threadIdx.x < kRows) {
      const int m = m0 + static_cast<int>(threadIdx.x);
      src_row[threadIdx.x] = m < count ? (g.row_src ? g.row_src[first + m] : first + m) : -1;
    }
    __syncthreads();
    const int tiles = (count - m0 + 15) / 16;
    if (tiles == 1)
      pass<S, 1>(g, &map, w, e, n0, first, m0, count, src_row, smem, full, fills);
    else if (tiles == 2)
      pass<S, 2>(g, &map, w, e, n0, first, m0, count, src_row, smem, full, fills);
    else if (tiles == 3)
      pass<S, 3>(g, &map, w, e, n0, first, m0, count, src_row, smem, full, fills);
    else
      pass<S, 4>(g, &map, w, e, n0, first, m0, count, src_row, smem, full, fills);
  }
}

// The weights as a [E, N + glu_offset, K] bf16 tensor in boxes of [1, box_rows, 64].
bool weight_map(const GroupedGemm& g, int box_rows, CUtensorMap* map) {
  return bf16_stacked_map(g.w, g.E, g.N + g.glu_offset, g.K, g.ldw, g.w_stride, box_rows, map);
}

template <typename S>
void launch(Context& c, const GroupedGemm& g) {
  CUtensorMap map{};
  if constexpr (S::kTma) {
    if (!weight_map(g, S::kBN, &map))
      return launch<Shape<S::GLU, S::kWarps, 4, false>>(c, g);  // no TMA: the cp.async tiles
  }
  static bool configured = false;  // per instantiation; the attribute is per function
  if (!configured) {
    DUET_CUDA_CHECK(cudaFuncSetAttribute(grouped_kernel<S>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(S::kSmemBytes)));
    configured = true;
  }
  // z: the 64-row ranges up to the largest possible count, at most kMaxRangeCtas of them, so an
  // expert holding many rows (skewed routing) spreads over that many CTAs instead of running
  // its passes one after another on a few; CTAs past an expert's rows exit at once (the cap
  // bounds how many such CTAs a large batch over hundreds of experts launches).
  const dim3 grid(static_cast<unsigned>(ceil_div(g.N, S::kBN)), static_cast<unsigned>(g.E),
                  static_cast<unsigned>(
                      std::min<int64_t>(ceil_div(g.max_rows, 16 * kMaxMTiles), kMaxRangeCtas)));
  grouped_kernel<S><<<grid, S::kWarps * 32, S::kSmemBytes, c.stream>>>(map, g);
  DUET_CUDA_LAUNCHED();
}

template <bool GLU>
void launch_variant(Context& c, const GroupedGemm& g) {
  switch (c.moe_path) {
    case 1:
      return launch<Shape<GLU, 4, 4, false>>(c, g);
    case 2:
      return launch<Shape<GLU, 4, 4, true>>(c, g);
    case 3:
      return launch<Shape<GLU, 8, 5, true>>(c, g);
    case 4:
      return launch<Shape<GLU, 4, 6, true>>(c, g);
    case 5:  // the default until the SwiGLU GEMM's stages were cut to two
      return launch<Shape<GLU, 8, 4, true>>(c, g);
    case 6:
      return launch<Shape<GLU, 8, 2, true>>(c, g);
    case 7:
      return launch<Shape<GLU, 8, GLU ? 2 : 3, true>>(c, g);
    default:
      // Two stages for the SwiGLU GEMM (two CTAs of 86 KB per SM instead of one of 172 KB: the
      // second CTA's warps hide the first's mma latency; H200, 64 tok/expert: 342 against
      // 372 us), four for the down projection (two CTAs per SM already).
      return launch<Shape<GLU, 8, GLU ? 2 : 4, true>>(c, g);
  }
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
    launch_variant<true>(c, g);
  else
    launch_variant<false>(c, g);
}

}  // namespace duet::cuda
