// MLA decode attention on the DeepSeek-V3 latent layout (512 + 64) with Hopper warpgroup MMAs
// (wgmma.cuh). The mma.sync kernels re-read every key tile through ldmatrix once per 16 query
// rows, and at 64 rows were bound by shared-memory bandwidth (ncu: shared memory 66% busy, DRAM
// 40%); a wgmma reads its 64-row operands once per warpgroup. It runs CTAs of more than 16 rows
// (64-head tokens); with rows padded to 64 it also runs 16-head tokens (a benchmark variant:
// mla_decode_wgmma_t.cuh takes them without padding, and measured the same).
//
// One CTA: two warpgroups over 64 query rows (heads of one sequence's tokens).
// - Key tiles of 32 cache rows arrive as nine TMA boxes of 32 x 64 values (one per 128-byte
//   column atom), 128-byte swizzled, into STAGES stages with an mbarrier each; thread 0 refills
//   a stage after the CTA-wide barrier that ends the tile it held.
// - S = Q K^T: warpgroup w takes half of the 36 k16 steps of the 576-long dot products (atoms
//   4w..4w+3 and half of atom 8), 18 wgmma m64n32k16 with Q and K from shared memory. The two
//   partial S meet through shared memory; each warpgroup adds the other's to its own, and since
//   a + b == b + a exactly, both hold the same S.
// - Online softmax in registers (each warpgroup for all 64 rows); P goes from the S accumulators
//   into A fragments, and O[64 x 256] += P V for the warpgroup's half of the 512 V columns is
//   two wgmma m64n256k16 with V read MN-major from the same stage.
// - With the KV splits of a row tile launched as a cluster, the splits merge in rank 0 through
//   distributed shared memory (cluster_merge) instead of partial outputs and a combine kernel.
#pragma once

#include <cuda.h>

#include "backend/cuda/mla_decode_common.cuh"
#include "backend/cuda/wgmma.cuh"

namespace duet::cuda::mla {

// PRODUCER: a third warpgroup issues the TMA loads (one thread; the warpgroup gives its
// registers to the other two by setmaxnreg), and a stage is handed back by an mbarrier that
// the 256 consumer threads arrive at, instead of a CTA-wide barrier after every tile.
template <int STAGES, bool PRODUCER>
struct WgmmaCfg {
  static constexpr int M = 64, KEYS = 32, kConsumers = 256;
  static constexpr int kThreads = kConsumers + (PRODUCER ? 128 : 0);
  static constexpr int kAtoms = kFastD / 64;                // 128-byte column atoms of a row
  static constexpr int kQAtomBytes = M * 128;               // one atom of Q: 64 rows
  static constexpr int kKAtomBytes = KEYS * 128;            // one atom of a key tile: 32 rows
  static constexpr int kStageBytes = kAtoms * kKAtomBytes;  // 36 KB
  static constexpr int kExchange = 16 * 128;                // floats of one warpgroup's S
  static constexpr int kVCols = kFastR / 2;                 // V columns per warpgroup
  // One partial S per warpgroup; with the producer warp two sets, by tile parity (no CTA-wide
  // barrier per tile then keeps a fast warpgroup from overwriting a set still being read).
  static constexpr int kExchangeBuffers = PRODUCER ? 4 : 2;
  // Shared memory: 1024 for aligning the swizzle atoms, Q, the key stages, the partial S
  // buffers, the mbarriers (full and, with the producer, empty).
  static constexpr size_t kSmem = 1024 + kAtoms * kQAtomBytes + STAGES * kStageBytes +
                                  kExchangeBuffers * kExchange * sizeof(float) +
                                  2 * STAGES * sizeof(uint64_t);
  static_assert(kSmem <= 227 * 1024, "shared memory of one CTA");
  static_assert(kAtoms == 9 && kVCols == 256, "the instruction shapes below");
  static_assert((128 + 2 * 2) * kConsumers * sizeof(float) <=
                    kAtoms * kQAtomBytes + STAGES * kStageBytes,
                "cluster_merge's O, max and sum fit over Q and the stages");
};

// cache_map: the cache as a [blocks * 64, 576] bf16 matrix in boxes of 32 rows x 64 values,
// 128-byte swizzled. cta_rows (<= 64): the query rows a CTA takes; the rest of the 64 MMA rows
// are zeros (16-head tokens; 64-head tokens in two CTAs of 32 rows when that fills the GPU
// without KV splits, the second CTA finding the key tiles in L2).
template <int STAGES, bool PRODUCER>
__global__ void __launch_bounds__(WgmmaCfg<STAGES, PRODUCER>::kThreads, 1)
    mla_decode_wgmma_kernel(const __grid_constant__ CUtensorMap cache_map, DecodeArgs a,
                            int cta_rows, bool clustered) {
  using C = WgmmaCfg<STAGES, PRODUCER>;
  constexpr int M = C::M, KEYS = C::KEYS;
  extern __shared__ unsigned char smem_raw[];
  DecodeBlock blk;
  if (!blk.init(a, cta_rows, KEYS)) return;
  const int n_tiles = blk.n_tiles();
  // Aligned by an offset from smem_raw (not through an integer), so that the compiler still
  // knows the pointers are shared memory and emits shared loads and stores.
  unsigned char* qs = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);  // [9][64][128 B]
  unsigned char* ks = qs + C::kAtoms * C::kQAtomBytes;  // [STAGES][9][32 keys][128 B]
  // [kExchangeBuffers][16][128 threads]
  float* xs = reinterpret_cast<float*>(ks + STAGES * C::kStageBytes);
  uint64_t* full = reinterpret_cast<uint64_t*>(xs + C::kExchangeBuffers * C::kExchange);
  uint64_t* empty = full + STAGES;  // producer only: the consumers are done with a stage

