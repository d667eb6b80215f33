// MLA decode attention on the DeepSeek-V3 latent layout (512 + 64) for CTAs of at most 16
// query rows (a 16-head token: Moonlight), with the products transposed so that the 64 MMA
// rows of a wgmma are keys, not query rows: S^T = K Q^T (m64n16k16, K from the stage, Q from
// shared memory) and O^T += V^T P^T (m64n16k16 per 64 V columns, V read MN-major from the
// same stage, P^T written to shared memory by the softmax). mla_decode_wgmma.cuh pads 16 rows
// to 64, so three quarters of its tensor-core work and operand reads are spent on zero rows;
// here none are.
//
// One warpgroup per CTA; 64-key tiles (one cache block each) arrive as nine TMA boxes of
// 64 x 64 values, 128-byte swizzled, two stages deep; thread 0 refills a stage after the
// barrier that ends the tile it held. The online softmax runs per query row (a column of S^T):
// a row's maximum over the tile meets across the four warps through shared memory; each warp
// keeps its own running sum of P (all warps share the maximum), added up once at the end. The
// output goes through shared memory so that its stores are whole rows; KV splits launched as a
// cluster merge in rank 0 first (cluster_merge).
#pragma once

#include <cuda.h>

#include "backend/cuda/mla_decode_common.cuh"
#include "backend/cuda/wgmma.cuh"

namespace duet::cuda::mla {

struct WgmmaTCfg {
  static constexpr int N = 16, KEYS = 64, STAGES = 2, kThreads = 128;
  static constexpr int kAtoms = kFastD / 64;                // 128-byte column atoms of a row
  static constexpr int kQAtomBytes = N * 128;               // one atom of Q: 16 rows
  static constexpr int kKAtomBytes = KEYS * 128;            // one atom of a key tile: 64 rows
  static constexpr int kStageBytes = kAtoms * kKAtomBytes;  // 72 KB
  static constexpr int kPBytes = N * KEYS * 2;              // P^T: 16 rows of 64 keys, bf16
  static constexpr int kVTiles = kFastR / 64;               // m64 tiles of O^T
  // Shared memory: alignment, Q, stages, P^T, row maxima of the warps (two sets by tile
  // parity), mbarriers. The output goes through stage 0 after the last tile.
  static constexpr size_t kSmem = 1024 + kAtoms * kQAtomBytes + STAGES * kStageBytes + kPBytes +
                                  2 * 4 * N * sizeof(float) + STAGES * sizeof(uint64_t);
  static_assert(kSmem <= 227 * 1024, "shared memory of one CTA");
  static_assert(N * kFastR * sizeof(float) <= kStageBytes, "output staging in stage 0");
  static_assert((kVTiles * 8 + 2 * 4) * kThreads * sizeof(float) <= kStageBytes,
                "cluster_merge's O, max and sum fit in stage 1");
};

// cache_map: the cache as a [blocks * 64, 576] bf16 matrix in boxes of 64 rows x 64 values,
// 128-byte swizzled.
// LOAD_ONLY (benchmark only, wrong results): the tile stream without the products, the
// ceiling of this pipeline.
template <bool LOAD_ONLY>
__global__ void __launch_bounds__(WgmmaTCfg::kThreads, 1)
    mla_decode_wgmma_t_kernel(const __grid_constant__ CUtensorMap cache_map, DecodeArgs a,
                              bool clustered) {
  using C = WgmmaTCfg;
  constexpr int N = C::N, KEYS = C::KEYS, STAGES = C::STAGES;
  extern __shared__ unsigned char smem_raw[];
  DecodeBlock blk;
  if (!blk.init(a, N, KEYS)) return;
  const int n_tiles = blk.n_tiles();
  unsigned char* qs = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);  // [9][16][128]
  unsigned char* ks = qs + C::kAtoms * C::kQAtomBytes;     // [STAGES][9][64 keys][128 B]
  unsigned char* ps = ks + STAGES * C::kStageBytes;        // P^T [16 rows][64 keys], swizzled
  float* red = reinterpret_cast<float*>(ps + C::kPBytes);  // [2][4 warps][16 rows]
  uint64_t* full = reinterpret_cast<uint64_t*>(red + 2 * 4 * N);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int32_t* bt = a.block_table + blk.s * a.ld_bt;
  // Thread 0 loads tile i (cache block i of the split) into stage i % STAGES.
  auto load_tile = [&](int i) {
    const int stage = i % STAGES;
    load_key_tile_sw128(&cache_map, ks + stage * C::kStageBytes, bt[blk.tile_begin + i] * KEYS,
                        KEYS, full + stage);
  };
  // The first tiles start before Q is read (they do not depend on it): thread 0 sets up the
  // mbarriers, makes them visible to the copy engine and issues the loads.
  if (tid == 0) {
    for (int st = 0; st < STAGES; ++st) mbar_init(full + st, 1);
    fence_async_shared();
    for (int i = 0; i < min(STAGES, n_tiles); ++i) load_tile(i);
  }
  load_q_sw128(a, blk, qs, N, N);
  cp_async_commit();
  cp_async_wait<0>();
  fence_async_shared();  // Q and the mbarrier inits, for TMA and wgmma (the async proxy)
  __syncthreads();

