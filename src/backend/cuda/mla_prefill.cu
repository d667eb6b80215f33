// MLA prefill, expanded form: per sequence, the cached latents (prefix + this chunk, read back
// from the paged cache) are up-projected by kv_b into per-head K_nope | V with cuBLAS, then a
// causal flash-attention kernel (mma.sync, online softmax in registers) attends every new token
// over keys 0..position with K = [k_nope | k_rope] and V. Where cuDNN is available
// (mla_prefill_cudnn.h) its fused flash attention replaces that kernel: the up-projection then
// writes K and V in separate per-head buffers, and the kernel stays the fallback.
#include <algorithm>
#include <limits>
#include <vector>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_prefill_cudnn.h"
#include "backend/cuda/mma.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kRows = 16 * kWarps;  // query rows per CTA, 16 per warp
constexpr int kKeys = 64;           // keys per tile
constexpr int kMaxQkSteps = 12;     // qk head dim <= 192
constexpr int kMaxVPairs = 8;       // v head dim <= 128
constexpr int kPad = 8;

struct PrefillArgs {
  const bf16* q;  // [T, ld_q]: head h at h * (dn + dr)
  int64_t ld_q;
  int q0, nq;                // this sequence's first token row and new-token count
  const int32_t* positions;  // [T]
  const bf16* kv;            // [L, H * (dn + dv)]: per head k_nope | v
  const bf16* lat;           // [L, r + dr]: k_rope at column r
  int L, heads, dn, dr, dv, r;
  int qkp, dvp;  // dn + dr and dv rounded up to 16
  float scale;
  bf16* out;  // [T, ld_out]: head h at h * dv
  int64_t ld_out;
};

