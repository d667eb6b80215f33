// Dense matrix products through cuBLAS: y = x w^T in row-major terms, which is the column-major
// product y^T = w x^T (w read transposed). bf16 or f32 in, fp32 accumulation (CUBLAS_COMPUTE_32F,
// never the reduced-precision or tf32 modes), bf16 or f32 out.
#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {
namespace {

cudaDataType_t cuda_type(DType t) {
  if (t == DType::kBF16) return CUDA_R_16BF;
  DUET_CHECK(t == DType::kF32, "gemm: bf16 or f32 only, got ", dtype_name(t));
  return CUDA_R_32F;
}

}  // namespace

void gemm(Context& c, const Tensor& x, const Tensor& w, const Tensor& y) {
  DUET_CHECK(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows, "gemm shapes: x [", x.rows,
             ",", x.cols, "] w [", w.rows, ",", w.cols, "] y [", y.rows, ",", y.cols, "]");
  const int64_t T = x.rows, N = w.rows, K = x.cols;
  if (T == 0 || N == 0) return;
  if (skinny_gemm(c, x, w, y)) return;
  Tensor xin = x;
  if (x.dtype != w.dtype) {
    // cuBLAS wants A and B of one type: bring the activations to the weights' type.
    // xin: [T, K] in w's dtype.
    void* buf = c.workspace(c.on_side ? kWsConvertSide : kWsConvert,
                            static_cast<size_t>(T * K) * dtype_size(w.dtype));
    xin = Tensor::matrix(buf, w.dtype, T, K);
    convert(c, x, xin);
  }
  const float alpha = 1.0f, beta = 0.0f;
  DUET_CUBLAS_CHECK(cublasGemmEx(
      c.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(T),
      static_cast<int>(K), &alpha, w.data, cuda_type(w.dtype), static_cast<int>(w.ld), xin.data,
      cuda_type(xin.dtype), static_cast<int>(xin.ld), &beta, y.data, cuda_type(y.dtype),
      static_cast<int>(y.ld), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void gemm_strided_batched(Context& c, int64_t batch, int64_t T, int64_t N, int64_t K, const bf16* x,
                          int64_t ldx, int64_t stride_x, const bf16* w, int64_t ldw,
                          int64_t stride_w, bf16* y, int64_t ldy, int64_t stride_y,
                          bool w_transposed) {
  if (batch == 0 || T == 0 || N == 0) return;
  // 1-2 rows (MLA decode's per-head products at batch 1-2): cuBLAS took about 6 us per call.
  if (skinny_gemm_strided_batched(c, batch, T, N, K, x, ldx, stride_x, w, ldw, stride_w, y, ldy,
                                  stride_y, w_transposed))
    return;
  const float alpha = 1.0f, beta = 0.0f;
  // w_transposed: w is stored [K, N] row-major, i.e. already column-major [N, K].
  DUET_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      c.blas, w_transposed ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N),
      static_cast<int>(T), static_cast<int>(K), &alpha, w, CUDA_R_16BF, static_cast<int>(ldw),
      stride_w, x, CUDA_R_16BF, static_cast<int>(ldx), stride_x, &beta, y, CUDA_R_16BF,
      static_cast<int>(ldy), stride_y, static_cast<int>(batch), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

}  // namespace duet::cuda