  // This thread's four query rows (columns of S^T and O^T): 2t4, 2t4 + 1, 8 + 2t4, 9 + 2t4;
  // accumulator d[2 (j & 2) + (j & 1) + 2 u] is row r[j] and key (or V column) 16 warp + g +
  // 8u of its m64 tile. Rows past the last are zeros, never stored, left unmasked.
  int r[4], limit[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    r[j] = (j >> 1) * 8 + 2 * t4 + (j & 1);
    const int p = blk.m0 + r[j];
    limit[j] = p < blk.rows ? a.positions[blk.q0 + p / a.heads] + 1 : INT_MAX;
  }
  const int limit_min = min(min(limit[0], limit[1]), min(limit[2], limit[3]));
  auto acc = [](int j, int u) { return 2 * (j & 2) + (j & 1) + 2 * u; };
  const float scale_log2 = a.scale * 1.4426950408889634f;  // softmax in base 2
  float o[C::kVTiles][8];  // O^T: V columns 64 vt + 16 warp + g (+ 8) x this thread's rows
#pragma unroll
  for (int vt = 0; vt < C::kVTiles; ++vt)
#pragma unroll
    for (int e = 0; e < 8; ++e) o[vt][e] = 0.0f;
  float m_run[4], l_warp[4];  // per row: running max (shared by the warps), this warp's sum
#pragma unroll
  for (int j = 0; j < 4; ++j) m_run[j] = -INFINITY, l_warp[j] = 0.0f;

  for (int i = 0; i < n_tiles; ++i) {
    const int stage = i % STAGES, j_tile = (blk.tile_begin + i) * KEYS;
    unsigned char* kt = ks + stage * C::kStageBytes;
    mbar_wait(full + stage, (i / STAGES) & 1);
    if constexpr (LOAD_ONLY) {
      __syncthreads();
      if (tid == 0 && i + STAGES < n_tiles) load_tile(i + STAGES);
      continue;
    }
    if (const int n = blk.L - j_tile; n < KEYS) {  // a last, partial tile
      zero_key_rows_sw128(kt, n, KEYS, tid, C::kThreads);
      fence_proxy_async();
      __syncthreads();
    }

    // S^T [64 keys x 16 rows] over the 36 k16 steps.
    float s[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) s[e] = 0.0f;
    const uint64_t ka = wgmma_desc_sw128(kt, 16, 1024);
    const uint64_t qa = wgmma_desc_sw128(qs, 16, 1024);
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < kFastKSteps; ++k)
      wgmma_m64n16k16_ss<false>(s, ka + (k / 4 * C::kKAtomBytes + k % 4 * 32) / 16,
                                qa + (k / 4 * C::kQAtomBytes + k % 4 * 32) / 16, k > 0);
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_hold(s);

    // Scale (base 2), mask, and each row's maximum over this warp's 16 keys (lanes g).
    float mx[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      mx[j] = -INFINITY;
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        float& x = s[acc(j, u)];
        const int key = j_tile + warp * 16 + g + 8 * u;
        x = j_tile + KEYS <= limit_min || key < limit[j] ? x * scale_log2 : -INFINITY;
        mx[j] = fmaxf(mx[j], x);
      }
#pragma unroll
      for (int off = 4; off < 32; off <<= 1)
        mx[j] = fmaxf(mx[j], __shfl_xor_sync(0xffffffffu, mx[j], off));
    }
    // The four warps' maxima meet in shared memory (two sets by tile parity: the barrier of
    // the next tile orders a set's reuse after its reads).
    float* rset = red + (i & 1) * 4 * N;
    if (g == 0)
