// CPU GEMM: y = x w^T, tiled so each task reuses a block of weight rows across a block of
// tokens. Every output element is one dot product in the fixed order of cpu_math.h, so the
// tiling and the thread count never change a result.
#include <algorithm>

#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"

namespace duet::cpu {
namespace {

constexpr int64_t kRowsPerTask = 32;     // weight rows per task
constexpr int64_t kTokensPerTask = 128;  // tokens per task

template <typename TW>
void gemm_tile(const Tensor& x, const Tensor& w, const Tensor& y, int64_t t0, int64_t t1,
               int64_t n0, int64_t n1) {
  const int64_t K = x.cols;
  const auto* xd = x.ptr<const float>();
  const auto* wd = w.ptr<const TW>();
  float* yd = y.ptr<float>();
  auto xrow = [&](int64_t t) { return xd + t * x.ld; };
  auto wrow = [&](int64_t n) { return wd + n * w.ld; };
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) {
    const float* a[4] = {xrow(t), xrow(t + 1), xrow(t + 2), xrow(t + 3)};
    int64_t n = n0;
    for (; n + 2 <= n1; n += 2) {
      const TW* b[2] = {wrow(n), wrow(n + 1)};
      float out[4][2];
      dot_block<4, 2>(a, b, K, out);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j) yd[(t + i) * y.ld + n + j] = out[i][j];
    }
    for (; n < n1; ++n) {
      const TW* b[1] = {wrow(n)};
      float out[4][1];
      dot_block<4, 1>(a, b, K, out);
      for (int i = 0; i < 4; ++i) yd[(t + i) * y.ld + n] = out[i][0];
    }
  }
  for (; t < t1; ++t) {
    const float* a[1] = {xrow(t)};
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
      const TW* b[4] = {wrow(n), wrow(n + 1), wrow(n + 2), wrow(n + 3)};
      float out[1][4];
      dot_block<1, 4>(a, b, K, out);
      for (int j = 0; j < 4; ++j) yd[t * y.ld + n + j] = out[0][j];
    }
    for (; n < n1; ++n) {
      const TW* b[1] = {wrow(n)};
      float out[1][1];
      dot_block<1, 1>(a, b, K, out);
      yd[t * y.ld + n] = out[0][0];
    }
  }
}

}  // namespace

void gemm(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor& y) {
  DUET_CHECK(x.dtype == DType::kF32 && y.dtype == DType::kF32, "cpu gemm: f32 activations");
  DUET_CHECK(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows, "gemm shapes: x [", x.rows,
             ",", x.cols, "] w [", w.rows, ",", w.cols, "] y [", y.rows, ",", y.cols, "]");
  const int64_t T = x.rows, N = w.rows;
  if (T == 0 || N == 0) return;
  const int64_t tb = (T + kTokensPerTask - 1) / kTokensPerTask;
  const int64_t nb = (N + kRowsPerTask - 1) / kRowsPerTask;
  pool.run(tb * nb, [&](int64_t task) {
    const int64_t ti = task / nb, ni = task % nb;
    const int64_t t0 = ti * kTokensPerTask, t1 = std::min(T, t0 + kTokensPerTask);
    const int64_t n0 = ni * kRowsPerTask, n1 = std::min(N, n0 + kRowsPerTask);
    if (w.dtype == DType::kBF16) {
      gemm_tile<uint16_t>(x, w, y, t0, t1, n0, n1);
    } else {
      DUET_CHECK(w.dtype == DType::kF32, "cpu gemm: weights must be bf16 or f32");
      gemm_tile<float>(x, w, y, t0, t1, n0, n1);
    }
  });
}

}  // namespace duet::cpu
