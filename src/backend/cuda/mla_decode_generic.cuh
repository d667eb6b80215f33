// MLA decode attention for any latent width (kv_rank a multiple of 16 up to 512): the kernel
// used when the cache rows are not the DeepSeek-V3 layout of 512 + 64 (mla_decode_fast.cuh).
// One CTA of 8 warps takes up to 64 query rows; key tiles stream through shared memory by
// cp.async; S = Q K^T is spread over the warps by (16-row, 8-key) tiles, the online softmax goes
// through shared memory, and in O += P V warp w owns V columns 64w..64w+63 for all rows.
#pragma once

#include "backend/cuda/mla_decode_common.cuh"

namespace duet::cuda::mla {

// S = Q K^T is cut into MT * KEYS / 8 tiles of 16 rows x 8 keys; with fewer tiles than warps,
// kSplitK warps share one tile over slices of the 576-long dot products (partial sums in
// shared memory, added by the softmax).
// KS > kSplitK trades fewer S tiles per warp for fewer shared-memory reads of Q per mma.
template <int MT, int KEYS>
constexpr int kSplitK = (MT * KEYS / 8 >= kWarps) ? 1 : kWarps / (MT * KEYS / 8);

// Shared memory of one instantiation, in bytes.
template <int MT, int KEYS, int STAGES, int KS>
constexpr size_t decode_smem(int dp) {
  return static_cast<size_t>(16 * MT + STAGES * KEYS) * (dp + kPad) * sizeof(bf16) +
         16 * MT * (KEYS + kPad) * sizeof(bf16) + KS * 16 * MT * (KEYS + 4) * sizeof(float) +
         4 * 16 * MT * sizeof(float);
}

// MT: 16-row tiles per CTA; KEYS: keys per pipeline stage (divides 64, the cache block).
template <int MT, int KEYS, int STAGES, int KS>
__global__ void __launch_bounds__(kThreads, 1) mla_decode_kernel(DecodeArgs a) {
  static_assert(KS >= kSplitK<MT, KEYS> && kWarps % KS == 0, "k split");
  constexpr int WS = kWarps / KS;                              // WS: warps per k slice
  constexpr int M = 16 * MT, NT = KEYS / 8, U = MT * NT / WS;  // U: S tiles per warp
  static_assert(U >= 1 && MT * NT % WS == 0 && (U == 1 || NT % U == 0), "tile shape");
  static_assert(64 % KEYS == 0 && STAGES >= 2, "a key tile lies in one cache block");
  constexpr int TPR = kThreads / M, KPT = KEYS / TPR;  // softmax: threads per row, keys each
  constexpr int PS = KEYS + kPad, SS = KEYS + 4;       // P (bf16) and S (f32) row strides
  extern __shared__ __align__(16) unsigned char smem_raw[];
  DecodeBlock blk;
  pdl_launch_dependents();
  if (!blk.locate(a, M, KEYS)) return;
  const int s = blk.s, m0 = blk.m0, q0 = blk.q0, rows = blk.rows;
  const int stride = a.dp + kPad;                     // bf16 elements per shared row
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);       // [M][stride]
  bf16* ks = qs + M * stride;                         // [STAGES][KEYS][stride]
  bf16* ps = ks + STAGES * KEYS * stride;             // [M][PS]
  float* ss = reinterpret_cast<float*>(ps + M * PS);  // [KS][M][SS]
  float* row_m = ss + KS * M * SS;                    // [M]
  float* row_l = row_m + M;
  float* row_alpha = row_l + M;
  int* row_limit = reinterpret_cast<int*>(row_alpha + M);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int L = blk.L, D = a.r + a.dr;
  const int tile_begin = blk.tile_begin, tile_end = blk.tile_end;
  const size_t part_row = blk.part_row;
  // A split with nothing to attend runs no tile and writes zeros with an LSE of -inf, which
  // the combine step skips.

