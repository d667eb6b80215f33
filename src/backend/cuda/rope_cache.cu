// RoPE on q and the fused latent-cache write (RMSNorm of the latent, RoPE of k_rope, store at
// the token's paged slot). Angles in fp32 with precise sinf/cosf, as transformers computes them.
#include <type_traits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/pdl.cuh"

namespace duet::cuda {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ void rope_pair(float& x0, float& x1, int32_t pos, float inv_freq,
                                          float factor) {
  const float angle = static_cast<float>(pos) * inv_freq;
  const float c = cosf(angle) * factor, s = sinf(angle) * factor;
  const float a = x0, b = x1;
  x0 = a * c - b * s;
  x1 = b * c + a * s;
}

// q: [T, heads * head_dim]; the last rope_dim values of each head rotate in interleaved pairs.
struct RopeQ {
  bf16* q = nullptr;
  int64_t ld = 0;
  int heads = 0, head_dim = 0, nope_dim = 0;
};

// Row t of q, by one block.
__device__ __forceinline__ void rope_q_row(const RopeQ& a, int64_t t, int32_t pos,
                                           const float* inv_freq, int half, float factor) {
  bf16* q = a.q;
  const int64_t ld = a.ld;
  const int heads = a.heads, head_dim = a.head_dim, nope_dim = a.nope_dim;
  for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
    const int h = i / half, k = i % half;
    bf16* p = q + t * ld + h * head_dim + nope_dim + 2 * k;
    float x0 = __bfloat162float(p[0]), x1 = __bfloat162float(p[1]);
    rope_pair(x0, x1, pos, inv_freq[k], factor);
    p[0] = __float2bfloat16_rn(x0);
    p[1] = __float2bfloat16_rn(x1);
  }
}

__global__ void rope_q_kernel(RopeQ a, const int32_t* positions, const float* inv_freq, int half,
                              float factor) {
  pdl_launch_dependents();
  pdl_wait();
  rope_q_row(a, blockIdx.x, positions[blockIdx.x], inv_freq, half, factor);
}

// One block per new token: cache[slot] = rms_norm(ckv[:r]) * w | rope(ckv[r:r+dr]); with rq.q
// also the token's row of q (rope_q), saving a launch per layer.
template <typename TW>
__global__ void cache_write_kernel(const bf16* ckv, int64_t ld_ckv, const TW* w, float eps, int r,
                                   const int32_t* positions, const int32_t* slots,
                                   const float* inv_freq, int half, float factor, bf16* cache,
                                   int64_t ld_cache, RopeQ rq) {
  pdl_launch_dependents();
  pdl_wait();
  __shared__ float red[kThreads / 32];
  const int64_t t = blockIdx.x;
  const bf16* src = ckv + t * ld_ckv;
  bf16* dst = cache + static_cast<int64_t>(slots[t]) * ld_cache;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < r; c += blockDim.x) {
    const float v = __bfloat162float(src[c]);
    ss += v * v;
  }
  const float total = block_sum(ss, red);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(r) + eps);
  for (int c = threadIdx.x; c < r; c += blockDim.x)
    dst[c] = __float2bfloat16_rn(to_float(w[c]) * (__bfloat162float(src[c]) * inv));
  const int32_t pos = positions[t];
  for (int k = threadIdx.x; k < half; k += blockDim.x) {
    float x0 = __bfloat162float(src[r + 2 * k]), x1 = __bfloat162float(src[r + 2 * k + 1]);
    rope_pair(x0, x1, pos, inv_freq[k], factor);
    dst[r + 2 * k] = __float2bfloat16_rn(x0);
    dst[r + 2 * k + 1] = __float2bfloat16_rn(x1);
  }
  if (rq.q) rope_q_row(rq, t, pos, inv_freq, half, factor);
}

// Rotates the 4 interleaved pairs of v, pair j at frequency f[j].
__device__ __forceinline__ void rope8(float (&v)[8], int32_t pos, const float (&f)[4],
                                      float factor) {
#pragma unroll
  for (int j = 0; j < 4; ++j) rope_pair(v[2 * j], v[2 * j + 1], pos, f[j], factor);
}

constexpr int kMaxQChunks = 8;  // q rope chunks per thread: heads * rope_dim / 8 <= 1024

