// MLA decode, absorbed form (FlashMLA style, written for this engine):
//   q_lat = W_UK^T q_nope per head (cuBLAS, batched over heads)
//   attention of [q_lat | q_rope] over the latent cache rows [c | k_rope] with V = c, split
//   over the KV length so that a few long sequences still fill the GPU, then a combine step
//   out = W_UV o_lat per head (cuBLAS, batched over heads).
// One CTA of 8 warps takes up to 64 query rows ((token, head) pairs of one sequence: all 64
// heads of a Kimi K2 decode token), so each cache tile is read from HBM once per sequence and
// split. The key tiles stream through shared memory by cp.async, 2-3 stages deep; S = Q K^T is
// spread over the warps by (16-row, 8-key) tiles, the online softmax goes through shared
// memory, and in O += P V warp w owns V columns 64w..64w+63 for all rows of the CTA.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 8, kThreads = 32 * kWarps;
constexpr int kColGroups = 4;  // 16-column V groups per warp: kv_rank <= 16 * 4 * 8 = 512
constexpr int kPad = 8;  // bf16 row padding: rows shift by 4 banks, fragment loads conflict-free

struct DecodeArgs {
  const bf16* q_lat;  // [T, H, r]
  const bf16* q;      // [T, ld_q]: q_rope of head h at h * qk + dn
  int64_t ld_q;
  int qk, dn;
  const bf16* cache;  // [blocks * 64, ld_cache]
  int64_t ld_cache;
  const int32_t* block_table;  // [S, ld_bt]
  int64_t ld_bt;
  const int32_t *q_start, *kv_len, *decode, *positions;
  int heads, r, dr, dp;  // dp: r + dr rounded up to 16 (zero columns past r + dr)
  float scale;
  int splits, rows_max;
  float* part_o;    // [S, splits, rows_max, r]
  float* part_lse;  // [S, splits, rows_max]
  bf16* o_lat;      // [T, H, r]: written directly when splits == 1
};

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
  const int s = blockIdx.z, split = blockIdx.y, m0 = blockIdx.x * M;
  if (!a.decode[s]) return;
  const int q0 = a.q_start[s], rows = (a.q_start[s + 1] - q0) * a.heads;
  if (m0 >= rows) return;
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
  const int L = a.kv_len[s], D = a.r + a.dr;
  const int tiles = (L + KEYS - 1) / KEYS;
  const int per_split = (tiles + a.splits - 1) / a.splits;
  const int tile_begin = split * per_split, tile_end = min(tiles, tile_begin + per_split);
  const size_t part_row = (static_cast<size_t>(s) * a.splits + split) * a.rows_max;
  // A split with nothing to attend runs no tile and writes zeros with an LSE of -inf, which
  // the combine step skips.

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
    const bf16* src = col < a.r ? a.q_lat + (static_cast<int64_t>(t) * a.heads + h) * a.r + col
                                : a.q + t * a.ld_q + h * a.qk + a.dn + (col - a.r);
    if ((reinterpret_cast<uintptr_t>(src) & 15) == 0)
      cp_async16(dst, src, 16);
    else
      for (int e = 0; e < 8; ++e) dst[e] = src[e];
  }
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
    if (tile_begin + st < tile_end) load_tile(tile_begin + st, st);
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
#pragma unroll
      for (int off = 1; off < TPR; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = row_m[row];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
#pragma unroll
      for (int e = 0; e < KPT; e += 2) {
        const float p0 = m_new == -INFINITY ? 0.0f : __expf(v[e] - m_new);
        const float p1 = m_new == -INFINITY ? 0.0f : __expf(v[e + 1] - m_new);
        sum += p0 + p1;
        *reinterpret_cast<uint32_t*>(ps + row * PS + sub * KPT + e) = pack_bf16(p0, p1);
      }
#pragma unroll
      for (int off = 1; off < TPR; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();  // every lane of the row has read row_m before lane 0 rewrites it
      if (sub == 0) {
        const float alpha = m_new == -INFINITY ? 1.0f : __expf(m_old - m_new);
        row_alpha[row] = alpha;
        row_l[row] = row_l[row] * alpha + sum;
        row_m[row] = m_new;
      }
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
          const float x0 = o[m][i][n][2 * half] * inv, x1 = o[m][i][n][2 * half + 1] * inv;
          if (a.splits == 1)
            *reinterpret_cast<uint32_t*>(a.o_lat + (static_cast<int64_t>(t) * a.heads + h) * a.r +
                                         col) = pack_bf16(x0, x1);
          else
            *reinterpret_cast<float2*>(a.part_o + (part_row + p) * a.r + col) = make_float2(x0, x1);
        }
      }
    }
  }
  if (tid < M && m0 + tid < rows && a.splits > 1)
    a.part_lse[part_row + m0 + tid] = row_l[tid] > 0.0f ? row_m[tid] + logf(row_l[tid]) : -INFINITY;
}

