// Dot products with one fixed summation order, used by every CPU op so that a value never
// depends on how work was batched or split over threads: 8 lanes accumulate with FMA over
// k = lane (mod 8), lanes are summed in a fixed tree, then the tail is added in order. The
// AVX2 path and the portable path compute bit-identical results (std::fma is exact-rounded).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DUET_CPU_AVX2 1
#endif

namespace duet::cpu {

inline float load_bf16(const uint16_t* p) {
  uint32_t bits = static_cast<uint32_t>(*p) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

#ifdef DUET_CPU_AVX2
inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
inline __m256 load8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// Fixed reduction tree: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
inline float reduce8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);                  // l0+l4, l1+l5, l2+l6, l3+l7
  __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
  __m128 u = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
  return _mm_cvtss_f32(u);
}
#endif

inline float elem(const float* p, int64_t i) {
  return p[i];
}
inline float elem(const uint16_t* p, int64_t i) {
  return load_bf16(p + i);
}

inline float reduce8_scalar(const float* l) {
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

// Computes MT x NR dot products: out[i][j] = a_i . b_j over n elements.
template <int MT, int NR, typename TA, typename TB>
inline void dot_block(const TA* const* a, const TB* const* b, int64_t n, float (*out)[NR]) {
  const int64_t n8 = n & ~int64_t{7};
#ifdef DUET_CPU_AVX2
  __m256 acc[MT][NR];
  for (int i = 0; i < MT; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n8; k += 8) {
    __m256 bv[NR];
    for (int j = 0; j < NR; ++j) bv[j] = load8(b[j] + k);
    for (int i = 0; i < MT; ++i) {
      const __m256 av = load8(a[i] + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MT; ++i)
    for (int j = 0; j < NR; ++j) out[i][j] = reduce8(acc[i][j]);
#else
  for (int i = 0; i < MT; ++i)
    for (int j = 0; j < NR; ++j) {
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t k = 0; k < n8; k += 8)
        for (int l = 0; l < 8; ++l)
          lanes[l] = std::fma(elem(a[i], k + l), elem(b[j], k + l), lanes[l]);
      out[i][j] = reduce8_scalar(lanes);
    }
#endif
  if (n8 != n) {
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NR; ++j) {
        float tail = 0.0f;
        for (int64_t k = n8; k < n; ++k) tail = std::fma(elem(a[i], k), elem(b[j], k), tail);
        out[i][j] += tail;
      }
  }
}

template <typename TA, typename TB>
inline float dot(const TA* a, const TB* b, int64_t n) {
  float out[1][1];
  dot_block<1, 1>(&a, &b, n, out);
  return out[0][0];
}

// y[i] += s * x[i], in index order.
inline void axpy(float s, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(s, x[i], y[i]);
}
template <typename T>
inline void axpy(float s, const T* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(s, elem(x, i), y[i]);
}

inline float silu(float x) {
  return x / (1.0f + std::exp(-x));
}

}  // namespace duet::cpu
