// MLA decode attention specialised for the DeepSeek-V3 latent layout: cache rows of 576 values
// (kv_rank 512 + rope 64), V = the first 512. Every loop has compile-time bounds, so the
// fragment loads (ldmatrix) and mma chains unroll and interleave. Differences from the generic
// kernel (mla_decode_generic.cuh), all measured on H100 against it:
// - S = Q K^T is tiled over the warps as (rows x keys x k-slice) blocks chosen per shape so
//   that each ldmatrix feeds several mma; k-slice partial sums meet in one f32 S tile in
//   shared memory (one tile per slice would not fit) in a chain of named barriers. Shared
//   float atomicAdd for this was 1.2-1.5x slower overall (H100, first version).
// - With 16 query rows each warp keeps its k-slice of Q in registers and three 64-key stages
//   fit; mla_decode.cu still sends 16 rows to the generic kernel, which measured faster.
// - Key tiles arrive by bulk copies (one per 1152-byte cache row, issued by warp 0) on an
//   mbarrier per stage. This did not change the time against cp.async (H100, B 64, L 2048);
//   the loop is latency-bound (ncu: DRAM 56% busy, 0.26 issued warps per scheduler).
#pragma once

#include "backend/cuda/mla_decode_common.cuh"

namespace duet::cuda::mla {

// MT 16-row tiles per CTA; KEYS keys per pipeline stage; each warp's S block is WR 16-row
// tiles x WN 8-key tiles over one of KS k-slices; QREG keeps Q in registers (MT == WR == 1).
template <int MT, int KEYS, int STAGES, int WR, int WN, bool QREG>
struct FastCfg {
  static constexpr int M = 16 * MT, RG = MT / WR, NG = KEYS / (8 * WN);
  static constexpr int KS = kWarps / (RG * NG), KSTEPS = kFastKSteps / KS;
  static constexpr int PS = KEYS + kPad, SS = KEYS + 4;  // P (bf16) and S (f32) row strides
  static constexpr int NACC = WR * WN >= 4 ? 1 : 2;      // accumulator sets: independent chains
  static_assert(MT % WR == 0 && KEYS % (8 * WN) == 0 && WN % 2 == 0, "warp tile");
  static_assert(kWarps % (RG * NG) == 0 && kFastKSteps % KS == 0, "k slices");
  static_assert(64 % KEYS == 0 && STAGES >= 2, "a key tile lies in one cache block");
  static_assert(!QREG || (MT == 1 && WR == 1), "Q in registers: one row tile");
  static_assert(kThreads % M == 0 && KEYS % (kThreads / M) == 0, "softmax threads");
  // Shared memory: key stages, Q (unless in registers), P, S and four per-row values.
  static constexpr size_t kSmem =
      (static_cast<size_t>(STAGES * KEYS) + (QREG ? 0 : M)) * kFastStride * sizeof(bf16) +
      static_cast<size_t>(M) * PS * sizeof(bf16) + static_cast<size_t>(M) * (SS + 4) * 4 +
      STAGES * sizeof(uint64_t);
};

// MINB: CTAs per SM the registers are budgeted for.
template <int MT, int KEYS, int STAGES, int WR, int WN, bool QREG, int MINB = 1>
__global__ void __launch_bounds__(kThreads, MINB) mla_decode_fast_kernel(DecodeArgs a) {
  using C = FastCfg<MT, KEYS, STAGES, WR, WN, QREG>;
  constexpr int M = C::M, PS = C::PS, SS = C::SS, KS = C::KS, KSTEPS = C::KSTEPS;
  constexpr int TPR = kThreads / M, KPT = KEYS / TPR;  // softmax: threads per row, keys each
  extern __shared__ __align__(16) unsigned char smem_raw[];
  DecodeBlock blk;
  if (!blk.init(a, M, KEYS)) return;
  const int s = blk.s, m0 = blk.m0, q0 = blk.q0, rows = blk.rows;
  bf16* ks = reinterpret_cast<bf16*>(smem_raw);       // [STAGES][KEYS][kFastStride]
  bf16* qs = ks + STAGES * KEYS * kFastStride;        // [M][kFastStride], absent with QREG
  bf16* ps = qs + (QREG ? 0 : M * kFastStride);       // [M][PS]
  float* ss = reinterpret_cast<float*>(ps + M * PS);  // [M][SS]
  float* row_m = ss + M * SS;                         // [M]
  float* row_l = row_m + M;
  float* row_alpha = row_l + M;
  int* row_limit = reinterpret_cast<int*>(row_alpha + M);
  uint64_t* full = reinterpret_cast<uint64_t*>(row_limit + M);  // [STAGES]: tile landed

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int L = blk.L;
  const int tile_begin = blk.tile_begin, tile_end = blk.tile_end;
  const size_t part_row = blk.part_row;
  // This warp's S block: row group rg, key group ng, k-slice kslice.
  const int kslice = warp / (C::RG * C::NG), rg = warp % (C::RG * C::NG) / C::NG, ng = warp % C::NG;

  // Stage rows past the sequence end are not copied: zero them once, so that what they hold
  // later (zeros or an earlier tile's finite rows) times P = 0 adds nothing.
  for (int i = tid; i < STAGES * KEYS * kFastChunks; i += kThreads)
    *reinterpret_cast<uint4*>(ks + i / kFastChunks * kFastStride + i % kFastChunks * 8) =
        make_uint4(0, 0, 0, 0);
  if (tid < STAGES) mbar_init(full + tid, 1);
  fence_async_shared();
  if (tid < M) {
    const int p = m0 + tid;
    row_limit[tid] = p < rows ? a.positions[q0 + p / a.heads] + 1 : 0;
    row_m[tid] = -INFINITY;
    row_l[tid] = 0.0f;
  }
  // Element (row, col) of the query row block: [q_lat (512) | q_rope (64)] of (token, head) =
  // divmod(m0 + row, heads); null past the last row.
  auto q_src = [&](int row, int col) -> const bf16* {
    const int p = m0 + row;
    if (p >= rows) return nullptr;
    const int t = q0 + p / a.heads, h = p % a.heads;
    return q_value(a, t, h, col);
  };
  uint32_t qf[QREG ? KSTEPS : 1][4];  // this warp's k-slice of Q as mma A fragments
  if constexpr (QREG) {
    auto ld = [&](int row, int col) {
      const bf16* p = q_src(row, col);
      return p ? *reinterpret_cast<const uint32_t*>(p) : 0u;  // bf16 pairs: 4-byte aligned
    };
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      const int k = (kslice * KSTEPS + kk) * 16 + 2 * t4;
      qf[kk][0] = ld(g, k);
      qf[kk][1] = ld(g + 8, k);
      qf[kk][2] = ld(g, k + 8);
      qf[kk][3] = ld(g + 8, k + 8);
    }
  } else {
    // 16-byte chunks, asynchronous where aligned, issued with the first key tile.
    for (int i = tid; i < M * kFastChunks; i += kThreads) {
      const int row = i / kFastChunks, col = i % kFastChunks * 8;
      bf16* dst = qs + row * kFastStride + col;
      const bf16* src = q_src(row, col);
      if (!src)
        *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      else
        copy_q8(dst, src);
    }
  }