// One block per (row, sequence): o_lat = sum_i w_i O_i / sum_i w_i with w_i = exp(lse_i - max).
__global__ void mla_combine_kernel(DecodeArgs a, bf16* o_lat) {
  const int s = blockIdx.y, p = blockIdx.x;
  if (!a.decode[s]) return;
  const int q0 = a.q_start[s], rows = (a.q_start[s + 1] - q0) * a.heads;
  if (p >= rows) return;
  const size_t base = static_cast<size_t>(s) * a.splits * a.rows_max + p;
  float mx = -INFINITY;
  for (int i = 0; i < a.splits; ++i) mx = fmaxf(mx, a.part_lse[base + i * a.rows_max]);
  const int t = q0 + p / a.heads, h = p % a.heads;
  bf16* dst = o_lat + (static_cast<int64_t>(t) * a.heads + h) * a.r;
  for (int col = threadIdx.x; col < a.r; col += blockDim.x) {
    float num = 0.0f, den = 0.0f;
    for (int i = 0; i < a.splits; ++i) {
      const float lse = a.part_lse[base + i * a.rows_max];
      if (lse == -INFINITY) continue;  // empty split: its O was never written
      const float w = __expf(lse - mx);
      num += w * a.part_o[(base + i * a.rows_max) * a.r + col];
      den += w;
    }
    dst[col] = __float2bfloat16_rn(den > 0.0f ? num / den : 0.0f);
  }
}

// Split count from the SM count: per-split work (plus a fixed cost of about two tiles for the
// pipeline fill and the output) times the number of waves, smallest wins; then the launches.
template <int MT, int KEYS, int STAGES, int KS = kSplitK<MT, KEYS>>
void launch_decode(Context& c, const MlaParams& p, DecodeArgs& args) {
  const int64_t M = 16 * MT, S = p.num_seqs;
  int64_t m_tiles = 0, max_tiles = 0;
  for (int64_t s = 0; s < S; ++s) {
    if (!p.host_decode[s]) continue;
    m_tiles += ceil_div((p.host_q_start[s + 1] - p.host_q_start[s]) * p.heads, M);
    max_tiles = std::max<int64_t>(max_tiles, ceil_div(p.host_kv_len[s], KEYS));
  }
  const size_t smem = decode_smem<MT, KEYS, STAGES, KS>(args.dp);
  auto* kernel = mla_decode_kernel<MT, KEYS, STAGES, KS>;
  DUET_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)));
  int per_sm = 1;
  DUET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
  const int64_t slots = std::max<int64_t>(1, static_cast<int64_t>(per_sm) * c.num_sms);
  int64_t splits = 1, best = -1;
  for (int64_t n = 1; n <= std::min<int64_t>(std::max<int64_t>(max_tiles, 1), 64); ++n) {
    const int64_t cost =
        ceil_div(std::max<int64_t>(m_tiles, 1) * n, slots) * (ceil_div(max_tiles, n) + 2);
    if (best < 0 || cost < best) best = cost, splits = n;
  }
  args.splits = static_cast<int>(splits);
  // part_o: [S, splits, rows_max, r] f32; part_lse: [S, splits, rows_max] f32.
  const int64_t rows_max = args.rows_max, r = args.r;
  args.part_o = c.workspace_as<float>(kWsMlaPartO, static_cast<size_t>(S * splits * rows_max * r));
  args.part_lse = c.workspace_as<float>(kWsMlaPartLse, static_cast<size_t>(S * splits * rows_max));
  dim3 grid(static_cast<unsigned>(ceil_div(rows_max, M)), static_cast<unsigned>(splits),
            static_cast<unsigned>(S));
  kernel<<<grid, kThreads, smem, c.stream>>>(args);
  DUET_CUDA_LAUNCHED();
  if (splits > 1) {
    mla_combine_kernel<<<dim3(static_cast<unsigned>(rows_max), static_cast<unsigned>(S)), 128, 0,
                         c.stream>>>(args, args.o_lat);
    DUET_CUDA_LAUNCHED();
  }
}

}  // namespace