  // wg through a shuffle: the compiler then knows it is the same in the whole warp, and keeps
  // the wgmma descriptors built from it in uniform registers.
  const int tid = threadIdx.x, wg = __shfl_sync(0xffffffffu, tid / 128, 0), wt = tid % 128;
  const int warp = wt / 32;
  const int lane = tid % 32, g = lane / 4, t4 = lane % 4;

  // Thread 0 loads tile i into stage i % STAGES: nine boxes, one per column atom.
  const int32_t* bt = a.block_table + blk.s * a.ld_bt;
  auto load_tile = [&](int i) {
    const int stage = i % STAGES, j0 = (blk.tile_begin + i) * KEYS;
    load_key_tile_sw128(&cache_map, ks + stage * C::kStageBytes, bt[j0 / 64] * 64 + j0 % 64, KEYS,
                        full + stage);
  };
  // Thread 0 sets up the mbarriers and (without the producer) starts the first tiles before
  // Q is read: they do not depend on it.
  if (tid == 0) {
    for (int st = 0; st < STAGES; ++st) {
      mbar_init(full + st, 1);
      if (PRODUCER) mbar_init(empty + st, C::kConsumers);
    }
    fence_async_shared();
    if (!PRODUCER)
      for (int i = 0; i < min(STAGES, n_tiles); ++i) load_tile(i);
  }
  load_q_sw128(a, blk, qs, M, cta_rows);
  cp_async_commit();
  cp_async_wait<0>();
  fence_async_shared();  // Q and the mbarrier inits, for TMA and wgmma (the async proxy)
  __syncthreads();

  if constexpr (PRODUCER) {
    if (tid >= C::kConsumers) {
      setmaxnreg_dec<24>();
      // Tile i reuses the stage of tile i - STAGES once all consumers have arrived for it.
      if (tid == C::kConsumers)
        for (int i = 0; i < n_tiles; ++i) {
          if (i >= STAGES) mbar_wait(empty + i % STAGES, (i / STAGES - 1) & 1);
          load_tile(i);
        }
      return;
    }
    setmaxnreg_inc<240>();
  }

