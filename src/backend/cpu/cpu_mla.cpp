// CPU MLA: RoPE, the latent-cache write and attention over the paged latent cache, in both the
// expanded form (prefill: K/V up-projected per head by kv_b_proj) and the absorbed form
// (decode: W_UK folded into q, W_UV applied after attention). Every token attends to keys read
// back from the cache, so chunking a prompt never changes its result.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"

namespace duet::cpu {

void rope_inplace(float* x, int32_t position, const RopeParams& rope) {
  const float* inv_freq = rope.inv_freq.ptr<const float>();
  const float pos = static_cast<float>(position);
  for (int64_t i = 0; i < rope.dim / 2; ++i) {
    // As transformers: angle in fp32, cos/sin scaled by the yarn attention factor.
    const float angle = pos * inv_freq[i];
    const float c = std::cos(angle) * rope.attention_factor;
    const float s = std::sin(angle) * rope.attention_factor;
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x1 * c + x0 * s;
  }
}

void rms_norm_row(const float* x, const Tensor& w, float eps, float* out, int64_t n) {
  const float mean = dot(x, x, n) / static_cast<float>(n);
  const float r = 1.0f / std::sqrt(mean + eps);
  if (w.dtype == DType::kBF16) {
    const auto* wd = w.ptr<const uint16_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = load_bf16(wd + i) * (x[i] * r);
  } else {
    const float* wd = w.ptr<const float>();
    for (int64_t i = 0; i < n; ++i) out[i] = wd[i] * (x[i] * r);
  }
}

void rope_q(ThreadPool& pool, const Tensor& q, const Tensor& positions, const RopeParams& rope,
            int64_t heads, int64_t nope_dim) {
  const int64_t head_dim = nope_dim + rope.dim;
  DUET_CHECK(q.cols == heads * head_dim, "rope_q: q has ", q.cols, " columns");
  const int32_t* pos = positions.ptr<const int32_t>();
  pool.parallel_for(q.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* row = q.ptr<float>() + t * q.ld;
      for (int64_t h = 0; h < heads; ++h) rope_inplace(row + h * head_dim + nope_dim, pos[t], rope);
    }
  });
}

void mla_cache_write(ThreadPool& pool, const Tensor& ckv, const Tensor& norm_w, float eps,
                     const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                     const Tensor& cache) {
  const int64_t r = norm_w.cols;
  DUET_CHECK(ckv.cols == r + rope.dim && cache.cols == ckv.cols, "mla_cache_write shapes");
  const int32_t* pos = positions.ptr<const int32_t>();
  const int32_t* slot = slots.ptr<const int32_t>();
  pool.parallel_for(ckv.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      DUET_CHECK(slot[t] >= 0 && slot[t] < cache.rows, "cache slot ", slot[t], " out of range");
      const float* src = ckv.ptr<const float>() + t * ckv.ld;
      float* dst = cache.ptr<float>() + static_cast<int64_t>(slot[t]) * cache.ld;
      rms_norm_row(src, norm_w, eps, dst, r);
      std::copy(src + r, src + r + rope.dim, dst + r);
      rope_inplace(dst + r, pos[t], rope);
    }
  });
}

namespace {

// Cache row of key j of sequence s.
inline const float* cache_row(const MlaParams& p, int64_t s, int64_t j) {
  const int32_t* bt = p.block_table.ptr<const int32_t>() + s * p.block_table.ld;
  const int64_t row = static_cast<int64_t>(bt[j / kKvBlockSize]) * kKvBlockSize + j % kKvBlockSize;
  return p.cache.ptr<const float>() + row * p.cache.ld;
}

// In-place softmax of scores[0..n); returns nothing, leaves probabilities.
void softmax(float* scores, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, scores[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - m);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) scores[j] *= inv;
}

template <typename TW>
void decode_head(const MlaParams& p, int64_t s, int64_t h, std::vector<float>& scratch) {
  const int64_t dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t qk = dn + dr;
  const int32_t q0 = p.host_q_start[s], q1 = p.host_q_start[s + 1];
  const int32_t* pos = p.positions.ptr<const int32_t>();
  const TW* w_uk = p.kv_b.ptr<const TW>() + h * (dn + dv) * p.kv_b.ld;  // [dn, r]
  const TW* w_uv = w_uk + dn * p.kv_b.ld;                               // [dv, r]
  scratch.resize(2 * r + static_cast<size_t>(p.host_kv_len[s]));
  float* q_lat = scratch.data();
  float* o_lat = q_lat + r;
  float* scores = o_lat + r;
  for (int32_t t = q0; t < q1; ++t) {
    const float* q = p.q.ptr<const float>() + t * p.q.ld + h * qk;
    // q_lat = W_UK^T q_nope, accumulated over d in order.
    std::fill(q_lat, q_lat + r, 0.0f);
    for (int64_t d = 0; d < dn; ++d) axpy(q[d], w_uk + d * p.kv_b.ld, q_lat, r);
    const int64_t n = static_cast<int64_t>(pos[t]) + 1;  // causal: keys 0..position
    DUET_CHECK(n <= p.host_kv_len[s], "query position beyond the cached keys");
    for (int64_t j = 0; j < n; ++j) {
      const float* c = cache_row(p, s, j);
      scores[j] = (dot(q_lat, c, r) + dot(q + dn, c + r, dr)) * p.scale;
    }
    softmax(scores, n);
    std::fill(o_lat, o_lat + r, 0.0f);
    for (int64_t j = 0; j < n; ++j) axpy(scores[j], cache_row(p, s, j), o_lat, r);
    float* out = p.out.ptr<float>() + t * p.out.ld + h * dv;
    for (int64_t v = 0; v < dv; ++v) out[v] = dot(o_lat, w_uv + v * p.kv_b.ld, r);
  }
}