  // Zero the padding columns of all key buffers once; cp.async never writes them.
  for (int i = tid; i < STAGES * KEYS * (a.dp - D); i += kThreads)
    ks[(i / (a.dp - D)) * stride + D + i % (a.dp - D)] = __float2bfloat16_rn(0.0f);

  const int chunks = D / 8;  // 16-byte pieces of one cache row
  const int32_t* bt = a.block_table + s * a.ld_bt;
  auto load_tile = [&](int tile, int buf) {
    bf16* dst = ks + buf * KEYS * stride;
    const int j0 = tile * KEYS;
    const bf16* base = a.cache + (static_cast<int64_t>(bt[j0 / 64]) * 64 + j0 % 64) * a.ld_cache;
    for (int i = tid; i < KEYS * chunks; i += kThreads) {
      const int kr = i / chunks, ch = i % chunks;
      const bool in = j0 + kr < L;
      cp_async16(dst + kr * stride + ch * 8, in ? base + kr * a.ld_cache + ch * 8 : a.cache,
                 in ? 16 : 0);
    }
  };

  // The first tile, when earlier steps cached all its keys, goes out before the programmatic
  // wait (DecodeBlock::first_tile_cached), so that it streams in while the q absorption runs; it
  // joins the first cp.async group with the query rows.
  const bool preloaded = blk.first_tile_cached(a, KEYS);
  if (preloaded) load_tile(tile_begin, 0);
  pdl_wait();

  // Query rows: [q_lat | q_rope | 0...] of (token, head) = divmod(m0 + i, heads).
  if (tid < M) {
    const int p = m0 + tid;
    row_limit[tid] = p < rows ? a.positions[q0 + p / a.heads] + 1 : 0;
    row_m[tid] = -INFINITY;
    row_l[tid] = 0.0f;
  }
  // 16-byte chunks, asynchronous where aligned (r and r + dr are multiples of 8, so no chunk
  // straddles q_lat and q_rope), issued with the first key tile.
  const int q_chunks = a.dp / 8;
  for (int i = tid; i < M * q_chunks; i += kThreads) {
    const int row = i / q_chunks, col = (i % q_chunks) * 8, p = m0 + row;
    bf16* dst = qs + row * stride + col;
    if (p >= rows || col >= D) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const int t = q0 + p / a.heads, h = p % a.heads;
    const bf16* src = q_value(a, t, h, col);
    copy_q8(dst, src);
  }
  float o[MT][kColGroups][2][4];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int i = 0; i < kColGroups; ++i)
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[m][i][n][e] = 0.0f;
  const int pairs = a.r / 16;
  // This warp's S tiles and k slice [k_lo, k_hi).
  const int s_mt = warp % WS * U / NT, s_nt = warp % WS * U % NT, kpart = warp / WS;
  const int k_per = (a.dp / 16 + KS - 1) / KS * 16;
  const int k_lo = kpart * k_per, k_hi = min(a.dp, k_lo + k_per);

