// MLA decode attention on the DeepSeek-V3 latent layout (512 + 64) with Hopper warpgroup MMAs
// (wgmma.cuh). The mma.sync kernels re-read every key tile through ldmatrix once per 16 query
// rows, and at 64 rows were bound by shared-memory bandwidth (ncu: shared memory 66% busy, DRAM
// 40%); a wgmma reads its 64-row operands once per warpgroup. 16-head tokens run the same
// kernel with their 16 rows padded to 64: the zero rows cost tensor-core time that hides under
// the cache stream, and the bytes read per tile are the same.
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
#pragma once

#include <cuda.h>

#include "backend/cuda/mla_decode_common.cuh"
#include "backend/cuda/wgmma.cuh"

namespace duet::cuda::mla {

template <int STAGES>
struct WgmmaCfg {
  static constexpr int M = 64, KEYS = 32, kThreads = 256;
  static constexpr int kAtoms = kFastD / 64;                 // 128-byte column atoms of a row
  static constexpr int kQAtomBytes = M * 128;                // one atom of Q: 64 rows
  static constexpr int kKAtomBytes = KEYS * 128;             // one atom of a key tile: 32 rows
  static constexpr int kStageBytes = kAtoms * kKAtomBytes;   // 36 KB
  static constexpr int kExchange = 16 * 128;                 // floats of one warpgroup's S
  static constexpr int kVCols = kFastR / 2;                  // V columns per warpgroup
  // Shared memory: 1024 for aligning the swizzle atoms, Q, the key stages, the two partial S,
  // the mbarriers.
  static constexpr size_t kSmem = 1024 + kAtoms * kQAtomBytes + STAGES * kStageBytes +
                                  2 * kExchange * sizeof(float) + STAGES * sizeof(uint64_t);
  static_assert(kSmem <= 227 * 1024, "shared memory of one CTA");
  static_assert(kAtoms == 9 && kVCols == 256, "the instruction shapes below");
};

// cache_map: the cache as a [blocks * 64, 576] bf16 matrix in boxes of 32 rows x 64 values,
// 128-byte swizzled.
template <int STAGES>
__global__ void __launch_bounds__(256, 1)
    mla_decode_wgmma_kernel(const __grid_constant__ CUtensorMap cache_map, DecodeArgs a) {
  using C = WgmmaCfg<STAGES>;
  constexpr int M = C::M, KEYS = C::KEYS;
  extern __shared__ unsigned char smem_raw[];
  DecodeBlock blk;
  if (!blk.init(a, M, KEYS)) return;
  const int n_tiles = blk.n_tiles();
  unsigned char* qs = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(smem_raw) + 1023) / 1024 * 1024);  // [9][64 rows][128 B]
  unsigned char* ks = qs + C::kAtoms * C::kQAtomBytes;  // [STAGES][9][32 keys][128 B]
  float* xs = reinterpret_cast<float*>(ks + STAGES * C::kStageBytes);  // [2][16][128 threads]
  uint64_t* full = reinterpret_cast<uint64_t*>(xs + 2 * C::kExchange);

  const int tid = threadIdx.x, wg = tid / 128, wt = tid % 128, warp = wt / 32;
  const int lane = tid % 32, g = lane / 4, t4 = lane % 4;

  if (tid < STAGES) mbar_init(full + tid, 1);
  // Query rows [q_lat (512) | q_rope (64)] of (token, head) = divmod(m0 + row, heads), zero past
  // the last row, in the swizzled layout: 16-byte chunk c of a row's atom at chunk c ^ (row % 8).
  for (int i = tid; i < M * kFastChunks; i += C::kThreads) {
    const int row = i / kFastChunks, chunk = i % kFastChunks, p = blk.m0 + row;
    unsigned char* dst =
        qs + chunk / 8 * C::kQAtomBytes + row * 128 + ((chunk % 8) ^ (row % 8)) * 16;
    if (p >= blk.rows) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const int t = blk.q0 + p / a.heads, h = p % a.heads, col = chunk * 8;
    const bf16* src = col < kFastR
                          ? a.q_lat + (static_cast<int64_t>(t) * a.heads + h) * kFastR + col
                          : a.q + t * a.ld_q + h * a.qk + a.dn + (col - kFastR);
    if ((reinterpret_cast<uintptr_t>(src) & 15) == 0)
      cp_async16(dst, src, 16);
    else
      for (int e = 0; e < 8; ++e) reinterpret_cast<bf16*>(dst)[e] = src[e];
  }
  cp_async_commit();
  cp_async_wait<0>();
  fence_async_shared();  // Q and the mbarrier inits, for TMA and wgmma (the async proxy)
  __syncthreads();

  // Thread 0 loads tile i into stage i % STAGES: nine boxes, one per column atom.
  const int32_t* bt = a.block_table + blk.s * a.ld_bt;
  auto load_tile = [&](int i) {
    const int stage = i % STAGES, j0 = (blk.tile_begin + i) * KEYS;
    const int row = bt[j0 / 64] * 64 + j0 % 64;
    mbar_arrive_expect_tx(full + stage, C::kStageBytes);
    unsigned char* dst = ks + stage * C::kStageBytes;
#pragma unroll
    for (int at = 0; at < C::kAtoms; ++at)
      tma_load_2d(dst + at * C::kKAtomBytes, &cache_map, at * 64, row, full + stage);
  };
  if (tid == 0)
    for (int i = 0; i < min(STAGES, n_tiles); ++i) load_tile(i);

  int limit[2];  // keys visible to rows g and g + 8 of this warp (position + 1; 0: no row)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int p = blk.m0 + warp * 16 + g + 8 * h;
    limit[h] = p < blk.rows ? a.positions[blk.q0 + p / a.heads] + 1 : 0;
  }
  float o[128];  // rows g, g + 8 of this warp x this warpgroup's 256 V columns
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  float* x_own = xs + wg * C::kExchange + wt;
  const float* x_other = xs + (1 - wg) * C::kExchange + wt;

  for (int i = 0; i < n_tiles; ++i) {
    const int stage = i % STAGES, j_tile = (blk.tile_begin + i) * KEYS;
    unsigned char* kt = ks + stage * C::kStageBytes;
    mbar_wait(full + stage, (i / STAGES) & 1);
    if (const int n = blk.L - j_tile; n < KEYS) {
      // A last, partial tile: the box also brought the block's rows past the sequence end,
      // which may hold anything (NaN times P = 0 is NaN); zero them.
      for (int c = tid; c < C::kAtoms * (KEYS - n) * 8; c += C::kThreads) {
        const int at = c / ((KEYS - n) * 8), rest = c % ((KEYS - n) * 8);
        *reinterpret_cast<uint4*>(kt + at * C::kKAtomBytes + (n + rest / 8) * 128 +
                                  rest % 8 * 16) = make_uint4(0, 0, 0, 0);
      }
      fence_proxy_async();
      __syncthreads();
    }

    // This warpgroup's half of S: atoms 4wg..4wg+3, then k16 steps 2wg, 2wg + 1 of atom 8.
    float sc[16];
#pragma unroll
    for (int e = 0; e < 16; ++e) sc[e] = 0.0f;
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < 18; ++k) {
      const int at = k < 16 ? 4 * wg + k / 4 : 8, sub = k < 16 ? k % 4 : 2 * wg + k - 16;
      const uint64_t da = wgmma_desc_sw128(qs + at * C::kQAtomBytes + sub * 32, 16, 1024);
      const uint64_t db = wgmma_desc_sw128(kt + at * C::kKAtomBytes + sub * 32, 16, 1024);
      wgmma_m64n32k16_ss(sc, da, db, k > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_hold(sc);
#pragma unroll
    for (int e = 0; e < 16; ++e) x_own[e * 128] = sc[e];
    named_barrier(1, C::kThreads);
#pragma unroll
    for (int e = 0; e < 16; ++e) sc[e] += x_other[e * 128];

    // Online softmax: sc[4n + e] is row g + 8 (e >> 1), key j_tile + 8n + 2 t4 + (e & 1); a
    // row's four lanes (t4) meet by shuffles.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      const int h = (e >> 1) & 1, j = j_tile + (e >> 2) * 8 + 2 * t4 + (e & 1);
      sc[e] = j < limit[h] ? sc[e] * a.scale : -INFINITY;
      mx[h] = fmaxf(mx[h], sc[e]);
    }
    float alpha[2], sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(m_run[h], mx[h]);
      alpha[h] = m_new == -INFINITY ? 1.0f : __expf(m_run[h] - m_new);
      m_run[h] = m_new;
    }
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      const int h = (e >> 1) & 1;
      sc[e] = m_run[h] == -INFINITY ? 0.0f : __expf(sc[e] - m_run[h]);
      sum[h] += sc[e];
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
      l_run[h] = l_run[h] * alpha[h] + sum[h];
    }