// cache_write_kernel for 16-byte aligned rows of multiples of 8 values: every thread issues
// all its loads (a latent chunk, its norm weights, a chunk of q's rope part and their
// frequencies) before the first use, so a token costs one round trip to memory instead of one
// per loop. The scalar kernel took 8.8 us per layer at one decode token (ncu, H100), the
// latency of its dependent loads.
template <typename TW>
__global__ void __launch_bounds__(kThreads)
    cache_write_vec_kernel(const bf16* ckv, int64_t ld_ckv, const TW* w, float eps, int r,
                           const int32_t* positions, const int32_t* slots, const float* inv_freq,
                           int half, float factor, bf16* cache, int64_t ld_cache, RopeQ rq) {
  pdl_launch_dependents();
  pdl_wait();
  __shared__ float red[kThreads / 32];
  const int64_t t = blockIdx.x;
  const int i = threadIdx.x, r8 = r / 8, d8 = half / 4;  // chunks of the latent, of k_rope
  const bool latent = i < r8, krope = i >= r8 && i < r8 + d8;
  float v[8] = {}, wv[8] = {}, f[4] = {}, qv[kMaxQChunks][8] = {}, qf[kMaxQChunks][4] = {};
  if (latent || krope) load8(ckv + t * ld_ckv + 8 * i, v);
  if (latent) load8(w + 8 * i, wv);
  if (krope) {
    const float4 a = reinterpret_cast<const float4*>(inv_freq)[i - r8];
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w;
  }
  const int q8 = rq.q ? rq.heads * d8 : 0;  // q's rope chunks
#pragma unroll
  for (int j = 0; j < kMaxQChunks; ++j) {
    const int c = i + j * kThreads;
    if (c >= q8) break;
    const int h = c / d8, k = c % d8;
    load8(rq.q + t * rq.ld + h * rq.head_dim + rq.nope_dim + 8 * k, qv[j]);
    const float4 a = reinterpret_cast<const float4*>(inv_freq)[k];
    qf[j][0] = a.x, qf[j][1] = a.y, qf[j][2] = a.z, qf[j][3] = a.w;
  }
  const int32_t pos = positions[t];
  const int64_t slot = slots[t];
  float ss = 0.0f;
#pragma unroll
  for (int e = 0; e < 8; ++e) ss += v[e] * v[e];  // zero outside the latent
  if (!latent) ss = 0.0f;
  const float total = block_sum(ss, red);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(r) + eps);
  bf16* dst = cache + slot * ld_cache;
  if (latent) {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = wv[e] * (v[e] * inv);
    store8(dst + 8 * i, v);
  } else if (krope) {
    rope8(v, pos, f, factor);
    store8(dst + 8 * i, v);
  }
#pragma unroll
  for (int j = 0; j < kMaxQChunks; ++j) {
    const int c = i + j * kThreads;
    if (c >= q8) break;
    const int h = c / d8, k = c % d8;
    rope8(qv[j], pos, qf[j], factor);
    store8(rq.q + t * rq.ld + h * rq.head_dim + rq.nope_dim + 8 * k, qv[j]);
  }
}

}  // namespace

namespace {

RopeQ rope_q_args(const Tensor& q, const RopeParams& rope, int64_t heads, int64_t nope_dim) {
  const int64_t head_dim = nope_dim + rope.dim;
  DUET_CHECK(q.dtype == DType::kBF16 && q.cols == heads * head_dim, "rope_q: q [", q.rows, ",",
             q.cols, "]");
  return RopeQ{q.ptr<bf16>(), q.ld, static_cast<int>(heads), static_cast<int>(head_dim),
               static_cast<int>(nope_dim)};
}

}  // namespace

void rope_q(Context& c, const Tensor& q, const Tensor& positions, const RopeParams& rope,
            int64_t heads, int64_t nope_dim) {
  const RopeQ a = rope_q_args(q, rope, heads, nope_dim);
  if (q.rows == 0) return;
  launch_pdl(c, rope_q_kernel, dim3(static_cast<unsigned>(q.rows)), kThreads, 0, a,
             positions.ptr<const int32_t>(), rope.inv_freq.ptr<const float>(),
             static_cast<int>(rope.dim / 2), rope.attention_factor);
}

void mla_cache_write(Context& c, const Tensor& ckv, const Tensor& norm_w, float eps,
                     const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                     const Tensor& cache, const Tensor* q, int64_t heads, int64_t nope_dim) {
  const int64_t r = norm_w.cols;
  DUET_CHECK(ckv.cols == r + rope.dim && cache.cols == ckv.cols, "mla_cache_write shapes");
  DUET_CHECK(ckv.dtype == DType::kBF16 && cache.dtype == DType::kBF16, "mla_cache_write: bf16");
  const RopeQ rq = q ? rope_q_args(*q, rope, heads, nope_dim) : RopeQ{};
  DUET_CHECK(!q || q->rows == ckv.rows, "mla_cache_write: q and ckv rows differ");
  if (ckv.rows == 0) return;
  // The vector kernel: rows of multiples of 8 values at 16-byte aligned addresses, one chunk of
  // the latent or k_rope per thread, at most eight of q's rope part.
  const int64_t half = rope.dim / 2;
  const bool vec = r % 8 == 0 && rope.dim % 8 == 0 && r / 8 + rope.dim / 8 <= kThreads &&
                   ckv.ld % 8 == 0 && cache.ld % 8 == 0 && aligned16(ckv.data) &&
                   aligned16(cache.data) && aligned16(norm_w.data) &&
                   aligned16(rope.inv_freq.data) &&
                   (!q || (rq.head_dim % 8 == 0 && rq.nope_dim % 8 == 0 && rq.ld % 8 == 0 &&
                           aligned16(rq.q) && rq.heads * rope.dim / 8 <= kMaxQChunks * kThreads));
  auto launch = [&](auto* w) {
    using TW = std::remove_const_t<std::remove_pointer_t<decltype(w)>>;
    auto* kernel = vec ? cache_write_vec_kernel<TW> : cache_write_kernel<TW>;
    launch_pdl(c, kernel, dim3(static_cast<unsigned>(ckv.rows)), kThreads, 0, ckv.ptr<const bf16>(),
               ckv.ld, w, eps, static_cast<int>(r), positions.ptr<const int32_t>(),
               slots.ptr<const int32_t>(), rope.inv_freq.ptr<const float>(), static_cast<int>(half),
               rope.attention_factor, cache.ptr<bf16>(), cache.ld, rq);
  };
  if (norm_w.dtype == DType::kF32)
    launch(norm_w.ptr<const float>());
  else
    launch(norm_w.ptr<const bf16>());
}

}  // namespace duet::cuda