#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (tile_begin + st < tile_end && !(st == 0 && preloaded)) load_tile(tile_begin + st, st);
    cp_async_commit();
  }
  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int buf = (tile - tile_begin) % STAGES;
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile is in; every warp is done with the buffer refilled below
    {
      const int next = tile + STAGES - 1;
      if (next < tile_end) load_tile(next, (next - tile_begin) % STAGES);
      cp_async_commit();
    }
    const bf16* kt = ks + buf * KEYS * stride;

    // S = Q K^T: U consecutive 8-key tiles of one 16-row tile per warp; two accumulators per
    // tile on alternate k steps (independent mma chains).
    {
      float acc[U][2][4];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[u][0][e] = acc[u][1][e] = 0.0f;
      const bf16* qrow = qs + (s_mt * 16 + g) * stride + 2 * t4;
      const bf16* krow = kt + (s_nt * 8 + g) * stride + 2 * t4;
      for (int k0 = k_lo; k0 < k_hi; k0 += 32) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int k = k0 + 16 * h;
          if (h == 1 && k >= k_hi) break;
          const uint32_t qa[4] = {ld_pair(qrow + k), ld_pair(qrow + 8 * stride + k),
                                  ld_pair(qrow + k + 8), ld_pair(qrow + 8 * stride + k + 8)};
#pragma unroll
          for (int u = 0; u < U; ++u)
            mma_bf16(acc[u][U > 1 ? 0 : h], qa, ld_pair(krow + u * 8 * stride + k),
                     ld_pair(krow + u * 8 * stride + k + 8));
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int col = (s_nt + u) * 8 + 2 * t4;
        float* d0 = ss + (kpart * M + s_mt * 16 + g) * SS + col;
        *reinterpret_cast<float2*>(d0) = make_float2((acc[u][0][0] + acc[u][1][0]) * a.scale,
                                                     (acc[u][0][1] + acc[u][1][1]) * a.scale);
        *reinterpret_cast<float2*>(d0 + 8 * SS) = make_float2(
            (acc[u][0][2] + acc[u][1][2]) * a.scale, (acc[u][0][3] + acc[u][1][3]) * a.scale);
      }
    }
    __syncthreads();

    // Online softmax: TPR consecutive lanes per row, KPT keys each.
    {
      const int row = tid / TPR, sub = tid % TPR;
      const int limit = row_limit[row];
      float v[KPT], mx = -INFINITY;
#pragma unroll
      for (int e = 0; e < KPT; ++e) {
        const int j = tile * KEYS + sub * KPT + e;
        float x = 0.0f;
#pragma unroll
        for (int ks = 0; ks < KS; ++ks) x += ss[(ks * M + row) * SS + sub * KPT + e];
        v[e] = j < limit ? x : -INFINITY;
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
      for (int i = 0; i < kColGroups; ++i)
#pragma unroll
        for (int n = 0; n < 2; ++n) {
          o[m][i][n][0] *= al0;
          o[m][i][n][1] *= al0;
          o[m][i][n][2] *= al1;
          o[m][i][n][3] *= al1;
        }
    }
#pragma unroll
    for (int kb = 0; kb < KEYS / 16; ++kb) {
      uint32_t b[kColGroups][4];
#pragma unroll
      for (int i = 0; i < kColGroups; ++i) {
        const int pair = warp * kColGroups + i;
        if (pair < pairs)
          ldmatrix_x4_trans(b[i],
                            kt + (kb * 16 + (lane & 15)) * stride + pair * 16 + (lane >> 4) * 8);
      }
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        const bf16* pr = ps + (m * 16 + g) * PS + kb * 16 + 2 * t4;
        const uint32_t pa[4] = {ld_pair(pr), ld_pair(pr + 8 * PS), ld_pair(pr + 8),
                                ld_pair(pr + 8 * PS + 8)};
#pragma unroll
        for (int i = 0; i < kColGroups; ++i) {
          if (warp * kColGroups + i < pairs) {
            mma_bf16(o[m][i][0], pa, b[i][0], b[i][1]);
            mma_bf16(o[m][i][1], pa, b[i][2], b[i][3]);
          }
        }
      }
    }
  }
  cp_async_wait<0>();
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
      for (int i = 0; i < kColGroups; ++i) {
        const int pair = warp * kColGroups + i;
        if (pair >= pairs) continue;
#pragma unroll
        for (int n = 0; n < 2; ++n) {
          const int col = pair * 16 + n * 8 + 2 * t4;
          store_output_pair(a, a.r, part_row, p, t, h, col, o[m][i][n][2 * half] * inv,
                            o[m][i][n][2 * half + 1] * inv);
        }
      }
    }
  }
  if (tid < M && m0 + tid < rows && a.splits > 1)
    a.part_lse[part_row + m0 + tid] = row_l[tid] > 0.0f ? row_m[tid] + logf(row_l[tid]) : -INFINITY;
}

}  // namespace duet::cuda::mla
