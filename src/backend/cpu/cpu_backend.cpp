// The CPU reference backend: host memory, f32 activations and latent cache, bf16 (or f32)
// weights. Synchronous: every op has finished when it returns.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "backend/backend.h"
#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"
#include "common/thread_pool.h"

namespace duet {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads) {}

  std::string name() const override { return "cpu"; }
  DType act_dtype() const override { return DType::kF32; }
  DType cache_dtype() const override { return DType::kF32; }
  DType weight_dtype(DType ck) const override {
    return ck == DType::kF32 ? DType::kF32 : DType::kBF16;
  }

  void* alloc(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p) override { std::free(p); }
  void copy_to_device(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_device(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void fill_zero(const Tensor& t) override { fill(t, 0.0f); }
  void fill_nan(const Tensor& t) override { fill(t, std::numeric_limits<float>::quiet_NaN()); }
  void synchronize() override {}

  void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) override {
    const int32_t* id = ids.ptr<const int32_t>();
    pool_.parallel_for(out.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        DUET_CHECK(id[t] >= 0 && id[t] < table.rows, "token id ", id[t], " out of range");
        float* o = out.ptr<float>() + t * out.ld;
        if (table.dtype == DType::kBF16) {
          const uint16_t* src = table.ptr<const uint16_t>() + id[t] * table.ld;
          for (int64_t c = 0; c < out.cols; ++c) o[c] = cpu::load_bf16(src + c);
        } else {
          std::memcpy(o, table.ptr<const float>() + id[t] * table.ld, out.cols * sizeof(float));
        }
      }
    });
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    pool_.parallel_for(x.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        cpu::rms_norm_row(x.ptr<const float>() + t * x.ld, w, eps, out.ptr<float>() + t * out.ld,
                          x.cols);
    });
  }

  void add_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                    const Tensor& out) override {
    pool_.parallel_for(x.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        float* r = residual.ptr<float>() + t * residual.ld;
        const float* xr = x.ptr<const float>() + t * x.ld;
        for (int64_t c = 0; c < x.cols; ++c) r[c] += xr[c];
        cpu::rms_norm_row(r, w, eps, out.ptr<float>() + t * out.ld, x.cols);
      }
    });
  }

  void add(const Tensor& y, const Tensor& x) override {
    pool_.parallel_for(y.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        float* yr = y.ptr<float>() + t * y.ld;
        const float* xr = x.ptr<const float>() + t * x.ld;
        for (int64_t c = 0; c < y.cols; ++c) yr[c] += xr[c];
      }
    });
  }

  void silu_mul(const Tensor& gate_up, const Tensor& out) override {
    const int64_t I = out.cols;
    pool_.parallel_for(out.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const float* g = gate_up.ptr<const float>() + t * gate_up.ld;
        float* o = out.ptr<float>() + t * out.ld;
        for (int64_t c = 0; c < I; ++c) o[c] = cpu::silu(g[c]) * g[I + c];
      }
    });
  }

  void gather_rows(const Tensor& x, const Tensor& rows, const Tensor& out) override {
    const int32_t* r = rows.ptr<const int32_t>();
    for (int64_t i = 0; i < out.rows; ++i) {
      float* o = out.ptr<float>() + i * out.ld;
      if (r[i] < 0) {
        std::memset(o, 0, out.cols * sizeof(float));
      } else {
        std::memcpy(o, x.ptr<const float>() + r[i] * x.ld, out.cols * sizeof(float));
      }
    }
  }

  void to_f32(const Tensor& x, const Tensor& out) override {
    for (int64_t i = 0; i < x.rows; ++i)
      std::memcpy(out.ptr<float>() + i * out.ld, x.ptr<const float>() + i * x.ld,
                  x.cols * sizeof(float));
  }

  void gemm(const Tensor& x, const Tensor& w, const Tensor& y) override {
    cpu::gemm(pool_, x, w, y);
  }
  void rope_q(const Tensor& q, const Tensor& positions, const RopeParams& rope, int64_t heads,
              int64_t nope_dim) override {
    cpu::rope_q(pool_, q, positions, rope, heads, nope_dim);
  }
  void mla_cache_write(const Tensor& ckv, const Tensor& norm_w, float eps, const Tensor& positions,
                       const Tensor& slots, const RopeParams& rope, const Tensor& cache) override {
    cpu::mla_cache_write(pool_, ckv, norm_w, eps, positions, slots, rope, cache);
  }
  void mla_attention(const MlaParams& p) override { cpu::mla_attention(pool_, p); }
  void moe_route(const RouterParams& p) override { cpu::moe_route(pool_, p); }
  void moe_experts(const ExpertParams& p) override { cpu::moe_experts(pool_, p); }

  void sample_tokens(const Tensor& logits, const std::vector<SampleSpec>& specs,
                     const Tensor& tokens) override {
    DUET_CHECK(logits.dtype == DType::kF32 && tokens.dtype == DType::kI32 &&
                   static_cast<int64_t>(specs.size()) == logits.rows &&
                   tokens.numel() == logits.rows,
               "sample_tokens: logits f32 [R, V], tokens i32 [R] and R specs");
    pool_.parallel_for(logits.rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        tokens.ptr<int32_t>()[r] =
            sample_row(logits.ptr<const float>() + r * logits.ld, logits.cols, specs[r]);
    });
  }

 private:
  void fill(const Tensor& t, float v) {
    if (t.dtype == DType::kF32) {
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t i = 0; i < t.rows; ++i) {
          float* row = static_cast<float*>(t.at(b, i));
          for (int64_t c = 0; c < t.cols; ++c) row[c] = v;
        }
    } else {
      DUET_CHECK(v == 0.0f || t.dtype == DType::kBF16, "fill: unsupported dtype");
      const uint16_t bits = t.dtype == DType::kBF16 ? f32_to_bf16(v) : 0;
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t i = 0; i < t.rows; ++i) {
          auto* row = static_cast<uint8_t*>(t.at(b, i));
          if (t.elem_size() == 2) {
            for (int64_t c = 0; c < t.cols; ++c) std::memcpy(row + 2 * c, &bits, 2);
          } else {
            std::memset(row, 0, t.cols * t.elem_size());
          }
        }
    }
  }

  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace duet
