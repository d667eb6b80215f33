// MLA decode attention on the DeepSeek-V3 latent layout (512 + 64), FlashAttention-2 style:
// softmax and P stay in registers, and a key tile passes one CTA-wide barrier (after which
// warp 0 refills the tile's stage) instead of the four of mla_decode_fast.cuh. The warps are
// laid out as RG row groups x KW k-slices:
// - row group rg owns query rows 16rg..16rg+15 of the CTA;
// - each of its KW warps computes S = Q K^T for those rows over 1/KW of the 576-long dot
//   products; the slices meet through shared memory at a named barrier of the KW warps, summed
//   in slice order by every warp, so all hold the same S. Each then runs the online softmax in
//   registers and keeps O for 512/KW of the V columns, P going from the S accumulators straight
//   into the A fragments of P V.
// 32-key tiles arrive by bulk copies into STAGES stages, each with an mbarrier for the bytes
// landed; every thread waits for tile i + 1 before the barrier that ends tile i.
// Tried on the way (H100, B 64, L 2048, kernel + combine; mla_decode.cu has the defaults):
// - a ninth, loading-only warp: 116-123 us at 64 heads (this layout 118) although it caps the
//   registers at 168 (three warps then share a scheduler's register file), and with four
//   warps at 16 heads 74 us against 83 for this layout (B 128, L 1024: 66 against 77). Its
//   stage hand-over, by a second mbarrier, by a named barrier or by __syncthreads, was each
//   time reported by compute-sanitizer racecheck as races between the loader's bulk copies and
//   the reads (the results stayed exact), so it is not used;
// - without any CTA-wide barrier, warp 0 or the last warp to release a stage refilling it:
//   124-127 us at 64 heads.
#pragma once

#include "backend/cuda/mla_decode_fast.cuh"