  // Keys visible to rows g and g + 8 of this warp: position + 1. Rows past the last are zeros
  // whose output is never stored; they are left unmasked (S = 0 there, nothing overflows).
  int limit[2];
  bool real[2];  // a query row of this CTA
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = warp * 16 + g + 8 * h, p = blk.m0 + row;
    real[h] = row < cta_rows && p < blk.rows;
    limit[h] = real[h] ? a.positions[blk.q0 + p / a.heads] + 1 : INT_MAX;
  }
  const int limit_min = min(limit[0], limit[1]);
  const float scale_log2 = a.scale * 1.4426950408889634f;  // softmax in base 2
  float o[128];  // rows g, g + 8 of this warp x this warpgroup's 256 V columns
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};

  // Tile i's stage: waited for, and a last, partial tile's rows past the sequence end zeroed.
  // Then this warpgroup's half of S = Q K^T starts into `acc`: atoms 4wg..4wg+3, then
  // k16 steps 2wg, 2wg + 1 of atom 8. Descriptors are a base per operand plus compile-time
  // offsets (16-byte units; the 14-bit address field cannot carry below 256 KB).
  auto start_s = [&](int i, float(&acc)[16]) {
    const int stage = i % STAGES, j_tile = (blk.tile_begin + i) * KEYS;
    unsigned char* kt = ks + stage * C::kStageBytes;
    mbar_wait(full + stage, (i / STAGES) & 1);
    if (const int n = blk.L - j_tile; n < KEYS) {
      zero_key_rows_sw128(kt, n, KEYS, tid, C::kConsumers);
      fence_proxy_async();
      named_barrier(3, C::kConsumers);
    }
#pragma unroll
    for (int e = 0; e < 16; ++e) acc[e] = 0.0f;
    const uint64_t qa = wgmma_desc_sw128(qs + 4 * wg * C::kQAtomBytes, 16, 1024);
    const uint64_t ka = wgmma_desc_sw128(kt + 4 * wg * C::kKAtomBytes, 16, 1024);
    const uint64_t q8 = wgmma_desc_sw128(qs + 8 * C::kQAtomBytes + 64 * wg, 16, 1024);
    const uint64_t k8 = wgmma_desc_sw128(kt + 8 * C::kKAtomBytes + 64 * wg, 16, 1024);
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < 16; ++k)
      wgmma_m64n32k16_ss(acc, qa + (k / 4 * C::kQAtomBytes + k % 4 * 32) / 16,
                         ka + (k / 4 * C::kKAtomBytes + k % 4 * 32) / 16, k > 0);
    wgmma_m64n32k16_ss(acc, q8, k8, true);
    wgmma_m64n32k16_ss(acc, q8 + 2, k8 + 2, true);
    wgmma_commit();
  };

  // The two partial S of tile i meet: both warpgroups end with the same sum in sc.
  auto exchange_s = [&](int i, float(&sc)[16]) {
    const int set = PRODUCER ? 2 * (i & 1) : 0;
    float* own = xs + (set + wg) * C::kExchange + wt;
    const float* other = xs + (set + 1 - wg) * C::kExchange + wt;
#pragma unroll
    for (int e = 0; e < 16; ++e) own[e * 128] = sc[e];
    named_barrier(1, C::kConsumers);
#pragma unroll
    for (int e = 0; e < 16; ++e) sc[e] += other[e * 128];
  };

  // Online softmax of tile i, in base 2: sc[4n + e] is row g + 8 (e >> 1), key j_tile + 8n +
  // 2 t4 + (e & 1); a row's four lanes (t4) meet by shuffles. Masked only where some key of
  // the tile is past a row's limit. P (bf16) goes to pa as the A fragments of keys 0-15 and
  // 16-31; alpha: the rescale of the rows' earlier O.
  auto softmax = [&](int i, float(&sc)[16], uint32_t(&pa)[2][4], float(&alpha)[2]) {
    const int j_tile = (blk.tile_begin + i) * KEYS;
    float mx[2] = {-INFINITY, -INFINITY};
    if (j_tile + KEYS <= limit_min) {
#pragma unroll
      for (int e = 0; e < 16; ++e) {
        sc[e] *= scale_log2;
        mx[(e >> 1) & 1] = fmaxf(mx[(e >> 1) & 1], sc[e]);
      }
    } else {
#pragma unroll
      for (int e = 0; e < 16; ++e) {
        const int h = (e >> 1) & 1, j = j_tile + (e >> 2) * 8 + 2 * t4 + (e & 1);
        sc[e] = j < limit[h] ? sc[e] * scale_log2 : -INFINITY;
        mx[h] = fmaxf(mx[h], sc[e]);
      }
    }
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(m_run[h], mx[h]);
      alpha[h] = m_new == -INFINITY ? 1.0f : fast_exp2(m_run[h] - m_new);
      m_run[h] = m_new;
    }
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      const int h = (e >> 1) & 1;
      sc[e] = m_run[h] == -INFINITY ? 0.0f : fast_exp2(sc[e] - m_run[h]);
      sum[h] += sc[e];
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
      l_run[h] = l_run[h] * alpha[h] + sum[h];
    }
