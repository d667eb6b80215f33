// Grouped GEMM for the routed experts at prefill-sized token counts, on Hopper warpgroup MMAs:
// y [rows, N] = x [rows, K] w_e^T over every expert's packed row range, in one persistent launch
// whose tile list comes from the expert counts on the device (no read-back, no padding to the
// largest expert). The mma.sync kernel of grouped_gemm.cu re-streams each weight tile for every
// 64 rows, and the cuBLAS strided batches it replaced at these sizes pad every expert to the
// largest count and run SwiGLU as a separate pass over [rows, 2I].
//
// Tile: 128 rows x 256 weight rows (with SwiGLU 128 gate rows and the matching 128 up rows, so
// a thread holds gate and up of the same output column and SwiGLU happens in registers). Three
// warpgroups: one thread of the first issues the TMA boxes of each 64-wide k slab into a ring
// of kStages stages; the other two each multiply 64 of the rows (m64n256k16, A and B from
// shared memory) and write their part of the tile through per-warp staging slabs. Tiles go
// round robin over the CTAs (one per SM), experts in ascending id, the rows of one weight tile
// consecutive, so that the CTAs running at once share their weight tiles through L2.
#include <algorithm>
#include <type_traits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/tensor_map.h"
#include "backend/cuda/wgmma.cuh"

namespace duet::cuda {
namespace {

constexpr int kBM = 128;                // rows per tile: 64 per consumer warpgroup
constexpr int kBW = 256;                // weight rows per tile
constexpr int kBK = 64;                 // k per stage: one 128-byte swizzled row
constexpr int kStages = 4;              // 4 x 48 KB of the 227 KB of shared memory
constexpr int kABytes = kBM * kBK * 2;  // [128, 64] bf16 rows of x
constexpr int kBBytes = kBW * kBK * 2;  // [256, 64] bf16 weight rows
constexpr int kStageBytes = kABytes + kBBytes;
constexpr int kThreads = 384;     // producer warpgroup + 2 consumer warpgroups
constexpr int kMaxExperts = 512;  // per launch (DeepSeek-V3 256, Kimi K2 384)
constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;  // + alignment to the swizzle period

template <bool GLU>
struct Tile {
  static constexpr int kCols = GLU ? kBW / 2 : kBW;  // output columns per tile
};

// The CTA's view of the launch: each expert's first row, row count and first tile, built from
// the device counts by warp 0 at the start.
struct Schedule {
  int32_t first[kMaxExperts], count[kMaxExperts];
  int32_t prefix[kMaxExperts + 1];  // tiles of the experts before e
};

struct TileAt {
  int e, m0, n0;
};

__device__ TileAt tile_at(const Schedule& s, int E, int cols, int t) {
  int lo = 0, hi = E - 1;  // the expert e with prefix[e] <= t < prefix[e + 1]
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (s.prefix[mid + 1] > t)
      hi = mid;
    else
      lo = mid + 1;
  }
  const int local = t - s.prefix[lo];
  const int m_tiles = (s.count[lo] + kBM - 1) / kBM;
  return TileAt{lo, local % m_tiles * kBM, local / m_tiles * cols};
}

// How much of the kernel runs: everything, or (cuda_bench probes, wrong results) only the
// loads, or only the products and stores on whatever the stages hold.
enum class Probe { kFull, kLoadsOnly, kMathOnly };

// Each consumer warp writes its 16 rows of the tile through a [16, 64] staging slab of its own
// in 64-column chunks: the accumulator layout puts a thread's values in 8 rows 16 bytes apart,
// so stores straight from registers touched 8 rows per instruction; from the slab every lane
// stores 16 bytes and each instruction writes four 128-byte row segments. Rows 72 values apart
// keep the slab's 4-byte writes free of bank conflicts and its 16-byte reads aligned.
constexpr int kSlabLd = 72;
constexpr int kSlabElems = 16 * kSlabLd;

// swiglu_bf16 with the hardware's approximate exp and division (relative error ~1e-7, far below
// the bf16 rounding of the result): the gate_up epilogue computes 128 of them per thread per
// tile while the tensor cores wait.
__device__ __forceinline__ float swiglu_bf16_approx(float gate, float up) {
  const float g = __bfloat162float(__float2bfloat16_rn(gate));
  return __fdividef(g, 1.0f + __expf(-g)) * __bfloat162float(__float2bfloat16_rn(up));
}

template <bool GLU>
__device__ __forceinline__ void store_rows(const GroupedGemm& g, const float (&acc)[128],
                                           bf16* slab, int64_t first, int m_base, int count,
                                           int n0) {
  constexpr int kCols = Tile<GLU>::kCols;
  const int lane = threadIdx.x % 32, gq = lane / 4, tq = lane % 4;
#pragma unroll
  for (int chunk = 0; chunk < kCols / 64; ++chunk) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {  // the chunk's 8 column blocks of 8
      const int b = chunk * 8 + i;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float v0 = acc[4 * b + 2 * h], v1 = acc[4 * b + 2 * h + 1];
        if constexpr (GLU) {  // the up column of n sits 128 columns (16 blocks of 8) further
          v0 = swiglu_bf16_approx(v0, acc[4 * (b + 16) + 2 * h]);
          v1 = swiglu_bf16_approx(v1, acc[4 * (b + 16) + 2 * h + 1]);
        }
        *reinterpret_cast<__nv_bfloat162*>(slab + (gq + 8 * h) * kSlabLd + 8 * i + 2 * tq) =
            __floats2bfloat162_rn(v0, v1);
      }
    }
    __syncwarp();
#pragma unroll
    for (int r0 = 0; r0 < 16; r0 += 4) {  // 4 rows of 8 16-byte pieces per instruction
      const int r = r0 + lane / 8, piece = lane % 8;
      const int m = m_base + r, n = n0 + chunk * 64 + 8 * piece;
      if (m < count && n < g.N)
        *reinterpret_cast<uint4*>(g.y + (first + m) * g.ldy + n) =
            *reinterpret_cast<const uint4*>(slab + r * kSlabLd + 8 * piece);
    }
    __syncwarp();  // the slab is rewritten by the next chunk
  }
}

