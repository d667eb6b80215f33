// Row-wise elementwise ops and RMSNorm. One block per row, fp32 arithmetic, one rounding to the
// output dtype at the end (bf16 activations carry no intermediate rounding beyond HF's).
#include <cmath>
#include <initializer_list>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rms_norm_row.cuh"

namespace duet::cuda {
namespace {

constexpr int kThreads = 256;
static_assert(kThreads == kNormThreads, "the vector RMSNorm runs a block of kNormThreads");

// Calls f with a typed null pointer of the tensor's element type (bf16 or f32).
template <typename F>
void dispatch_float(DType t, F&& f) {
  if (t == DType::kBF16) {
    f(static_cast<bf16*>(nullptr));
  } else {
    DUET_CHECK(t == DType::kF32, "cuda: expected a bf16 or f32 tensor, got ", dtype_name(t));
    f(static_cast<float*>(nullptr));
  }
}

// Vector forms of the row kernels below, for rows of a multiple of 8 values at 16-byte aligned
// addresses: every thread moves 8 values per load, and issues all its loads before its first
// store. The scalar loops took 4-7 us for a single 2048-wide row (ncu, H100, decode at batch 1:
// each thread's dependent loads ran one after another), a fixed cost paid several times per
// layer.

// rms_norm_kernel for rows of at most 8 kNormChunks kNormThreads values, the row held in
// registers (rms_norm_row.cuh).
template <typename TR, typename TX, typename TW, typename TO>
__global__ void __launch_bounds__(kNormThreads)
    rms_norm_vec_kernel(TR* res, int64_t ld_res, const TX* x, int64_t ld_x, const TX* x2,
                        int64_t ld_x2, const TW* w, float eps, TO* out, int64_t ld_out,
                        int64_t cols) {
  pdl_launch_dependents();
  pdl_wait();
  __shared__ float red[kNormThreads / 32];
  const int64_t t = blockIdx.x;
  TR* r = res + t * ld_res;
  const int chunks = static_cast<int>(cols / 8);
  // The weights load with the row (not after the reduction): one round trip to memory fewer.
  float v[kNormChunks][8], wv[kNormChunks][8];
  norm_load_weights(w, chunks, wv);
  norm_load_row(r, x ? x + t * ld_x : nullptr, x2 ? x2 + t * ld_x2 : nullptr, chunks, v);
  if (x) {  // the norm reads the residual as stored
#pragma unroll
    for (int i = 0; i < kNormChunks; ++i) {
      const int ch = static_cast<int>(threadIdx.x) + i * kNormThreads;
      if (ch >= chunks) break;
      store8(r + ch * 8, v[i]);
    }
  }
  const float inv = norm_inv_rms(v, chunks, cols, eps, red);
#pragma unroll
  for (int i = 0; i < kNormChunks; ++i) {
    const int ch = static_cast<int>(threadIdx.x) + i * kNormThreads;
    if (ch >= chunks) break;
    float o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = wv[i][j] * (v[i][j] * inv);
    store8(out + t * ld_out + ch * 8, o);
  }
}

template <typename T>
__global__ void add_vec_kernel(T* y, int64_t ld_y, const T* x, int64_t ld_x, int64_t cols) {
  const int64_t t = blockIdx.x;
  for (int64_t c = 8 * threadIdx.x; c < cols; c += 8 * blockDim.x) {
    float a[8], b[8];
    load8(y + t * ld_y + c, a);
    load8(x + t * ld_x + c, b);
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] += b[j];
    store8(y + t * ld_y + c, a);
  }
}

template <typename T>
__global__ void silu_mul_vec_kernel(const T* g, int64_t ld_g, T* out, int64_t ld_out,
                                    int64_t inter) {
  const int64_t t = blockIdx.x;
  for (int64_t c = 8 * threadIdx.x; c < inter; c += 8 * blockDim.x) {
    float a[8], b[8];
    load8(g + t * ld_g + c, a);
    load8(g + t * ld_g + inter + c, b);
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] = a[j] / (1.0f + expf(-a[j])) * b[j];
    store8(out + t * ld_out + c, a);
  }
}

// Whether the vector kernels take rows of `cols` values of these tensors.
bool vec_rows(int64_t cols, std::initializer_list<const Tensor*> ts) {
  if (cols % 8 != 0) return false;
  for (const Tensor* t : ts)
    if (t && (t->ld % 8 != 0 || reinterpret_cast<uintptr_t>(t->data) % 16 != 0)) return false;
  return true;
}

template <typename TT, typename TO>
__global__ void embedding_kernel(const int32_t* ids, const TT* table, int64_t ld_table, TO* out,
                                 int64_t ld_out, int64_t cols) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t t = blockIdx.x;
  const TT* src = table + static_cast<int64_t>(ids[t]) * ld_table;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[t * ld_out + c] = from_float<TO>(to_float(src[c]));
}

