// CudaBackend: memory, the stream and the op table. Every op enqueues on one stream; the only
// host waits are copy_to_host, synchronize, and the MoE count read for large batches.
#include <cmath>
#include <limits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_prefill_cudnn.h"

namespace duet {
namespace cuda {

void* Context::workspace(WsSlot slot, size_t bytes) {
  bytes = bytes == 0 ? 256 : bytes;
  if (ws_bytes[slot] < bytes) {
    // Grow by 1.5x so a slowly growing batch reallocates rarely. cudaFree waits for queued
    // work that may still read the old buffer.
    const size_t grown = std::max(bytes, ws_bytes[slot] * 3 / 2);
    if (ws_ptr[slot]) DUET_CUDA_CHECK(cudaFree(ws_ptr[slot]));
    ws_ptr[slot] = nullptr;
    DUET_CUDA_CHECK(cudaMalloc(&ws_ptr[slot], grown));
    ws_bytes[slot] = grown;
  }
  return ws_ptr[slot];
}

int32_t* Context::pinned(size_t count) {
  if (host_pinned_count < count) {
    if (host_pinned) DUET_CUDA_CHECK(cudaFreeHost(host_pinned));
    host_pinned = nullptr;
    DUET_CUDA_CHECK(cudaMallocHost(&host_pinned, count * sizeof(int32_t)));
    host_pinned_count = count;
  }
  return host_pinned;
}

}  // namespace cuda

namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    DUET_CUDA_CHECK(cudaSetDevice(0));
    DUET_CUDA_CHECK(cudaDeviceGetAttribute(&c_.num_sms, cudaDevAttrMultiProcessorCount, 0));
    DUET_CUDA_CHECK(cudaStreamCreateWithFlags(&c_.stream, cudaStreamNonBlocking));
    DUET_CUBLAS_CHECK(cublasCreate(&c_.blas));
    DUET_CUBLAS_CHECK(cublasSetStream(c_.blas, c_.stream));
    // Plain fp32 accumulation: no reduced-precision reductions behind our back.
    DUET_CUBLAS_CHECK(cublasSetMathMode(c_.blas, CUBLAS_DEFAULT_MATH));
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(c_.stream);
    for (void* p : c_.ws_ptr)
      if (p) cudaFree(p);
    if (c_.host_pinned) cudaFreeHost(c_.host_pinned);
    cuda::cudnn_sdpa_destroy(c_.cudnn);
    cublasDestroy(c_.blas);
    cudaStreamDestroy(c_.stream);
  }

  std::string name() const override { return "cuda"; }
  std::pair<size_t, size_t> memory_info() const override {
    size_t free = 0, total = 0;
    DUET_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return {free, total};
  }
  DType act_dtype() const override { return DType::kBF16; }
  DType cache_dtype() const override { return DType::kBF16; }
  DType weight_dtype(DType) const override { return DType::kBF16; }

  void* alloc(size_t bytes) override {
    void* p = nullptr;
    DUET_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
    return p;
  }
  void release(void* p) override {
    // Work queued on the stream may still use p; cudaFree waits for the device.
    DUET_CUDA_CHECK(cudaFree(p));
  }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    // Pageable source: the runtime stages it before returning, so src may be reused at once.
    if (n) DUET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c_.stream));
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    if (n) DUET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c_.stream));
    DUET_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
  }
  void copy_device(void* dst, const void* src, size_t n) override {
    if (n) DUET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, c_.stream));
  }
  void fill_zero(const Tensor& t) override { cuda::fill(c_, t, 0.0f); }
  void fill_nan(const Tensor& t) override {
    cuda::fill(c_, t, std::numeric_limits<float>::quiet_NaN());
  }
  void synchronize() override { DUET_CUDA_CHECK(cudaStreamSynchronize(c_.stream)); }

  void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) override {
    cuda::embedding(c_, ids, table, out);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    cuda::rms_norm(c_, x, w, eps, out, nullptr);
  }
  void add_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                    const Tensor& out) override {
    cuda::rms_norm(c_, residual, w, eps, out, &x);
  }
  void add(const Tensor& y, const Tensor& x) override { cuda::add(c_, y, x); }
  void silu_mul(const Tensor& gate_up, const Tensor& out) override {
    cuda::silu_mul(c_, gate_up, out);
  }
  void gather_rows(const Tensor& x, const Tensor& rows, const Tensor& out) override {
    cuda::gather_rows(c_, x, rows, out);
  }
  void to_f32(const Tensor& x, const Tensor& out) override { cuda::convert(c_, x, out); }
  void gemm(const Tensor& x, const Tensor& w, const Tensor& y) override { cuda::gemm(c_, x, w, y); }
  void rope_q(const Tensor& q, const Tensor& positions, const RopeParams& rope, int64_t heads,
              int64_t nope_dim) override {
    cuda::rope_q(c_, q, positions, rope, heads, nope_dim);
  }
  void mla_cache_write(const Tensor& ckv, const Tensor& norm_w, float eps, const Tensor& positions,
                       const Tensor& slots, const RopeParams& rope, const Tensor& cache) override {
    cuda::mla_cache_write(c_, ckv, norm_w, eps, positions, slots, rope, cache);
  }
  void mla_attention(const MlaParams& p) override {
    // Decode sequences (absorbed form) and prefill sequences (expanded form) write disjoint
    // rows of p.out, so the two launches are independent.
    cuda::mla_decode(c_, p);
    cuda::mla_prefill(c_, p);
  }
  void moe_route(const RouterParams& p) override { cuda::moe_route(c_, p); }
  void moe_experts(const ExpertParams& p) override { cuda::moe_experts(c_, p); }

 private:
  cuda::Context c_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<CudaBackend>();
}

bool cuda_device_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess)
    return false;
  return major == 9;  // built for sm_90a only
}

}  // namespace duet
