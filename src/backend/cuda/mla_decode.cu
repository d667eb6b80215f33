// MLA decode, absorbed form (FlashMLA style, written for this engine):
//   q_lat = W_UK^T q_nope per head (cuBLAS, batched over heads)
//   attention of [q_lat | q_rope] over the latent cache rows [c | k_rope] with V = c, split
//   over the KV length so that a few long sequences still fill the GPU, then a combine step
//   out = W_UV o_lat per head (cuBLAS, batched over heads).
// The attention tile is 16 query rows ((token, head) pairs of one sequence) by 32 keys, on
// mma.sync tensor cores; the key tiles stream through shared memory by cp.async, two deep.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kRows = 16;     // query rows per CTA (one mma M tile)
constexpr int kKeys = 32;     // keys per pipeline stage (8 per warp in Q K^T)
constexpr int kMaxPairs = 8;  // 16-column V tiles per warp: kv_rank <= 16 * 8 * kWarps = 512
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
};

__global__ void __launch_bounds__(kThreads) mla_decode_kernel(DecodeArgs a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int s = blockIdx.z, split = blockIdx.y, m0 = blockIdx.x * kRows;
  if (!a.decode[s]) return;
  const int q0 = a.q_start[s], rows = (a.q_start[s + 1] - q0) * a.heads;
  if (m0 >= rows) return;
  const int stride = a.dp + kPad;                // bf16 elements per shared row
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);  // [kRows][stride]
  bf16* ks = qs + kRows * stride;                // [2][kKeys][stride]
  bf16* ps = ks + 2 * kKeys * stride;            // [kRows][kKeys + kPad]
  float* ss = reinterpret_cast<float*>(ps + kRows * (kKeys + kPad));  // [kRows][kKeys]
  float* row_m = ss + kRows * kKeys;                                  // [kRows]
  float* row_l = row_m + kRows;
  float* row_alpha = row_l + kRows;
  int* row_limit = reinterpret_cast<int*>(row_alpha + kRows);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int L = a.kv_len[s], D = a.r + a.dr;
  const int tiles = (L + kKeys - 1) / kKeys;
  const int per_split = (tiles + a.splits - 1) / a.splits;
  const int tile_begin = split * per_split, tile_end = min(tiles, tile_begin + per_split);
  const size_t part_row = (static_cast<size_t>(s) * a.splits + split) * a.rows_max;
  if (tile_begin >= tile_end) {
    // Nothing to attend in this split; the combine step skips it by its -inf LSE.
    if (tid < kRows && m0 + tid < rows) a.part_lse[part_row + m0 + tid] = -INFINITY;
    return;
  }

  // Query rows: [q_lat | q_rope | 0...] of (token, head) = divmod(m0 + i, heads).
  if (tid < kRows) {
    const int p = m0 + tid;
    row_limit[tid] = p < rows ? a.positions[q0 + p / a.heads] + 1 : 0;
    row_m[tid] = -INFINITY;
    row_l[tid] = 0.0f;
  }
  // 16-byte chunks, asynchronous where aligned (r and r + dr are multiples of 8, so no chunk
  // straddles q_lat and q_rope), issued with the first key tile.
  const int q_chunks = a.dp / 8;
  for (int i = tid; i < kRows * q_chunks; i += kThreads) {
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
  // Zero the padding columns of both key buffers once; cp.async never writes them.
  for (int i = tid; i < 2 * kKeys * (a.dp - D); i += kThreads)
    ks[(i / (a.dp - D)) * stride + D + i % (a.dp - D)] = __float2bfloat16_rn(0.0f);

  const int chunks = D / 8;  // 16-byte pieces of one cache row
  const int32_t* bt = a.block_table + s * a.ld_bt;
  auto load_tile = [&](int tile, int buf) {
    bf16* dst = ks + buf * kKeys * stride;
    for (int i = tid; i < kKeys * chunks; i += kThreads) {
      const int kr = i / chunks, ch = i % chunks, j = tile * kKeys + kr;
      const bf16* src = a.cache;
      int bytes = 0;
      if (j < L) {
        src = a.cache + (static_cast<int64_t>(bt[j / 64]) * 64 + j % 64) * a.ld_cache + ch * 8;
        bytes = 16;
      }
      cp_async16(dst + kr * stride + ch * 8, src, bytes);
    }
  };

  float o[kMaxPairs][2][4];
#pragma unroll
  for (int i = 0; i < kMaxPairs; ++i)
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[i][n][e] = 0.0f;
  const int pairs = a.r / 16;

  load_tile(tile_begin, 0);
  cp_async_commit();
  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int buf = (tile - tile_begin) & 1;
    if (tile + 1 < tile_end) load_tile(tile + 1, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const bf16* kt = ks + buf * kKeys * stride;

    // S = Q K^T: warp w computes keys 8w..8w+7 of the tile for all 16 rows.
    // Two accumulators on alternate k steps: independent mma chains instead of one long one.
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, acc2[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const bf16* krow = kt + (warp * 8 + g) * stride;
    const bf16* qrow = qs + g * stride + 2 * t4;
    for (int k0 = 0; k0 < a.dp; k0 += 32) {
      const uint32_t qa[4] = {ld_pair(qrow + k0), ld_pair(qrow + 8 * stride + k0),
                              ld_pair(qrow + k0 + 8), ld_pair(qrow + 8 * stride + k0 + 8)};
      mma_bf16(acc, qa, ld_pair(krow + k0 + 2 * t4), ld_pair(krow + k0 + 8 + 2 * t4));
      if (k0 + 16 < a.dp) {
        const uint32_t qb[4] = {ld_pair(qrow + k0 + 16), ld_pair(qrow + 8 * stride + k0 + 16),
                                ld_pair(qrow + k0 + 24), ld_pair(qrow + 8 * stride + k0 + 24)};
        mma_bf16(acc2, qb, ld_pair(krow + k0 + 16 + 2 * t4), ld_pair(krow + k0 + 24 + 2 * t4));
      }
    }
    for (int e = 0; e < 4; ++e) acc[e] += acc2[e];
    ss[g * kKeys + warp * 8 + 2 * t4] = acc[0] * a.scale;
    ss[g * kKeys + warp * 8 + 2 * t4 + 1] = acc[1] * a.scale;
    ss[(g + 8) * kKeys + warp * 8 + 2 * t4] = acc[2] * a.scale;
    ss[(g + 8) * kKeys + warp * 8 + 2 * t4 + 1] = acc[3] * a.scale;
    __syncthreads();

    // Online softmax: 8 consecutive lanes per row, 4 keys each.
    {
      const int row = tid / 8, sub = tid % 8;
      const int limit = row_limit[row];
      float v[4], mx = -INFINITY;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = tile * kKeys + sub * 4 + e;
        v[e] = j < limit ? ss[row * kKeys + sub * 4 + e] : -INFINITY;
        mx = fmaxf(mx, v[e]);
      }
      for (int off = 1; off < 8; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = row_m[row];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float pe = m_new == -INFINITY ? 0.0f : __expf(v[e] - m_new);
        sum += pe;
        ps[row * (kKeys + kPad) + sub * 4 + e] = __float2bfloat16_rn(pe);
      }
      for (int off = 1; off < 8; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();  // every lane of the row has read row_m before lane 0 rewrites it
      if (sub == 0) {
        const float alpha = m_new == -INFINITY ? 1.0f : __expf(m_old - m_new);
        row_alpha[row] = alpha;
        row_l[row] = row_l[row] * alpha + sum;
        row_m[row] = m_new;
      }
    }
    __syncthreads();

    // O = O * alpha + P V: warp w owns 16-column V tiles w, w + 4, w + 8, ...
    const float al0 = row_alpha[g], al1 = row_alpha[g + 8];
#pragma unroll
    for (int i = 0; i < kMaxPairs; ++i) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        o[i][n][0] *= al0;
        o[i][n][1] *= al0;
        o[i][n][2] *= al1;
        o[i][n][3] *= al1;
      }
    }
#pragma unroll
    for (int kb = 0; kb < kKeys / 16; ++kb) {
      const bf16* pr = ps + kb * 16 + 2 * t4;
      const uint32_t pa[4] = {
          ld_pair(pr + g * (kKeys + kPad)), ld_pair(pr + (g + 8) * (kKeys + kPad)),
          ld_pair(pr + g * (kKeys + kPad) + 8), ld_pair(pr + (g + 8) * (kKeys + kPad) + 8)};
#pragma unroll
      for (int i = 0; i < kMaxPairs; ++i) {
        const int pair = i * kWarps + warp;
        if (pair < pairs) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, kt + (kb * 16 + (lane & 15)) * stride + pair * 16 + (lane >> 4) * 8);
          mma_bf16(o[i][0], pa, b[0], b[1]);
          mma_bf16(o[i][1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the key buffer and P are rewritten next iteration
  }

  // Partial output, normalised, with its log-sum-exp for the combine step.
  const float l0 = row_l[g], l1 = row_l[g + 8];
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPairs; ++i) {
    const int pair = i * kWarps + warp;
    if (pair >= pairs) continue;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const int col = pair * 16 + n * 8 + 2 * t4;
      if (m0 + g < rows) {
        float* dst = a.part_o + (part_row + m0 + g) * a.r + col;
        dst[0] = o[i][n][0] * inv0;
        dst[1] = o[i][n][1] * inv0;
      }
      if (m0 + g + 8 < rows) {
        float* dst = a.part_o + (part_row + m0 + g + 8) * a.r + col;
        dst[0] = o[i][n][2] * inv1;
        dst[1] = o[i][n][3] * inv1;
      }
    }
  }
  if (tid < kRows && m0 + tid < rows)
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

}  // namespace