// Copies (asynchronously: the caller commits and waits) `rows` rows of up to two source segments
// into a zero-padded shared tile of `width` columns: columns [0, n1) from seg1, [n1, n1 + n2) from
// seg2. 16-byte loads where aligned.
__device__ void load_tile(bf16* dst, int stride, int rows, int width, const bf16* seg1, int64_t ld1,
                          int n1, const bf16* seg2, int64_t ld2, int n2) {
  const int chunks = width / 8;
  for (int i = threadIdx.x; i < kKeys * chunks; i += blockDim.x) {
    const int row = i / chunks, c = (i % chunks) * 8;
    bf16* d = dst + row * stride + c;
    if (row >= rows) {
      *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const bf16* s1 = seg1 + row * ld1 + c;
    const bf16* s2 = seg2 ? seg2 + row * ld2 + (c - n1) : nullptr;
    // Aligned chunks go through cp.async, so all of a thread's loads are in flight at once.
    if (c + 8 <= n1 && (reinterpret_cast<uintptr_t>(s1) & 15) == 0) {
      cp_async16(d, s1, 16);
    } else if (seg2 && c >= n1 && c + 8 <= n1 + n2 && (reinterpret_cast<uintptr_t>(s2) & 15) == 0) {
      cp_async16(d, s2, 16);
    } else {
      for (int e = 0; e < 8; ++e) {
        const int col = c + e;
        d[e] = col < n1                ? seg1[row * ld1 + col]
               : seg2 && col < n1 + n2 ? seg2[row * ld2 + col - n1]
                                       : __float2bfloat16_rn(0.0f);
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads) mla_prefill_kernel(PrefillArgs a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int h = blockIdx.y, row0 = blockIdx.x * kRows;
  const int qs_stride = a.qkp + kPad, vs_stride = a.dvp + kPad;
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);  // [kRows][qs_stride]
  bf16* ks = qs + kRows * qs_stride;             // [kKeys][qs_stride]
  bf16* vs = ks + kKeys * qs_stride;             // [kKeys][vs_stride]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int head_cols = a.dn + a.dv, qk = a.dn + a.dr;
  const int rows = min(kRows, a.nq - row0);
  const int t_first = a.q0 + row0;

  load_tile(qs, qs_stride, rows, a.qkp, a.q + t_first * a.ld_q + h * qk, a.ld_q, qk, nullptr, 0, 0);
  // Causal: this tile's last query needs keys 0..its position.
  const int kend = min(a.L, a.positions[t_first + rows - 1] + 1);
  const int r0 = warp * 16 + g, r1 = r0 + 8;
  const int pos0 = r0 < rows ? a.positions[t_first + r0] : -1;
  const int pos1 = r1 < rows ? a.positions[t_first + r1] : -1;

  float o[kMaxVPairs][2][4];
#pragma unroll
  for (int i = 0; i < kMaxVPairs; ++i)
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[i][n][e] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const int qk_steps = a.qkp / 16, v_pairs = a.dvp / 16;

  for (int k0 = 0; k0 < kend; k0 += kKeys) {
    const int nk = min(kKeys, kend - k0);
    __syncthreads();  // previous tile fully consumed
    load_tile(ks, qs_stride, nk, a.qkp,
              a.kv + static_cast<int64_t>(k0) * a.heads * head_cols + h * head_cols,
              static_cast<int64_t>(a.heads) * head_cols, a.dn,
              a.lat + static_cast<int64_t>(k0) * (a.r + a.dr) + a.r, a.r + a.dr, a.dr);
    load_tile(vs, vs_stride, nk, a.dvp,
              a.kv + static_cast<int64_t>(k0) * a.heads * head_cols + h * head_cols + a.dn,
              static_cast<int64_t>(a.heads) * head_cols, a.dv, nullptr, 0, 0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    float s[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
#pragma unroll
    for (int kt = 0; kt < kMaxQkSteps; ++kt) {
      if (kt < qk_steps) {
        const bf16* qa0 = qs + (warp * 16 + g) * qs_stride + kt * 16 + 2 * t4;
        const uint32_t qa[4] = {ld_pair(qa0), ld_pair(qa0 + 8 * qs_stride), ld_pair(qa0 + 8),
                                ld_pair(qa0 + 8 * qs_stride + 8)};
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const bf16* kb = ks + (nt * 8 + g) * qs_stride + kt * 16 + 2 * t4;
          mma_bf16(s[nt], qa, ld_pair(kb), ld_pair(kb + 8));
        }
      }
    }
    // Scale, causal mask, online softmax over the quad that shares each row.
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int j = k0 + nt * 8 + 2 * t4 + e;
        s[nt][e] = j <= pos0 ? s[nt][e] * a.scale : -INFINITY;
        s[nt][2 + e] = j <= pos1 ? s[nt][2 + e] * a.scale : -INFINITY;
        mx0 = fmaxf(mx0, s[nt][e]);
        mx1 = fmaxf(mx1, s[nt][2 + e]);
      }
    }
    for (int off = 1; off < 4; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    const float al0 = mn0 == -INFINITY ? 1.0f : __expf(m0 - mn0);
    const float al1 = mn1 == -INFINITY ? 1.0f : __expf(m1 - mn1);
    m0 = mn0;
    m1 = mn1;
    float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        s[nt][e] = mn0 == -INFINITY ? 0.0f : __expf(s[nt][e] - mn0);
        s[nt][2 + e] = mn1 == -INFINITY ? 0.0f : __expf(s[nt][2 + e] - mn1);
        sum0 += s[nt][e];
        sum1 += s[nt][2 + e];
      }
    }
    l0 = l0 * al0 + sum0;
    l1 = l1 * al1 + sum1;
#pragma unroll
    for (int i = 0; i < kMaxVPairs; ++i)
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        o[i][n][0] *= al0;
        o[i][n][1] *= al0;
        o[i][n][2] *= al1;
        o[i][n][3] *= al1;
      }
      // O += P V; the S accumulators of key tiles 2kb, 2kb+1 are the A fragment of step kb.
#pragma unroll
    for (int kb = 0; kb < kKeys / 16; ++kb) {
      const uint32_t pa[4] = {pack_bf16(s[2 * kb][0], s[2 * kb][1]),
                              pack_bf16(s[2 * kb][2], s[2 * kb][3]),
                              pack_bf16(s[2 * kb + 1][0], s[2 * kb + 1][1]),
                              pack_bf16(s[2 * kb + 1][2], s[2 * kb + 1][3])};
#pragma unroll
      for (int i = 0; i < kMaxVPairs; ++i) {
        if (i < v_pairs) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, vs + (kb * 16 + (lane & 15)) * vs_stride + i * 16 + (lane >> 4) * 8);
          mma_bf16(o[i][0], pa, b[0], b[1]);
          mma_bf16(o[i][1], pa, b[2], b[3]);
        }
      }
    }
  }
  for (int off = 1; off < 4; off <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, off);
    l1 += __shfl_xor_sync(0xffffffffu, l1, off);
  }
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxVPairs; ++i) {
    if (i >= v_pairs) continue;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = i * 16 + n * 8 + 2 * t4 + e;
        if (col >= a.dv) continue;
        if (r0 < rows)
          a.out[(t_first + r0) * a.ld_out + h * a.dv + col] =
              __float2bfloat16_rn(o[i][n][e] * inv0);
        if (r1 < rows)
          a.out[(t_first + r1) * a.ld_out + h * a.dv + col] =
              __float2bfloat16_rn(o[i][n][2 + e] * inv1);
      }
    }
  }
}

