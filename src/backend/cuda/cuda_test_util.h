// Test fixture for the CUDA op tests: every CUDA op against the CPU reference op on random inputs:
// the CPU sees the same bf16-rounded inputs in f32, outputs are poisoned with NaN first, and
// tolerances are scaled to bf16 (8 significant bits) relative to the largest reference value.
#pragma once

#include <gtest/gtest.h>

#include <cstring>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/cuda_backend.h"

namespace duet {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(d(rng)));  // exactly representable in bf16
  return v;
}

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_device_available()) GTEST_SKIP() << "no usable CUDA device";
    be = make_cuda_backend();
  }
  // A device tensor [rows, cols] (ld >= cols) holding v in dtype.
  Tensor upload(const std::vector<float>& v, int64_t rows, int64_t cols, DType dt = DType::kBF16,
                int64_t ld = 0) {
    ld = ld ? ld : cols;
    std::vector<uint16_t> h16;
    std::vector<float> h32;
    const size_t n = static_cast<size_t>(std::max<int64_t>(rows * ld, 1));
    if (dt == DType::kBF16)
      h16.assign(n, f32_to_bf16(NAN));
    else
      h32.assign(n, NAN);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        if (dt == DType::kBF16)
          h16[r * ld + c] = f32_to_bf16(v[r * cols + c]);
        else
          h32[r * ld + c] = v[r * cols + c];
      }
    bufs.emplace_back(*be, n * dtype_size(dt));
    be->copy_to_device(bufs.back().get(),
                       dt == DType::kBF16 ? (void*)h16.data() : (void*)h32.data(),
                       n * dtype_size(dt));
    Tensor t = Tensor::matrix(bufs.back().get(), dt, rows, cols);
    t.ld = ld;
    return t;
  }
  Tensor upload_i32(const std::vector<int32_t>& v, int64_t rows, int64_t cols) {
    bufs.emplace_back(*be, std::max<size_t>(v.size(), 1) * 4);
    if (!v.empty()) be->copy_to_device(bufs.back().get(), v.data(), v.size() * 4);
    return Tensor::matrix(bufs.back().get(), DType::kI32, rows, cols);
  }
  Tensor empty(int64_t rows, int64_t cols, DType dt = DType::kBF16) {
    bufs.emplace_back(*be, std::max<int64_t>(rows * cols, 1) * dtype_size(dt));
    Tensor t = Tensor::matrix(bufs.back().get(), dt, rows, cols);
    if (dt != DType::kI32) be->fill_nan(t);
    return t;
  }
  std::vector<float> download(const Tensor& t) {
    std::vector<float> out(static_cast<size_t>(t.rows * t.cols));
    // A strided view ends at its last row's last column, not at rows * ld.
    const int64_t span = t.rows ? (t.rows - 1) * t.ld + t.cols : 0;
    std::vector<uint8_t> raw(static_cast<size_t>(std::max<int64_t>(span, 1)) * t.elem_size());
    if (t.rows) be->copy_to_host(raw.data(), t.data, span * t.elem_size());
    for (int64_t r = 0; r < t.rows; ++r)
      for (int64_t c = 0; c < t.cols; ++c) {
        const size_t i = r * t.ld + c;
        if (t.dtype == DType::kBF16) {
          uint16_t b;
          std::memcpy(&b, raw.data() + 2 * i, 2);
          out[r * t.cols + c] = bf16_to_f32(b);
        } else if (t.dtype == DType::kI32) {
          int32_t b;
          std::memcpy(&b, raw.data() + 4 * i, 4);
          out[r * t.cols + c] = static_cast<float>(b);
        } else {
          std::memcpy(&out[r * t.cols + c], raw.data() + 4 * i, 4);
        }
      }
    return out;
  }
  // max |got - ref| <= rel * max(|ref|) (+ a floor for all-small references); NaN fails.
  static void expect_close(const std::vector<float>& got, const std::vector<float>& ref, float rel,
                           const std::string& what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    float scale = 1e-3f, worst = 0.0f;
    for (float r : ref) scale = std::max(scale, std::abs(r));
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const float e = std::abs(got[i] - ref[i]);
      if (!(e <= worst)) {
        worst = std::isnan(e) ? INFINITY : e;
        at = i;
      }
    }
    EXPECT_LE(worst, rel * scale) << what << ": worst at " << at << " got " << got[at] << " ref "
                                  << ref[at] << " (scale " << scale << ")";
  }

  std::unique_ptr<Backend> be;
  std::vector<DeviceBuffer> bufs;
  ThreadPool pool{2};
};

}  // namespace duet