  const int32_t* bt = a.block_table + s * a.ld_bt;
  // Warp 0 loads a tile: lane 0 announces the bytes, each lane copies rows lane, lane + 32.
  auto load_tile = [&](int tile, int buf) {
    if (warp != 0) return;
    bf16* dst = ks + buf * KEYS * kFastStride;
    const int j0 = tile * KEYS, n = min(KEYS, L - j0);
    const bf16* base = a.cache + (static_cast<int64_t>(bt[j0 / 64]) * 64 + j0 % 64) * a.ld_cache;
    if (lane == 0) mbar_arrive_expect_tx(full + buf, n * kFastD * sizeof(bf16));
    __syncwarp();
    for (int kr = lane; kr < n; kr += 32)
      bulk_copy_g2s(dst + kr * kFastStride, base + kr * a.ld_cache, kFastD * sizeof(bf16),
                    full + buf);
  };

  float o[MT][8][4];  // rows of the CTA x this warp's 64 V columns (8 n-tiles)
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[m][n][e] = 0.0f;

  __syncthreads();  // barriers initialised, buffers zeroed
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st)
    if (tile_begin + st < tile_end) load_tile(tile_begin + st, st);
  cp_async_commit();  // Q (without QREG)
  cp_async_wait<0>();
  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int buf = (tile - tile_begin) % STAGES;
    mbar_wait(full + buf, (tile - tile_begin) / STAGES & 1);
    __syncthreads();  // Q and row state visible; every warp is done with the buffer refilled
    {
      const int next = tile + STAGES - 1;
      if (next < tile_end) load_tile(next, (next - tile_begin) % STAGES);
    }
    const bf16* kt = ks + buf * KEYS * kFastStride;

    // S block of this warp over its k-slice; NACC sets of accumulators on alternate k steps.
    {
      float acc[C::NACC][WR][WN][4];
#pragma unroll
      for (int c = 0; c < C::NACC; ++c)
#pragma unroll
        for (int w = 0; w < WR; ++w)
#pragma unroll
          for (int n = 0; n < WN; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[c][w][n][e] = 0.0f;
      // ldmatrix rows: keys (lane & 7) + 8 (lane >> 4), k half (lane >> 3) & 1 for B; rows
      // lane & 15, k half lane >> 4 for A.
      const bf16* kb = kt + (ng * 8 * WN + (lane & 7) + (lane >> 4) * 8) * kFastStride +
                       ((lane >> 3) & 1) * 8 + kslice * KSTEPS * 16;
      const bf16* qb =
          qs + (rg * WR * 16 + (lane & 15)) * kFastStride + (lane >> 4) * 8 + kslice * KSTEPS * 16;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        uint32_t b[WN / 2][4];
#pragma unroll
        for (int nb = 0; nb < WN / 2; ++nb)
          ldmatrix_x4(b[nb], kb + nb * 16 * kFastStride + kk * 16);
#pragma unroll
        for (int w = 0; w < WR; ++w) {
          uint32_t af[4];
          if constexpr (QREG) {
#pragma unroll
            for (int e = 0; e < 4; ++e) af[e] = qf[kk][e];
          } else {
            ldmatrix_x4(af, qb + w * 16 * kFastStride + kk * 16);
          }
#pragma unroll
          for (int nb = 0; nb < WN / 2; ++nb) {
            mma_bf16(acc[kk % C::NACC][w][2 * nb], af, b[nb][0], b[nb][1]);
            mma_bf16(acc[kk % C::NACC][w][2 * nb + 1], af, b[nb][2], b[nb][3]);
          }
        }
      }
      float sacc[WR][WN][4];  // the partial S block of this k-slice
#pragma unroll
      for (int w = 0; w < WR; ++w)
#pragma unroll
        for (int n = 0; n < WN; ++n) {
          float v[4];
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            v[e] = acc[0][w][n][e];
            if constexpr (C::NACC == 2) v[e] += acc[1][w][n][e];
          }
#pragma unroll
          for (int e = 0; e < 4; ++e) sacc[w][n][e] = v[e];
        }
        // k-slices meet in the one S tile as a chain: slice KS-1 stores, each lower slice adds
        // its partial after a named barrier of the KS warps sharing this S block (bar 1 + block).