// out = w * (r * rsqrt(mean(r^2) + eps)) with r = res, or r = res + x stored back first. The
// residual stream res may be f32 while x and out are bf16 (a wider residual, measured on the
// golden fixtures, did not bring the CUDA run closer to fp64 than a bf16 one; see PERFORMANCE.md).
template <typename TR, typename TX, typename TW, typename TO>
__global__ void rms_norm_kernel(TR* res, int64_t ld_res, const TX* x, int64_t ld_x, const TX* x2,
                                int64_t ld_x2, const TW* w, float eps, TO* out, int64_t ld_out,
                                int64_t cols) {
  pdl_launch_dependents();
  pdl_wait();
  __shared__ float red[kThreads / 32];
  const int64_t t = blockIdx.x;
  TR* r = res + t * ld_res;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = to_float(r[c]);
    if (x) {
      // The norm reads the residual as stored (rounded when the stream is bf16).
      float xv = to_float(x[t * ld_x + c]);
      if (x2) xv = to_float(from_float<TX>(xv + to_float(x2[t * ld_x2 + c])));
      const TR sum = from_float<TR>(v + xv);
      r[c] = sum;
      v = to_float(sum);
    }
    ss += v * v;
  }
  const float mean = block_sum(ss, red) / static_cast<float>(cols);
  const float inv = 1.0f / sqrtf(mean + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[t * ld_out + c] = from_float<TO>(to_float(w[c]) * (to_float(r[c]) * inv));
}

template <typename T>
__global__ void add_kernel(T* y, int64_t ld_y, const T* x, int64_t ld_x, int64_t cols) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    y[t * ld_y + c] = from_float<T>(to_float(y[t * ld_y + c]) + to_float(x[t * ld_x + c]));
}

template <typename T>
__global__ void silu_mul_kernel(const T* g, int64_t ld_g, T* out, int64_t ld_out, int64_t inter) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < inter; c += blockDim.x) {
    const float a = to_float(g[t * ld_g + c]), b = to_float(g[t * ld_g + inter + c]);
    out[t * ld_out + c] = from_float<T>(a / (1.0f + expf(-a)) * b);
  }
}

template <typename TI, typename TO>
__global__ void gather_kernel(const TI* x, int64_t ld_x, const int32_t* rows, TO* out,
                              int64_t ld_out, int64_t cols) {
  const int64_t i = blockIdx.x;
  const int64_t src = rows ? rows[i] : i;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[i * ld_out + c] =
        src < 0 ? from_float<TO>(0.0f) : from_float<TO>(to_float(x[src * ld_x + c]));
}

template <typename T>
__global__ void fill_kernel(T* p, int64_t ld, int64_t batch_stride, int64_t rows, int64_t cols,
                            T v) {
  const int64_t row = blockIdx.x;  // over batch * rows
  T* r = p + (row / rows) * batch_stride + (row % rows) * ld;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) r[c] = v;
}

}  // namespace

void embedding(Context& c, const Tensor& ids, const Tensor& table, const Tensor& out) {
  if (out.rows == 0) return;
  dispatch_float(table.dtype, [&](auto* tt) {
    using TT = std::remove_pointer_t<decltype(tt)>;
    dispatch_float(out.dtype, [&](auto* to) {
      using TO = std::remove_pointer_t<decltype(to)>;
      launch_pdl(c, embedding_kernel<TT, TO>, dim3(static_cast<unsigned>(out.rows)), kThreads, 0,
                 ids.ptr<const int32_t>(), table.ptr<const TT>(), table.ld, out.ptr<TO>(), out.ld,
                 out.cols);
    });
  });
}