// The cuDNN path's extras for gather_latents_kernel: K's rope columns and the batch's lengths and
// ragged offsets (sdpa_aux_stride layout), written by block 0 of each sequence's launch.
struct CudnnExtras {
  bf16* k = nullptr;  // [keys, heads, dn + dr]; null: own-kernel path
  int r = 0, dr = 0, heads = 0, dn = 0;
  int32_t* aux = nullptr;
  int32_t index = 0, batch = 0, stride = 0;  // this sequence, batch bucket, aux array stride
  bool last = false;                         // also fills the padding entries and the end offsets
  int32_t len[2] = {0, 0};                   // nq, nkv
  int32_t start[4] = {0, 0, 0, 0}, end[4] = {0, 0, 0, 0};  // ragged offsets of Q, K, V, O
};

// lat[j] = cache row of key j of the sequence; lat: [L, width]. With x.k (cuDNN path), also
// broadcasts key j's rope part into every head's K row (columns dn..dn + dr). `vec`: every row and
// column offset is a multiple of 8 elements, so rows move as 16-byte vectors.
__global__ void gather_latents_kernel(const bf16* cache, int64_t ld_cache, const int32_t* table,
                                      int width, bf16* lat, bool vec, CudnnExtras x) {
  const int64_t j = blockIdx.x;
  const bf16* src = cache + (static_cast<int64_t>(table[j / 64]) * 64 + j % 64) * ld_cache;
  const int qk = x.dn + x.dr;
  if (vec) {
    const uint4* s4 = reinterpret_cast<const uint4*>(src);
    uint4* l4 = reinterpret_cast<uint4*>(lat + j * width);
    for (int c = threadIdx.x; c < width / 8; c += blockDim.x) l4[c] = s4[c];
    if (x.k)
      for (int i = threadIdx.x; i < x.heads * x.dr / 8; i += blockDim.x) {
        const int h = i / (x.dr / 8), c = i % (x.dr / 8);
        *reinterpret_cast<uint4*>(x.k + (j * x.heads + h) * qk + x.dn + c * 8) = s4[x.r / 8 + c];
      }
  } else {
    for (int c = threadIdx.x; c < width; c += blockDim.x) lat[j * width + c] = src[c];
    if (x.k)
      for (int i = threadIdx.x; i < x.heads * x.dr; i += blockDim.x)
        x.k[(j * x.heads + i / x.dr) * qk + x.dn + i % x.dr] = src[x.r + i % x.dr];
  }
  if (!x.k || j != 0 || threadIdx.x != 0) return;
  const int A = x.stride;
  x.aux[x.index] = x.len[0];
  x.aux[A + x.index] = x.len[1];
  for (int t = 0; t < 4; ++t) x.aux[(2 + t) * A + x.index] = x.start[t];
  if (!x.last) return;
  for (int b = x.index + 1; b <= x.batch; ++b) {
    if (b < x.batch) x.aux[b] = x.aux[A + b] = 0;  // padding entries: empty sequences
    for (int t = 0; t < 4; ++t) x.aux[(2 + t) * A + b] = x.end[t];
  }
}