#pragma unroll
      for (int step = 0; step < KS; ++step) {
        if (kslice == KS - 1 - step) {
#pragma unroll
          for (int w = 0; w < WR; ++w)
#pragma unroll
            for (int n = 0; n < WN; ++n) {
              float* d = ss + ((rg * WR + w) * 16 + g) * SS + (ng * WN + n) * 8 + 2 * t4;
              float2 lo = make_float2(sacc[w][n][0], sacc[w][n][1]);
              float2 hi = make_float2(sacc[w][n][2], sacc[w][n][3]);
              if (step > 0) {
                const float2 plo = *reinterpret_cast<float2*>(d);
                const float2 phi = *reinterpret_cast<float2*>(d + 8 * SS);
                lo.x += plo.x, lo.y += plo.y, hi.x += phi.x, hi.y += phi.y;
              }
              *reinterpret_cast<float2*>(d) = lo;
              *reinterpret_cast<float2*>(d + 8 * SS) = hi;
            }
        }
        if (step + 1 < KS) named_barrier(1 + warp % (C::RG * C::NG), 32 * KS);
      }
    }
    __syncthreads();

    // Online softmax: TPR consecutive lanes per row, KPT keys each; S is zeroed for the next
    // tile's adds.
    {
      const int row = tid / TPR, sub = tid % TPR;
      const int limit = row_limit[row];
      float v[KPT], mx = -INFINITY;
#pragma unroll
      for (int e = 0; e < KPT; ++e) {
        float* sp = ss + row * SS + sub * KPT + e;
        const int j = tile * KEYS + sub * KPT + e;
        v[e] = j < limit ? *sp * a.scale : -INFINITY;
        mx = fmaxf(mx, v[e]);
      }
      softmax_row_update<KPT, TPR>(v, mx, ps + row * PS + sub * KPT, sub, row_m[row], row_l[row],
                                   row_alpha[row]);
    }
    __syncthreads();

    // O = O * alpha + P V: warp w owns V columns 64w..64w+63 of all M rows.
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      const float al0 = row_alpha[m * 16 + g], al1 = row_alpha[m * 16 + g + 8];
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        o[m][n][0] *= al0;
        o[m][n][1] *= al0;
        o[m][n][2] *= al1;
        o[m][n][3] *= al1;
      }
    }