// The two consumer warpgroups: each multiplies 64 rows of the CTA's tile by the 256 weight
// rows, slab by slab as the stages fill, releasing each stage once its products are done, then
// writes its rows (SwiGLU of gate and up columns with GLU).
template <bool GLU, Probe PROBE>
__device__ __forceinline__ void consume(const GroupedGemm& g, const uint8_t* smem, uint64_t* full,
                                        uint64_t* empty, const Schedule& sched, bf16* slabs,
                                        int total) {
  constexpr int kCols = Tile<GLU>::kCols;
  const int k_tiles = static_cast<int>((g.K + kBK - 1) / kBK);
  const int lane = threadIdx.x % 32;
  const int cw = threadIdx.x / 128 - 1;     // this warpgroup's 64 rows of the tile
  const int warp = (threadIdx.x / 32) % 4;  // within the warpgroup: 16 of those rows
  bf16* slab = slabs + (4 * cw + warp) * kSlabElems;
  auto release = [&](int s) {
    if (lane == 0) mbar_arrive(&empty[s]);
  };
  uint32_t it = 0;
  float acc[128] = {};  // each tile's first product overwrites it (scale-d 0)
  for (int t = blockIdx.x; t < total; t += gridDim.x) {
    const TileAt at = tile_at(sched, g.E, kCols, t);
    const int count = sched.count[at.e];
    if (at.m0 + 64 * cw >= count || PROBE == Probe::kLoadsOnly) {
      // No rows of this warpgroup in the tile (an expert's last one): release each stage once
      // it has arrived, so that no arrival counts toward a later phase.
      for (int kt = 0; kt < k_tiles; ++kt, ++it) {
        const int s = static_cast<int>(it % kStages);
        mbar_wait(&full[s], (it / kStages) & 1);
        release(s);
      }
      continue;
    }
    for (int kt = 0; kt < k_tiles; ++kt, ++it) {
      const int s = static_cast<int>(it % kStages);
      mbar_wait(&full[s], (it / kStages) & 1);
      const uint8_t* st = smem + s * kStageBytes;
      const uint64_t a = wgmma_desc_sw128(st + cw * (kABytes / 2), 16, 1024);
      const uint64_t b = wgmma_desc_sw128(st + kABytes, 16, 1024);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk)  // 16 k = 32 bytes along the swizzled rows
        wgmma_m64n256k16_ss(acc, a + 2 * kk, b + 2 * kk, kt > 0 || kk > 0);
      wgmma_commit();
      wgmma_wait<1>();  // the previous slab's products are done: its stage may be refilled
      if (kt > 0) release((it + kStages - 1) % kStages);
    }
    wgmma_wait<0>();
    wgmma_hold(acc);
    release((it + kStages - 1) % kStages);
    store_rows<GLU>(g, acc, slab, sched.first[at.e], at.m0 + 64 * cw + 16 * warp, count, at.n0);
  }
}