// The cuDNN path for all prefill sequences at once: latents gathered into one packed key range,
// up-projected into K [keys, H, dn + dr] and V [keys, H, dv], then one fused-attention graph over
// the ragged batch. False (nothing enqueued) when cuDNN is missing or rejects the shape.
bool prefill_cudnn(Context& c, const MlaParams& p) {
  const int64_t H = p.heads, dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t width = r + dr, qk = dn + dr;
  // cuDNN needs head dims that are multiples of 8 (16-byte rows); the tiny test dims are not.
  if (qk % 8 != 0 || dv % 8 != 0 || p.q.dtype != DType::kBF16 || p.cache.dtype != DType::kBF16 ||
      p.kv_b.dtype != DType::kBF16)
    return false;
  if (!c.cudnn_tried) {
    int dev = 0, major = 0, minor = 0;
    DUET_CUDA_CHECK(cudaGetDevice(&dev));
    DUET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    DUET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    c.cudnn = cudnn_sdpa_create(major * 10 + minor);
    c.cudnn_tried = true;
  }
  if (!c.cudnn) return false;
  std::vector<int64_t> seqs;
  int64_t keys = 0, max_q = 0, max_kv = 0;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int64_t nq = p.host_q_start[s + 1] - p.host_q_start[s];
    if (p.host_decode[s] || nq == 0) continue;
    seqs.push_back(s);
    keys += p.host_kv_len[s];
    max_q = std::max(max_q, nq);
    max_kv = std::max<int64_t>(max_kv, p.host_kv_len[s]);
  }
  if (seqs.empty()) return true;
  const int64_t T = p.host_q_start[p.num_seqs];
  // Ragged offsets are int32 elements.
  const int64_t limit = std::numeric_limits<int32_t>::max();
  if (T * p.q.ld > limit || T * p.out.ld > limit || keys * H * qk > limit) return false;
  SdpaProblem sp;
  sp.batch = sdpa_batch_bucket(static_cast<int64_t>(seqs.size()));
  sp.heads = H;
  sp.d_qk = qk;
  sp.d_v = dv;
  sp.max_q = max_q;
  sp.max_kv = max_kv;
  sp.q = p.q.ptr<const bf16>();
  sp.ld_q = p.q.ld;
  sp.ld_k = H * qk;
  sp.ld_v = H * dv;
  sp.o = p.out.ptr<bf16>();
  sp.ld_o = p.out.ld;
  sp.scale = p.scale;
  if (!cudnn_sdpa_ready(c.cudnn, sp)) return false;

  const int64_t A = sdpa_aux_stride(sp.batch);
  int32_t* aux = c.workspace_as<int32_t>(kWsMlaAux, static_cast<size_t>(6 * A));
  // lat: [keys, r + dr]; k: [keys, H, dn + dr] (k_nope from kv_b, k_rope broadcast by the gather);
  // v: [keys, H, dv]. Sequence i's keys are rows koff_i .. koff_i + L_i.
  bf16* lat = c.workspace_as<bf16>(kWsMlaLatents, static_cast<size_t>(keys * width));
  bf16* k = c.workspace_as<bf16>(kWsMlaK, static_cast<size_t>(keys * H * qk));
  bf16* v = c.workspace_as<bf16>(kWsMlaKv, static_cast<size_t>(keys * H * dv));
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[0], c.stream));
  const bool vec =
      width % 8 == 0 && p.cache.ld % 8 == 0 && r % 8 == 0 && dr % 8 == 0 && dn % 8 == 0;
  int64_t koff = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t s = seqs[i], q0 = p.host_q_start[s], q1 = p.host_q_start[s + 1];
    const int64_t L = p.host_kv_len[s];
    CudnnExtras x;
    x.k = k + koff * H * qk;
    x.r = static_cast<int>(r);
    x.dr = static_cast<int>(dr);
    x.heads = static_cast<int>(H);
    x.dn = static_cast<int>(dn);
    x.aux = aux;
    x.index = static_cast<int32_t>(i);
    x.batch = static_cast<int32_t>(sp.batch);
    x.stride = static_cast<int32_t>(A);
    x.last = i + 1 == seqs.size();
    x.len[0] = static_cast<int32_t>(q1 - q0);
    x.len[1] = static_cast<int32_t>(L);
    const int64_t st[4] = {q0 * p.q.ld, koff * H * qk, koff * H * dv, q0 * p.out.ld};
    const int64_t en[4] = {q1 * p.q.ld, (koff + L) * H * qk, (koff + L) * H * dv, q1 * p.out.ld};
    for (int t = 0; t < 4; ++t) {
      x.start[t] = static_cast<int32_t>(st[t]);
      x.end[t] = static_cast<int32_t>(en[t]);
    }
    gather_latents_kernel<<<static_cast<unsigned>(L), 128, 0, c.stream>>>(
        p.cache.ptr<const bf16>(), p.cache.ld,
        p.block_table.ptr<const int32_t>() + s * p.block_table.ld, static_cast<int>(width),
        lat + koff * width, vec, x);
    DUET_CUDA_LAUNCHED();
    koff += L;
  }
  // Per head h: k[:, h, :dn] = lat W_UK[h]^T and v[:, h, :] = lat W_UV[h]^T (kv_b rows of head h:
  // dn of W_UK, then dv of W_UV).
  const bf16* wb = p.kv_b.ptr<const bf16>();
  const int64_t ldw = p.kv_b.ld, head_w = (dn + dv) * ldw;
  gemm_strided_batched(c, H, keys, dn, r, lat, width, 0, wb, ldw, head_w, k, H * qk, qk, false);
  gemm_strided_batched(c, H, keys, dv, r, lat, width, 0, wb + dn * ldw, ldw, head_w, v, H * dv, dv,
                       false);
  sp.k = k;
  sp.v = v;
  sp.aux = aux;
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[1], c.stream));
  cudnn_sdpa_run(c.cudnn, c.stream, sp,
                 [&](size_t bytes) { return c.workspace(kWsMlaCudnn, bytes); });
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[2], c.stream));
  return true;
}

}  // namespace