#pragma unroll
    for (int kb = 0; kb < 2; ++kb)
#pragma unroll
      for (int q = 0; q < 4; ++q) pa[kb][q] = pack_bf16(sc[8 * kb + 2 * q], sc[8 * kb + 2 * q + 1]);
  };

  // O = alpha O + P V of tile i (the rescale only where a row's max moved: after the first
  // tiles, rarely). V is the stage's atoms 4wg..4wg+3 read MN-major (atoms 4 KB apart, 8-key
  // groups 1 KB apart). P is packed before the fence: a register written between two wgmma
  // makes ptxas serialise them.
  auto start_pv = [&](int i, const uint32_t(&pa)[2][4], const float(&alpha)[2]) {
    if (!__all_sync(0xffffffffu, alpha[0] == 1.0f && alpha[1] == 1.0f)) {
#pragma unroll
      for (int e = 0; e < 128; ++e) o[e] *= alpha[(e >> 1) & 1];
    }
    const unsigned char* kt = ks + i % STAGES * C::kStageBytes;
    wgmma_fence();
#pragma unroll
    for (int kb = 0; kb < 2; ++kb) {
      const uint64_t dv =
          wgmma_desc_sw128(kt + 4 * wg * C::kKAtomBytes + kb * 16 * 128, C::kKAtomBytes, 1024);
      wgmma_m64n256k16_rs_bt(o, pa[kb], dv);
    }
    wgmma_commit();
  };

  for (int i = 0; i < n_tiles; ++i) {
    float sc[16], alpha[2];
    uint32_t pa[2][4];
    start_s(i, sc);
    wgmma_wait<0>();
    wgmma_hold(sc);
    exchange_s(i, sc);
    softmax(i, sc, pa, alpha);
    start_pv(i, pa, alpha);
    wgmma_wait<0>();
    wgmma_hold(o);
    if constexpr (PRODUCER) {
      mbar_arrive(empty + i % STAGES);
    } else {
      __syncthreads();  // the stage and the partial S buffers are free
      if (tid == 0 && i + STAGES < n_tiles) load_tile(i + STAGES);
    }
  }

  // clustered: the splits merge into rank 0 (through Q and the stages, free now).
  if constexpr (!PRODUCER) {
    if (clustered && !cluster_merge(reinterpret_cast<float*>(qs), C::kThreads, o, m_run, l_run,
                                    [](int e) { return e >> 1 & 1; }))
      return;
  }
  // Output, normalised: straight to o_lat without splits, else the partial output and its LSE.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int p = blk.m0 + warp * 16 + g + 8 * h;
    if (!real[h]) continue;
    const float inv = l_run[h] > 0.0f ? 1.0f / l_run[h] : 0.0f;  // l_run: sum of 2^(s - m)
    const int t = blk.q0 + p / a.heads, head = p % a.heads;
#pragma unroll
    for (int n = 0; n < 32; ++n)
      store_output_pair(a, kFastR, blk.part_row, p, t, head, wg * C::kVCols + n * 8 + 2 * t4,
                        o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv, clustered);
    if (a.splits > 1 && !clustered && wg == 0 && t4 == 0)
      a.part_lse[blk.part_row + p] = lse_from_base2(m_run[h], l_run[h]);
  }
}

}  // namespace duet::cuda::mla