void mla_decode(Context& c, const MlaParams& p) {
  const int64_t H = p.heads, dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t S = p.num_seqs, T = p.q.rows;
  // Contiguous token runs of decode sequences (one batched GEMM each), and the launch shape.
  std::vector<std::pair<int64_t, int64_t>> runs;
  int64_t rows_max = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t a = p.host_q_start[s], b = p.host_q_start[s + 1];
    if (!p.host_decode[s] || a == b) continue;
    if (!runs.empty() && runs.back().second == a)
      runs.back().second = b;
    else
      runs.emplace_back(a, b);
    rows_max = std::max(rows_max, (b - a) * H);
  }
  if (runs.empty()) return;
  DUET_CHECK(p.q.dtype == DType::kBF16 && p.cache.dtype == DType::kBF16 &&
                 p.kv_b.dtype == DType::kBF16 && p.out.dtype == DType::kBF16,
             "cuda mla: bf16 tensors");
  DUET_CHECK(r % 16 == 0 && r <= 16 * kColGroups * kWarps, "cuda mla decode: kv_lora_rank ", r,
             " must be a multiple of 16 up to 512");
  DUET_CHECK((r + dr) % 8 == 0 && p.cache.ld % 8 == 0, "cuda mla decode: cache rows of ", r + dr,
             " values (ld ", p.cache.ld, ") are not 16-byte aligned");
  const int64_t ldb = p.kv_b.ld, head_rows = dn + dv;
  const bf16* kv_b = p.kv_b.ptr<const bf16>();
  // q_lat, o_lat: [T, H, r] (rows of prefill tokens are left untouched).
  bf16* q_lat = c.workspace_as<bf16>(kWsMlaQLat, static_cast<size_t>(T * H * r));
  bf16* o_lat = c.workspace_as<bf16>(kWsMlaOLat, static_cast<size_t>(T * H * r));
  const int64_t qk = dn + dr;
  for (auto [a, b] : runs)
    gemm_strided_batched(c, H, b - a, r, dn, p.q.ptr<const bf16>() + a * p.q.ld, p.q.ld, qk, kv_b,
                         ldb, head_rows * ldb, q_lat + a * H * r, H * r, r, /*w_transposed=*/true);

  DecodeArgs args;
  args.q_lat = q_lat;
  args.q = p.q.ptr<const bf16>();
  args.ld_q = p.q.ld;
  args.qk = static_cast<int>(qk);
  args.dn = static_cast<int>(dn);
  args.cache = p.cache.ptr<const bf16>();
  args.ld_cache = p.cache.ld;
  args.block_table = p.block_table.ptr<const int32_t>();
  args.ld_bt = p.block_table.ld;
  args.q_start = p.q_start.ptr<const int32_t>();
  args.kv_len = p.kv_len.ptr<const int32_t>();
  args.decode = p.decode.ptr<const int32_t>();
  args.positions = p.positions.ptr<const int32_t>();
  args.heads = static_cast<int>(H);
  args.r = static_cast<int>(r);
  args.dr = static_cast<int>(dr);
  args.dp = static_cast<int>(ceil_div(r + dr, 16) * 16);
  args.scale = p.scale;
  args.rows_max = static_cast<int>(rows_max);
  args.o_lat = o_lat;
  // 64 rows per CTA when a sequence has that many (all heads of a 64-head token), else 32/16.
  // Measured on H100 (B 64, L 2048): at 64 heads a 2-way k split of S (each warp 4 key tiles
  // of one row tile) beat the 8-way tile split, 170 vs 187 us; at 16 heads 64-key stages two
  // deep beat 32-key stages five deep, 91-97 vs 100 us; 32 rows per CTA (two CTAs per
  // sequence, no splits) at 64 heads lost, 193 us.
  if (rows_max > 32)
    launch_decode<4, 32, 3, 2>(c, p, args);
  else if (rows_max > 16)
    launch_decode<2, 64, 2>(c, p, args);
  else
    launch_decode<1, 64, 2>(c, p, args);

  bf16* out = p.out.ptr<bf16>();
  for (auto [a, b] : runs)
    gemm_strided_batched(c, H, b - a, dv, r, o_lat + a * H * r, H * r, r, kv_b + dn * ldb, ldb,
                         head_rows * ldb, out + a * p.out.ld, p.out.ld, dv, false);
}

}  // namespace duet::cuda