namespace duet::cuda::mla {

template <int RG, int KW, int STAGES>
struct WarpsCfg {
  static constexpr int M = 16 * RG, KEYS = 32;
  static constexpr int kWarpCount = RG * KW, kThreads = 32 * kWarpCount;
  static constexpr int KSTEPS = kFastKSteps / KW;  // k16 steps of each warp's slice of S
  static constexpr int VCOLS = kFastR / KW;        // V columns of O per warp
  static constexpr int kExchange = 16 * 32;        // floats of one warp's partial S (16 x 32)
  static_assert(RG < 16, "named barriers 1 + row group");
  static_assert(kFastKSteps % KW == 0 && VCOLS % 16 == 0, "k slices");
  // Shared memory: key stages, Q, the partial S of every warp, mbarriers.
  static constexpr size_t kSmem = static_cast<size_t>(STAGES * KEYS + M) * kFastStride * 2 +
                                  kWarpCount * kExchange * sizeof(float) +
                                  STAGES * sizeof(uint64_t);
  static_assert(kSmem <= 227 * 1024, "shared memory of one CTA");
};

template <int RG, int KW, int STAGES>
__global__ void __launch_bounds__(WarpsCfg<RG, KW, STAGES>::kThreads, 1)
    mla_decode_warps_kernel(DecodeArgs a) {
  using C = WarpsCfg<RG, KW, STAGES>;
  constexpr int KEYS = C::KEYS, M = C::M, NV = C::VCOLS / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  DecodeBlock blk;
  if (!blk.init(a, M, KEYS)) return;
  const int s = blk.s, m0 = blk.m0, q0 = blk.q0, rows = blk.rows;
  bf16* ks = reinterpret_cast<bf16*>(smem_raw);                // [STAGES][KEYS][kFastStride]
  bf16* qs = ks + STAGES * KEYS * kFastStride;                 // [M][kFastStride]
  float* xs = reinterpret_cast<float*>(qs + M * kFastStride);  // [warps][16 values][32 lanes]
  uint64_t* full = reinterpret_cast<uint64_t*>(xs + C::kWarpCount * C::kExchange);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int L = blk.L, tiles = blk.tiles, tile_begin = blk.tile_begin, n_tiles = blk.n_tiles();
  const size_t part_row = blk.part_row;

  // The stage rows a last, partial tile leaves uncopied must hold finite values (P = 0 times
  // them adds nothing; fresh shared memory may hold NaN bits): zeros, unless an earlier full
  // tile of this split passes through that stage first (zeroing all stages cost 1.3 us at
  // B 1).
  if (const int tail = L % KEYS; tail != 0 && n_tiles > 0 && tile_begin + n_tiles == tiles) {
    bf16* dst = ks + (n_tiles - 1) % STAGES * KEYS * kFastStride;
    for (int c = tid; c < (KEYS - tail) * kFastChunks; c += C::kThreads)
      *reinterpret_cast<uint4*>(dst + (tail + c / kFastChunks) * kFastStride +
                                c % kFastChunks * 8) = make_uint4(0, 0, 0, 0);
  }
  if (tid < STAGES) mbar_init(full + tid, 1);
  // Query rows [q_lat (512) | q_rope (64)] of (token, head) = divmod(m0 + row, heads), zero
  // past the last row; 16-byte chunks, asynchronous where aligned.
  for (int i = tid; i < M * kFastChunks; i += C::kThreads) {
    const int row = i / kFastChunks, col = i % kFastChunks * 8, p = m0 + row;
    bf16* dst = qs + row * kFastStride + col;
    if (p >= rows) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const int t = q0 + p / a.heads, h = p % a.heads;
    const bf16* src = q_value(a, t, h, col);
    copy_q8(dst, src);
  }
  cp_async_commit();
  cp_async_wait<0>();
  fence_async_shared();
  __syncthreads();  // Q and mbarriers ready

  // Warp 0 issues the bulk copies: tile i into stage i % STAGES.
  const int32_t* bt = a.block_table + s * a.ld_bt;
  auto load_tile = [&](int i) {
    const int stage = i % STAGES;
    const int j0 = (tile_begin + i) * KEYS, n = min(KEYS, L - j0);
    const bf16* base = a.cache + (static_cast<int64_t>(bt[j0 / 64]) * 64 + j0 % 64) * a.ld_cache;
    if (lane == 0) mbar_arrive_expect_tx(full + stage, n * kFastD * sizeof(bf16));
    __syncwarp();
    if (lane < n)
      bulk_copy_g2s(ks + (stage * KEYS + lane) * kFastStride, base + lane * a.ld_cache,
                    kFastD * sizeof(bf16), full + stage);
  };
  if (warp == 0)
    for (int i = 0; i < min(STAGES, n_tiles); ++i) load_tile(i);

  const int kw = warp % KW, rg = warp / KW;
  const int group_warp0 = warp - kw;  // first warp of this row group
  int limit[2];  // keys visible to rows g and g + 8 of the row group (position + 1; 0: no row)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int p = m0 + rg * 16 + g + 8 * h;
    limit[h] = p < rows ? a.positions[q0 + p / a.heads] + 1 : 0;
  }
  float o[NV][4];  // rows g, g + 8 x this warp's V columns
#pragma unroll
  for (int n = 0; n < NV; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  // ldmatrix rows: A (Q) rows lane & 15, k half lane >> 4; B (K) keys (lane & 7) + 8 (lane >> 4),
  // k half (lane >> 3) & 1; this warp's slice of the k steps.
  const bf16* qb =
      qs + (rg * 16 + (lane & 15)) * kFastStride + (lane >> 4) * 8 + kw * C::KSTEPS * 16;
  const int kb_off =
      ((lane & 7) + (lane >> 4) * 8) * kFastStride + ((lane >> 3) & 1) * 8 + kw * C::KSTEPS * 16;

  // A tile's landing (its mbarrier) is waited for before the CTA-wide barrier that also frees
  // the previous tile's stage, after which warp 0 refills that stage.
  if (n_tiles > 0) mbar_wait(full, 0);
  __syncthreads();
  for (int i = 0; i < n_tiles; ++i) {
    const int stage = i % STAGES, j_tile = (tile_begin + i) * KEYS;
    const bf16* kt = ks + stage * KEYS * kFastStride;

    // This warp's slice of S (16 rows x 32 keys).
    float sc[4][4];
#pragma unroll
    for (int n = 0; n < 4; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sc[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < C::KSTEPS; ++kk) {
      uint32_t af[4], b0[4], b1[4];
      ldmatrix_x4(af, qb + kk * 16);
      ldmatrix_x4(b0, kt + kb_off + kk * 16);
      ldmatrix_x4(b1, kt + kb_off + 16 * kFastStride + kk * 16);
      mma_bf16(sc[0], af, b0[0], b0[1]);
      mma_bf16(sc[1], af, b0[2], b0[3]);
      mma_bf16(sc[2], af, b1[0], b1[1]);
      mma_bf16(sc[3], af, b1[2], b1[3]);
    }
    // Sum the slices in slice order: same fragment layout, so lane reads lane (the previous
    // tile's reads of the buffers ended at its closing barrier).
    {
      // Value (n, e) of warp w's partial S, where its lane finds it.
      auto slot = [&](int w, int n, int e) -> float& {
        return xs[w * C::kExchange + (n * 4 + e) * 32 + lane];
      };
#pragma unroll
      for (int n = 0; n < 4; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) slot(warp, n, e) = sc[n][e];
      named_barrier(1 + rg, 32 * KW);
#pragma unroll
      for (int n = 0; n < 4; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = kw == 0 ? sc[n][e] : slot(group_warp0, n, e);
#pragma unroll
          for (int j = 1; j < KW; ++j) x += j == kw ? sc[n][e] : slot(group_warp0 + j, n, e);
          sc[n][e] = x;
        }
    }

    // Online softmax in registers: element e of n-tile n is row g + 8 (e >> 1), key
    // j_tile + 8n + 2 t4 + (e & 1); a row's four lanes (t4) meet by shuffles.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < 4; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1, j = j_tile + n * 8 + 2 * t4 + (e & 1);
        sc[n][e] = j < limit[h] ? sc[n][e] * a.scale : -INFINITY;
        mx[h] = fmaxf(mx[h], sc[n][e]);
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
    for (int n = 0; n < 4; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1;
        sc[n][e] = m_run[h] == -INFINITY ? 0.0f : __expf(sc[n][e] - m_run[h]);
        sum[h] += sc[n][e];
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
      l_run[h] = l_run[h] * alpha[h] + sum[h];
    }
#pragma unroll
    for (int n = 0; n < NV; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }

    // O += P V over this warp's columns; P's A fragments are the S accumulators of key tiles
    // 2kb and 2kb + 1.
#pragma unroll
    for (int kb = 0; kb < KEYS / 16; ++kb) {
      const uint32_t pa[4] = {pack_bf16(sc[2 * kb][0], sc[2 * kb][1]),
                              pack_bf16(sc[2 * kb][2], sc[2 * kb][3]),
                              pack_bf16(sc[2 * kb + 1][0], sc[2 * kb + 1][1]),
                              pack_bf16(sc[2 * kb + 1][2], sc[2 * kb + 1][3])};
      const bf16* vb = kt + (kb * 16 + (lane & 15)) * kFastStride + kw * C::VCOLS + (lane >> 4) * 8;
#pragma unroll
      for (int c = 0; c < C::VCOLS / 16; ++c) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, vb + c * 16);
        mma_bf16(o[2 * c], pa, b[0], b[1]);
        mma_bf16(o[2 * c + 1], pa, b[2], b[3]);
      }
    }
    if (i + 1 < n_tiles) mbar_wait(full + (i + 1) % STAGES, ((i + 1) / STAGES) & 1);
    __syncthreads();  // every warp is done with tile i, and tile i + 1 has landed
    if (warp == 0 && i + STAGES < n_tiles) load_tile(i + STAGES);
  }

  // Output, normalised: straight to o_lat without splits, else the partial output and its LSE.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int p = m0 + rg * 16 + g + 8 * h;
    if (p >= rows) continue;
    const float inv = l_run[h] > 0.0f ? 1.0f / l_run[h] : 0.0f;
    const int t = q0 + p / a.heads, head = p % a.heads;
#pragma unroll
    for (int n = 0; n < NV; ++n)
      store_output_pair(a, kFastR, part_row, p, t, head, kw * C::VCOLS + n * 8 + 2 * t4,
                        o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
    if (a.splits > 1 && kw == 0 && t4 == 0)
      a.part_lse[part_row + p] = l_run[h] > 0.0f ? m_run[h] + logf(l_run[h]) : -INFINITY;
  }
}

}  // namespace duet::cuda::mla