#pragma unroll
    for (int kb = 0; kb < KEYS / 16; ++kb) {
      uint32_t vb[4][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        ldmatrix_x4_trans(vb[i], kt + (kb * 16 + (lane & 15)) * kFastStride + warp * 64 + i * 16 +
                                     (lane >> 4) * 8);
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        uint32_t pa[4];
        ldmatrix_x4(pa, ps + (m * 16 + (lane & 15)) * PS + kb * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          mma_bf16(o[m][2 * i], pa, vb[i][0], vb[i][1]);
          mma_bf16(o[m][2 * i + 1], pa, vb[i][2], vb[i][3]);
        }
      }
    }
  }
  __syncthreads();  // row_l / row_m of a split without tiles

  // Output, normalised: straight to o_lat (bf16) without splits, else the partial output with
  // its log-sum-exp for the combine step.
#pragma unroll
  for (int m = 0; m < MT; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = m * 16 + g + 8 * half, p = m0 + row;
      if (p >= rows) continue;
      const float l = row_l[row], inv = l > 0.0f ? 1.0f / l : 0.0f;
      const int t = q0 + p / a.heads, h = p % a.heads;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const int col = warp * 64 + n * 8 + 2 * t4;
        store_output_pair(a, kFastR, part_row, p, t, h, col, o[m][n][2 * half] * inv,
                          o[m][n][2 * half + 1] * inv);
      }
    }
  }
  if (tid < M && m0 + tid < rows && a.splits > 1)
    a.part_lse[part_row + m0 + tid] = row_l[tid] > 0.0f ? row_m[tid] + logf(row_l[tid]) : -INFINITY;
}

}  // namespace duet::cuda::mla