void mla_decode(Context& c, const MlaParams& p) {
  const int64_t H = p.heads, dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t S = p.num_seqs, T = p.q.rows;
  // Contiguous token runs of decode sequences (one batched GEMM each), and the launch shape.
  std::vector<std::pair<int64_t, int64_t>> runs;
  int64_t rows_max = 0, m_tiles = 0, max_tiles = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t a = p.host_q_start[s], b = p.host_q_start[s + 1];
    if (!p.host_decode[s] || a == b) continue;
    if (!runs.empty() && runs.back().second == a)
      runs.back().second = b;
    else
      runs.emplace_back(a, b);
    rows_max = std::max(rows_max, (b - a) * H);
    m_tiles += ceil_div((b - a) * H, kRows);
    max_tiles = std::max<int64_t>(max_tiles, ceil_div(p.host_kv_len[s], kKeys));
  }
  if (runs.empty()) return;
  DUET_CHECK(p.q.dtype == DType::kBF16 && p.cache.dtype == DType::kBF16 &&
                 p.kv_b.dtype == DType::kBF16 && p.out.dtype == DType::kBF16,
             "cuda mla: bf16 tensors");
  DUET_CHECK(r % 16 == 0 && r <= 16 * kMaxPairs * kWarps, "cuda mla decode: kv_lora_rank ", r,
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

  // Splits: enough CTAs for ~2 waves of 2 resident CTAs per SM, each split >= 1 key tile.
  const int64_t want = 4 * static_cast<int64_t>(c.num_sms);
  const int64_t splits = std::clamp<int64_t>(ceil_div(want, m_tiles), 1, max_tiles);
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
  args.splits = static_cast<int>(splits);
  args.rows_max = static_cast<int>(rows_max);
  // part_o: [S, splits, rows_max, r] f32; part_lse: [S, splits, rows_max] f32.
  args.part_o = c.workspace_as<float>(kWsMlaPartO, static_cast<size_t>(S * splits * rows_max * r));
  args.part_lse = c.workspace_as<float>(kWsMlaPartLse, static_cast<size_t>(S * splits * rows_max));

  const int stride = args.dp + kPad;
  const size_t smem = static_cast<size_t>(kRows + 2 * kKeys) * stride * sizeof(bf16) +
                      kRows * (kKeys + kPad) * sizeof(bf16) + kRows * kKeys * sizeof(float) +
                      4 * kRows * sizeof(float);
  DUET_CUDA_CHECK(cudaFuncSetAttribute(
      mla_decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const int64_t max_m_tiles = ceil_div(rows_max, kRows);
  dim3 grid(static_cast<unsigned>(max_m_tiles), static_cast<unsigned>(splits),
            static_cast<unsigned>(S));
  mla_decode_kernel<<<grid, kThreads, smem, c.stream>>>(args);
  DUET_CUDA_LAUNCHED();
  mla_combine_kernel<<<dim3(static_cast<unsigned>(rows_max), static_cast<unsigned>(S)), 128, 0,
                       c.stream>>>(args, o_lat);
  DUET_CUDA_LAUNCHED();

  bf16* out = p.out.ptr<bf16>();
  for (auto [a, b] : runs)
    gemm_strided_batched(c, H, b - a, dv, r, o_lat + a * H * r, H * r, r, kv_b + dn * ldb, ldb,
                         head_rows * ldb, out + a * p.out.ld, p.out.ld, dv, false);
}

}  // namespace duet::cuda