void mla_prefill(Context& c, const MlaParams& p) {
  if (prefill_cudnn(c, p)) return;
  // The own kernel's gather, up-projection and attention interleave per sequence: cuda_bench's
  // phase timing counts all of it as attention.
  if (c.mla_phase_events) {
    DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[0], c.stream));
    DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[1], c.stream));
  }
  const int64_t H = p.heads, dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t width = r + dr;
  const int64_t qkp = ceil_div(dn + dr, 16) * 16, dvp = ceil_div(dv, 16) * 16;
  const int stride_q = static_cast<int>(qkp + kPad), stride_v = static_cast<int>(dvp + kPad);
  const size_t smem = (static_cast<size_t>(kRows + kKeys) * stride_q + kKeys * stride_v) * 2;
  bool configured = false;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int32_t q0 = p.host_q_start[s], nq = p.host_q_start[s + 1] - q0;
    if (p.host_decode[s] || nq == 0) continue;
    const int64_t L = p.host_kv_len[s];
    if (!configured) {
      DUET_CHECK(qkp <= 16 * kMaxQkSteps && dvp <= 16 * kMaxVPairs, "cuda mla prefill: head dims ",
                 dn + dr, "/", dv, " above 192/128");
      DUET_CHECK(p.q.dtype == DType::kBF16 && p.cache.dtype == DType::kBF16, "cuda mla: bf16");
      DUET_CUDA_CHECK(cudaFuncSetAttribute(
          mla_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      configured = true;
    }
    // lat: [L, r + dr] latents of keys 0..L-1; kv: [L, H * (dn + dv)] up-projected.
    bf16* lat = c.workspace_as<bf16>(kWsMlaLatents, static_cast<size_t>(L * width));
    bf16* kv = c.workspace_as<bf16>(kWsMlaKv, static_cast<size_t>(L * H * (dn + dv)));
    gather_latents_kernel<<<static_cast<unsigned>(L), 128, 0, c.stream>>>(
        p.cache.ptr<const bf16>(), p.cache.ld,
        p.block_table.ptr<const int32_t>() + s * p.block_table.ld, static_cast<int>(width), lat,
        false, CudnnExtras{});
    DUET_CUDA_LAUNCHED();
    Tensor latents = Tensor::matrix(lat, DType::kBF16, L, r);
    latents.ld = width;
    gemm(c, latents, p.kv_b, Tensor::matrix(kv, DType::kBF16, L, H * (dn + dv)));

    PrefillArgs a;
    a.q = p.q.ptr<const bf16>();
    a.ld_q = p.q.ld;
    a.q0 = q0;
    a.nq = nq;
    a.positions = p.positions.ptr<const int32_t>();
    a.kv = kv;
    a.lat = lat;
    a.L = static_cast<int>(L);
    a.heads = static_cast<int>(H);
    a.dn = static_cast<int>(dn);
    a.dr = static_cast<int>(dr);
    a.dv = static_cast<int>(dv);
    a.r = static_cast<int>(r);
    a.qkp = static_cast<int>(qkp);
    a.dvp = static_cast<int>(dvp);
    a.scale = p.scale;
    a.out = p.out.ptr<bf16>();
    a.ld_out = p.out.ld;
    dim3 grid(static_cast<unsigned>(ceil_div(nq, kRows)), static_cast<unsigned>(H));
    mla_prefill_kernel<<<grid, kThreads, smem, c.stream>>>(a);
    DUET_CUDA_LAUNCHED();
  }
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[2], c.stream));
}

}  // namespace duet::cuda