void rms_norm(Context& c, const Tensor& x, const Tensor& w, float eps, const Tensor& out,
              const Tensor* residual_add, const Tensor* residual_add2) {
  if (x.rows == 0) return;
  DUET_CHECK(w.cols == x.cols && out.cols == x.cols, "rms_norm: shapes differ");
  DUET_CHECK(!residual_add2 || (residual_add && residual_add2->dtype == residual_add->dtype &&
                                residual_add2->cols == x.cols),
             "rms_norm: second addend");
  const DType add_dtype = residual_add ? residual_add->dtype : out.dtype;
  dispatch_float(x.dtype, [&](auto* tr) {
    using TR = std::remove_pointer_t<decltype(tr)>;
    dispatch_float(add_dtype, [&](auto* tx) {
      using TX = std::remove_pointer_t<decltype(tx)>;
      dispatch_float(w.dtype, [&](auto* tw) {
        using TW = std::remove_pointer_t<decltype(tw)>;
        dispatch_float(out.dtype, [&](auto* to) {
          using TO = std::remove_pointer_t<decltype(to)>;
          const TX* add = residual_add ? residual_add->ptr<const TX>() : nullptr;
          const int64_t ld_add = residual_add ? residual_add->ld : 0;
          const TX* add2 = residual_add2 ? residual_add2->ptr<const TX>() : nullptr;
          const int64_t ld_add2 = residual_add2 ? residual_add2->ld : 0;
          auto* kernel = vec_rows(x.cols, {&x, residual_add, residual_add2, &w, &out}) &&
                                 x.cols <= 8 * kNormChunks * kNormThreads
                             ? rms_norm_vec_kernel<TR, TX, TW, TO>
                             : rms_norm_kernel<TR, TX, TW, TO>;
          launch_pdl(c, kernel, dim3(static_cast<unsigned>(x.rows)), kThreads, 0, x.ptr<TR>(), x.ld,
                     add, ld_add, add2, ld_add2, w.ptr<const TW>(), eps, out.ptr<TO>(), out.ld,
                     x.cols);
        });
      });
    });
  });
}

void add(Context& c, const Tensor& y, const Tensor& x) {
  if (y.rows == 0) return;
  DUET_CHECK(y.dtype == x.dtype, "add: dtypes differ");
  dispatch_float(y.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    auto* kernel = vec_rows(y.cols, {&y, &x}) ? add_vec_kernel<T> : add_kernel<T>;
    kernel<<<y.rows, kThreads, 0, c.stream>>>(y.ptr<T>(), y.ld, x.ptr<const T>(), x.ld, y.cols);
  });
  DUET_CUDA_LAUNCHED();
}

void silu_mul(Context& c, const Tensor& gate_up, const Tensor& out) {
  if (out.rows == 0) return;
  DUET_CHECK(gate_up.dtype == out.dtype && gate_up.cols == 2 * out.cols, "silu_mul shapes");
  dispatch_float(out.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    auto* kernel =
        vec_rows(out.cols, {&gate_up, &out}) ? silu_mul_vec_kernel<T> : silu_mul_kernel<T>;
    kernel<<<out.rows, kThreads, 0, c.stream>>>(gate_up.ptr<const T>(), gate_up.ld, out.ptr<T>(),
                                                out.ld, out.cols);
  });
  DUET_CUDA_LAUNCHED();
}

void gather_rows(Context& c, const Tensor& x, const Tensor& rows, const Tensor& out) {
  if (out.rows == 0) return;
  dispatch_float(x.dtype, [&](auto* ti) {
    using TI = std::remove_pointer_t<decltype(ti)>;
    dispatch_float(out.dtype, [&](auto* to) {
      using TO = std::remove_pointer_t<decltype(to)>;
      gather_kernel<<<out.rows, kThreads, 0, c.stream>>>(
          x.ptr<const TI>(), x.ld, rows.ptr<const int32_t>(), out.ptr<TO>(), out.ld, out.cols);
    });
  });
  DUET_CUDA_LAUNCHED();
}

void convert(Context& c, const Tensor& x, const Tensor& out) {
  if (out.rows == 0) return;
  DUET_CHECK(x.rows == out.rows && x.cols == out.cols, "convert: shapes differ");
  dispatch_float(x.dtype, [&](auto* ti) {
    using TI = std::remove_pointer_t<decltype(ti)>;
    dispatch_float(out.dtype, [&](auto* to) {
      using TO = std::remove_pointer_t<decltype(to)>;
      gather_kernel<<<out.rows, kThreads, 0, c.stream>>>(x.ptr<const TI>(), x.ld, nullptr,
                                                         out.ptr<TO>(), out.ld, out.cols);
    });
  });
  DUET_CUDA_LAUNCHED();
}

void fill(Context& c, const Tensor& t, float value) {
  const int64_t rows = t.batch * t.rows;
  if (rows == 0 || t.cols == 0) return;
  if (t.dtype == DType::kBF16) {
    fill_kernel<<<rows, kThreads, 0, c.stream>>>(t.ptr<bf16>(), t.ld, t.batch_stride, t.rows,
                                                 t.cols, __float2bfloat16_rn(value));
  } else if (t.dtype == DType::kF32) {
    fill_kernel<<<rows, kThreads, 0, c.stream>>>(t.ptr<float>(), t.ld, t.batch_stride, t.rows,
                                                 t.cols, value);
  } else {
    DUET_CHECK(value == 0.0f && t.elem_size() == 4, "fill: unsupported dtype");
    fill_kernel<<<rows, kThreads, 0, c.stream>>>(t.ptr<int32_t>(), t.ld, t.batch_stride, t.rows,
                                                 t.cols, 0);
  }
  DUET_CUDA_LAUNCHED();
}

}  // namespace duet::cuda