// a_map: x as [rows, K] in boxes of 128 x 64; w_map: the weights as [E, N + glu_offset, K] in
// boxes of 1 x 128 x 64.
template <bool GLU, Probe PROBE>
__global__ void __launch_bounds__(kThreads, 1)
    grouped_wgmma_kernel(const __grid_constant__ CUtensorMap a_map,
                         const __grid_constant__ CUtensorMap w_map, GroupedGemm g) {
  extern __shared__ unsigned char wgmma_smem[];
  uint8_t* smem =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(wgmma_smem) + 1023) / 1024 * 1024);
  __shared__ Schedule sched;
  __shared__ uint64_t full[kStages], empty[kStages];
  __shared__ alignas(16) bf16 slabs[8 * kSlabElems];  // a staging slab per consumer warp
  constexpr int kCols = Tile<GLU>::kCols;
  const int E = g.E;
  const int n_tiles = static_cast<int>((g.N + kCols - 1) / kCols);
  const int k_tiles = static_cast<int>((g.K + kBK - 1) / kBK);
  const int lane = threadIdx.x % 32;
  if (threadIdx.x < 32) {  // tiles per expert, scanned 32 experts at a time
    int carry = 0;
    for (int base = 0; base < E; base += 32) {
      const int e = base + lane;
      int tiles = 0;
      if (e < E) {
        const int n = g.expert_count[e];
        sched.count[e] = n;
        sched.first[e] = g.expert_first[e];
        tiles = (n + kBM - 1) / kBM * n_tiles;
      }
      const int incl = warp_inclusive_sum(tiles);
      if (e < E) sched.prefix[e + 1] = carry + incl;
      carry += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) sched.prefix[0] = 0;
  } else if (threadIdx.x == 32) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], 8);  // lane 0 of each consumer warp
    }
    fence_async_shared();
  }
  __syncthreads();
  const int total = sched.prefix[E];

  if (threadIdx.x >= 128) {
    setmaxnreg_inc<232>();
    consume<GLU, PROBE>(g, smem, full, empty, sched, slabs, total);
    return;
  }
  setmaxnreg_dec<40>();  // the producer warpgroup: one thread issues every load
  if (threadIdx.x != 0) return;
  uint32_t it = 0;
  for (int t = blockIdx.x; t < total; t += gridDim.x) {
    const TileAt at = tile_at(sched, E, kCols, t);
    const int row = sched.first[at.e] + at.m0;
    const int w0 = at.n0, w1 = GLU ? static_cast<int>(g.glu_offset) + at.n0 : at.n0 + kBW / 2;
    for (int kt = 0; kt < k_tiles; ++kt, ++it) {
      const int s = static_cast<int>(it % kStages);
      mbar_wait(&empty[s], ((it / kStages) & 1) ^ 1);
      uint8_t* st = smem + s * kStageBytes;
      if constexpr (PROBE == Probe::kMathOnly) {
        mbar_arrive(&full[s]);
        continue;
      }
      mbar_arrive_expect_tx(&full[s], kStageBytes);
      tma_load_2d(st, &a_map, kt * kBK, row, &full[s]);
      tma_load_3d(st + kABytes, &w_map, kt * kBK, w0, at.e, &full[s]);
      tma_load_3d(st + kABytes + kBBytes / 2, &w_map, kt * kBK, w1, at.e, &full[s]);
    }
  }
}

template <bool GLU, Probe PROBE>
void launch(Context& c, const GroupedGemm& g, int64_t x_rows) {
  CUtensorMap a_map{}, w_map{};
  DUET_CHECK(
      bf16_matrix_map(g.x, x_rows, g.K, g.ldx, kBM, kBK, &a_map) &&
          bf16_stacked_map(g.w, g.E, g.N + g.glu_offset, g.K, g.ldw, g.w_stride, kBW / 2, &w_map),
      "cuda grouped_gemm_wgmma: tensor maps");
  auto* kernel = grouped_wgmma_kernel<GLU, PROBE>;
  static bool configured = false;  // per instantiation; the attribute is per function
  if (!configured) {
    DUET_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmemBytes)));
    configured = true;
  }
  // At most one tile per 128 rows plus one partial tile per expert, times the column tiles;
  // one CTA per SM.
  const int64_t most = (ceil_div(x_rows, kBM) + g.E) * ceil_div(g.N, Tile<GLU>::kCols);
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(c.num_sms, most));
  kernel<<<grid, kThreads, kSmemBytes, c.stream>>>(a_map, w_map, g);
  DUET_CUDA_LAUNCHED();
}

}  // namespace

bool grouped_gemm_wgmma_fits(const GroupedGemm& g, int64_t x_rows) {
  return g.row_src == nullptr && g.E <= kMaxExperts && g.N % 8 == 0 && g.K > 0 && g.K % 8 == 0 &&
         g.ldx % 8 == 0 && g.ldw % 8 == 0 && g.w_stride % 8 == 0 && g.ldy % 8 == 0 &&
         (g.glu_offset == 0 || g.glu_offset >= g.N) && g.N + g.glu_offset < (int64_t{1} << 30) &&
         g.K < (int64_t{1} << 30) && x_rows < (int64_t{1} << 30) && aligned16(g.x) &&
         aligned16(g.w) && aligned16(g.y);
}

void grouped_gemm_wgmma(Context& c, const GroupedGemm& g, int64_t x_rows) {
  DUET_CHECK(grouped_gemm_wgmma_fits(g, x_rows), "cuda grouped_gemm_wgmma: shape or alignment (N ",
             g.N, ", K ", g.K, ")");
  if (g.E == 0 || g.N == 0 || x_rows == 0) return;
  auto run = [&](auto glu) {
    constexpr bool kGlu = decltype(glu)::value;
    if (c.moe_path == -6) return launch<kGlu, Probe::kLoadsOnly>(c, g, x_rows);
    if (c.moe_path == -7) return launch<kGlu, Probe::kMathOnly>(c, g, x_rows);
    launch<kGlu, Probe::kFull>(c, g, x_rows);
  };
  if (g.glu_offset > 0)
    run(std::true_type{});
  else
    run(std::false_type{});
}

}  // namespace duet::cuda