#pragma unroll
      for (int j = 0; j < 4; ++j) rset[warp * N + r[j]] = mx[j];
    __syncthreads();
    float alpha[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float tile_max = rset[r[j]];
#pragma unroll
      for (int w = 1; w < 4; ++w) tile_max = fmaxf(tile_max, rset[w * N + r[j]]);
      const float m_new = fmaxf(m_run[j], tile_max);
      alpha[j] = m_new == -INFINITY ? 1.0f : fast_exp2(m_run[j] - m_new);
      m_run[j] = m_new;
    }
    // P^T to shared memory as the K-major B operand: row r, key k at byte 2k of the row's 128,
    // 16-byte chunks swizzled by r % 8. This warp's partial row sums.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float sum = 0.0f;
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const float x = s[acc(j, u)];
        const float pv = m_run[j] == -INFINITY ? 0.0f : fast_exp2(x - m_run[j]);
        const int key = warp * 16 + g + 8 * u;
        reinterpret_cast<bf16*>(ps + r[j] * 128 + ((key / 8) ^ (r[j] % 8)) * 16)[key % 8] =
            __float2bfloat16_rn(pv);
        sum += pv;
      }
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      l_warp[j] = l_warp[j] * alpha[j] + sum;
    }
    fence_proxy_async();  // P^T, written by the generic proxy, read by wgmma
    __syncthreads();

    // O^T = alpha O^T + V^T P^T: per 64 V columns (an atom of the stage, read MN-major: 8-key
    // groups 1 KB apart) and 16 keys (32 bytes of a P^T row).
    if (!__all_sync(0xffffffffu,
                    alpha[0] == 1.0f && alpha[1] == 1.0f && alpha[2] == 1.0f && alpha[3] == 1.0f)) {
#pragma unroll
      for (int vt = 0; vt < C::kVTiles; ++vt)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          o[vt][acc(j, 0)] *= alpha[j];
          o[vt][acc(j, 1)] *= alpha[j];
        }
    }
    const uint64_t va = wgmma_desc_sw128(kt, C::kKAtomBytes, 1024);
    const uint64_t pb = wgmma_desc_sw128(ps, 16, 1024);
    wgmma_fence();
#pragma unroll
    for (int vt = 0; vt < C::kVTiles; ++vt)
#pragma unroll
      for (int k = 0; k < KEYS / 16; ++k)
        wgmma_m64n16k16_ss<true>(o[vt], va + (vt * C::kKAtomBytes + k * 16 * 128) / 16,
                                 pb + k * 32 / 16, true);
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int vt = 0; vt < C::kVTiles; ++vt) wgmma_hold(o[vt]);
    __syncthreads();  // the stage and P^T are free
    if (tid == 0 && i + STAGES < n_tiles) load_tile(i + STAGES);
  }

  // Row sums over the warps, then O^T / l through stage 0 ([16 rows][512] f32) so that the
  // stores to o_lat or part_o are whole rows.
  float* rsum = red;  // [4 warps][16 rows]; every read of red ended at the last barrier
  if (g == 0)
#pragma unroll
    for (int j = 0; j < 4; ++j) rsum[warp * N + r[j]] = l_warp[j];
  __syncthreads();
  float l[4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
    l[j] = rsum[r[j]] + rsum[N + r[j]] + rsum[2 * N + r[j]] + rsum[3 * N + r[j]];
  // clustered: the splits merge into rank 0 (through stage 1; stage 0 stages the output).
  if (clustered && !cluster_merge(reinterpret_cast<float*>(ks + C::kStageBytes), C::kThreads,
                                  reinterpret_cast<float(&)[C::kVTiles * 8]>(o), m_run, l,
                                  [](int e) { return (e % 8 >> 1 & 2) | (e & 1); }))
    return;
  float* ob = reinterpret_cast<float*>(ks);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float inv = l[j] > 0.0f ? 1.0f / l[j] : 0.0f;
#pragma unroll
    for (int vt = 0; vt < C::kVTiles; ++vt)
#pragma unroll
      for (int u = 0; u < 2; ++u)
        ob[r[j] * kFastR + vt * 64 + warp * 16 + g + 8 * u] = o[vt][acc(j, u)] * inv;
    if (a.splits > 1 && !clustered && warp == 0 && g == 0) {
      const int p = blk.m0 + r[j];
      if (p < blk.rows) a.part_lse[blk.part_row + p] = lse_from_base2(m_run[j], l[j]);
    }
  }
  __syncthreads();
  for (int c = tid; c < N * kFastR / 2; c += C::kThreads) {
    const int row = c / (kFastR / 2), col = c % (kFastR / 2) * 2, p = blk.m0 + row;
    if (p >= blk.rows) continue;
    const float2 x = *reinterpret_cast<const float2*>(ob + row * kFastR + col);
    store_output_pair(a, kFastR, blk.part_row, p, blk.q0 + p / a.heads, p % a.heads, col, x.x, x.y,
                      clustered);
  }
}

}  // namespace duet::cuda::mla