#pragma unroll
    for (int e = 0; e < 128; ++e) o[e] *= alpha[(e >> 1) & 1];

    // O += P V: keys 16kb..16kb + 15 are S columns 16kb.., i.e. sc[8kb..8kb + 7]; V is the
    // stage's atoms 4wg..4wg+3 read MN-major (atoms 4 KB apart, 8-key groups 1 KB apart).
    // (Both A fragments are packed before the fence: a register written between two wgmma
    // makes ptxas serialise them.)
    uint32_t pa[2][4];
#pragma unroll
    for (int kb = 0; kb < 2; ++kb)
#pragma unroll
      for (int q = 0; q < 4; ++q) pa[kb][q] = pack_bf16(sc[8 * kb + 2 * q], sc[8 * kb + 2 * q + 1]);
    wgmma_fence();
#pragma unroll
    for (int kb = 0; kb < 2; ++kb) {
      const uint64_t dv = wgmma_desc_sw128(kt + 4 * wg * C::kKAtomBytes + kb * 16 * 128,
                                           C::kKAtomBytes, 1024);
      wgmma_m64n256k16_rs_bt(o, pa[kb], dv);
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_hold(o);
    __syncthreads();  // the stage and both partial S are free
    if (tid == 0 && i + STAGES < n_tiles) load_tile(i + STAGES);
  }

  // Output, normalised: straight to o_lat without splits, else the partial output and its LSE.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int p = blk.m0 + warp * 16 + g + 8 * h;
    if (p >= blk.rows) continue;
    const float inv = l_run[h] > 0.0f ? 1.0f / l_run[h] : 0.0f;
    const int t = blk.q0 + p / a.heads, head = p % a.heads;
#pragma unroll
    for (int n = 0; n < 32; ++n)
      store_output_pair(a, kFastR, blk.part_row, p, t, head, wg * C::kVCols + n * 8 + 2 * t4,
                        o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
    if (a.splits > 1 && wg == 0 && t4 == 0)
      a.part_lse[blk.part_row + p] = l_run[h] > 0.0f ? m_run[h] + logf(l_run[h]) : -INFINITY;
  }
}

}  // namespace duet::cuda::mla