// Expanded form for one sequence: K/V of every cached key up-projected for a group of heads.
void prefill_seq(ThreadPool& pool, const MlaParams& p, int64_t s, std::vector<float>& latents,
                 std::vector<float>& kv) {
  const int64_t dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t qk = dn + dr, L = p.host_kv_len[s];
  const int32_t q0 = p.host_q_start[s], q1 = p.host_q_start[s + 1];
  const int32_t* pos = p.positions.ptr<const int32_t>();
  const int64_t width = r + dr;
  latents.resize(static_cast<size_t>(L * width));
  for (int64_t j = 0; j < L; ++j)
    std::copy_n(cache_row(p, s, j), width, latents.data() + j * width);
  Tensor lat = Tensor::matrix(latents.data(), DType::kF32, L, r);
  lat.ld = width;
  // Heads per group so the expanded K/V stay within ~64 MB.
  const int64_t per_head = L * (dn + dv);
  const int64_t group =
      std::clamp<int64_t>((int64_t{16} << 20) / std::max<int64_t>(per_head, 1), 1, p.heads);
  for (int64_t h0 = 0; h0 < p.heads; h0 += group) {
    const int64_t h1 = std::min(p.heads, h0 + group);
    kv.resize(static_cast<size_t>(L * (h1 - h0) * (dn + dv)));
    Tensor kvt = Tensor::matrix(kv.data(), DType::kF32, L, (h1 - h0) * (dn + dv));
    gemm(pool, lat, p.kv_b.slice_rows(h0 * (dn + dv), h1 * (dn + dv)), kvt);
    const int64_t nq = q1 - q0;
    pool.run(nq * (h1 - h0), [&](int64_t task) {
      const int64_t t = q0 + task / (h1 - h0), hl = task % (h1 - h0), h = h0 + hl;
      thread_local std::vector<float> scores;
      const int64_t n = static_cast<int64_t>(pos[t]) + 1;
      DUET_CHECK(n <= L, "query position beyond the cached keys");
      scores.resize(static_cast<size_t>(n));
      const float* q = p.q.ptr<const float>() + t * p.q.ld + h * qk;
      for (int64_t j = 0; j < n; ++j) {
        const float* k_nope = kv.data() + j * kvt.ld + hl * (dn + dv);
        const float* k_rope = latents.data() + j * width + r;
        scores[j] = (dot(q, k_nope, dn) + dot(q + dn, k_rope, dr)) * p.scale;
      }
      softmax(scores.data(), n);
      float* out = p.out.ptr<float>() + t * p.out.ld + h * dv;
      std::fill(out, out + dv, 0.0f);
      for (int64_t j = 0; j < n; ++j)
        axpy(scores[j], kv.data() + j * kvt.ld + hl * (dn + dv) + dn, out, dv);
    });
  }
}

}  // namespace

void mla_attention(ThreadPool& pool, const MlaParams& p) {
  DUET_CHECK(p.q.dtype == DType::kF32 && p.cache.dtype == DType::kF32, "cpu mla: f32 only");
  std::vector<int64_t> decode_seqs;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    if (p.host_q_start[s + 1] == p.host_q_start[s]) continue;
    if (p.host_decode[s]) decode_seqs.push_back(s);
  }
  // Decode sequences: one task per (sequence, head).
  const int64_t H = p.heads;
  pool.run(static_cast<int64_t>(decode_seqs.size()) * H, [&](int64_t task) {
    thread_local std::vector<float> scratch;
    const int64_t s = decode_seqs[task / H], h = task % H;
    if (p.kv_b.dtype == DType::kBF16)
      decode_head<uint16_t>(p, s, h, scratch);
    else
      decode_head<float>(p, s, h, scratch);
  });
  std::vector<float> latents, kv;
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    if (p.host_q_start[s + 1] == p.host_q_start[s] || p.host_decode[s]) continue;
    prefill_seq(pool, p, s, latents, kv);
  }
}

}  // namespace duet::cpu
