// CudaBackend: memory, the streams and the op table. Every op enqueues on the main stream, or
// between begin_side and end_side on the side stream (forked from and joined back to the main one
// by events, which graph recording follows); the only host waits are copy_to_host, synchronize,
// and the MoE count read for large batches.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_prefill_cudnn.h"
#include "backend/cuda/op_profile.h"
#include "common/log.h"

namespace duet {
namespace cuda {

void* Context::workspace(WsSlot slot, size_t bytes) {
  bytes = bytes == 0 ? 256 : bytes;
  if (ws_bytes[slot] < bytes) {
    DUET_CHECK(!capturing, "cuda workspace slot ", static_cast<int>(slot), " must grow to ", bytes,
               " bytes while a graph is being recorded (run the shape once before recording)");
    ++ws_generation;
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
    DUET_CHECK(!capturing, "pinned staging must grow while a graph is being recorded");
    if (host_pinned) DUET_CUDA_CHECK(cudaFreeHost(host_pinned));
    host_pinned = nullptr;
    DUET_CUDA_CHECK(cudaMallocHost(&host_pinned, count * sizeof(int32_t)));
    host_pinned_count = count;
  }
  return host_pinned;
}

void* Context::upload(WsSlot slot, const void* src, size_t bytes) {
  void* dst = workspace(slot, bytes);
  if (!upload_done) DUET_CUDA_CHECK(cudaEventCreateWithFlags(&upload_done, cudaEventDisableTiming));
  DUET_CUDA_CHECK(cudaEventSynchronize(upload_done));  // the last copy has read the staging
  if (upload_pinned_bytes < bytes) {
    if (upload_pinned) DUET_CUDA_CHECK(cudaFreeHost(upload_pinned));
    upload_pinned = nullptr;
    const size_t grown = std::max(bytes, upload_pinned_bytes * 3 / 2);
    DUET_CUDA_CHECK(cudaMallocHost(&upload_pinned, grown));
    upload_pinned_bytes = grown;
  }
  std::memcpy(upload_pinned, src, bytes);
  DUET_CUDA_CHECK(cudaMemcpyAsync(dst, upload_pinned, bytes, cudaMemcpyHostToDevice, stream));
  DUET_CUDA_CHECK(cudaEventRecord(upload_done, stream));
  return dst;
}

}  // namespace cuda

namespace {

class CudaGraph final : public Graph {
 public:
  CudaGraph(cudaGraphExec_t exec, cudaStream_t stream) : exec_(exec), stream_(stream) {}
  ~CudaGraph() override { cudaGraphExecDestroy(exec_); }
  void replay() override { DUET_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

 private:
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
};

// cuBLAS gets a workspace of its own up front, so that it never allocates one lazily while a
// graph is being recorded.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    DUET_CUDA_CHECK(cudaSetDevice(0));
    DUET_CUDA_CHECK(cudaDeviceGetAttribute(&c_.num_sms, cudaDevAttrMultiProcessorCount, 0));
    // The main stream outranks the side one: where both have blocks waiting for an SM (the
    // routed experts' chain against the shared experts beside it), the critical chain's go
    // first when ops run eagerly. A recorded step replays every kernel at the main stream's
    // priority: honouring the side's lower one there (DUET_SIDE_PRIORITY=node) made batch 1
    // slower, 2.71 against 2.61 ms (H100, docs/PERFORMANCE.md). DUET_SIDE_PRIORITY=0 gives
    // both streams the default priority; =invert the side the higher one, honoured in replays.
    int least = 0, greatest = 0;
    DUET_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    const char* prio = std::getenv("DUET_SIDE_PRIORITY");
    const std::string prio_mode = prio ? prio : "";
    if (prio_mode == "0") least = greatest = 0;
    if (prio_mode == "invert") std::swap(least, greatest);
    node_priority_ = prio_mode == "node" || prio_mode == "invert";
    main_.priority = greatest;
    side_.priority = least;
    for (Queue* q : {&main_, &side_}) {
      DUET_CUDA_CHECK(cudaStreamCreateWithPriority(&q->stream, cudaStreamNonBlocking, q->priority));
      DUET_CUBLAS_CHECK(cublasCreate(&q->blas));
      DUET_CUBLAS_CHECK(cublasSetStream(q->blas, q->stream));
      // Plain fp32 accumulation: no reduced-precision reductions behind our back.
      DUET_CUBLAS_CHECK(cublasSetMathMode(q->blas, CUBLAS_DEFAULT_MATH));
      DUET_CUDA_CHECK(cudaMalloc(&q->blas_ws, kCublasWorkspaceBytes));
      DUET_CUBLAS_CHECK(cublasSetWorkspace(q->blas, q->blas_ws, kCublasWorkspaceBytes));
    }
    DUET_CUDA_CHECK(cudaEventCreateWithFlags(&fork_, cudaEventDisableTiming));
    DUET_CUDA_CHECK(cudaEventCreateWithFlags(&c_.side_done, cudaEventDisableTiming));
    c_.main_stream = main_.stream;
    c_.stream = main_.stream;
    c_.blas = main_.blas;
    // Benchmark baseline: side branches run in order on the main stream.
    if (const char* v = std::getenv("DUET_SIDE_STREAM"); v && std::strcmp(v, "0") == 0) {
      side_enabled_ = false;
      log_info("side branches on the main stream (DUET_SIDE_STREAM=0)");
    }
    int major = 0;
    DUET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
    c_.pdl = c_.l2_prefetch = c_.preload = major >= 9;
    if (const char* v = std::getenv("DUET_PDL"); v && std::strcmp(v, "0") == 0) {
      c_.pdl = c_.l2_prefetch = c_.preload = false;
      log_info("programmatic dependent launch off (DUET_PDL=0)");
    } else if (v && std::strcmp(v, "noprefetch") == 0) {
      c_.l2_prefetch = c_.preload = false;
      log_info("no weight prefetch before programmatic waits (DUET_PDL=noprefetch)");
    } else if (v && std::strcmp(v, "nopreload") == 0) {
      c_.preload = false;
      log_info("no weight loads before programmatic waits (DUET_PDL=nopreload)");
    }
    if (const char* v = std::getenv("DUET_ROUTE_TOPK"); v && std::strcmp(v, "loop") == 0) {
      c_.route_rank_topk = false;
      log_info("moe router: top k in k rounds (DUET_ROUTE_TOPK=loop)");
    }
    if (const char* v = std::getenv("DUET_ROUTE_NORM"); v && std::strcmp(v, "0") == 0) {
      c_.route_norm = false;
      log_info("moe router: the norm before it in its own launch (DUET_ROUTE_NORM=0)");
    }
    DUET_CUDA_CHECK(cudaMalloc(&c_.route_done, sizeof(unsigned)));
    DUET_CUDA_CHECK(cudaMemset(c_.route_done, 0, sizeof(unsigned)));
    DUET_CUDA_CHECK(cudaMalloc(&c_.greedy_done, cuda::kMaxGreedyRows * sizeof(unsigned)));
    DUET_CUDA_CHECK(cudaMemset(c_.greedy_done, 0, cuda::kMaxGreedyRows * sizeof(unsigned)));
    if (cuda::OpProfile::requested()) prof_ = std::make_unique<cuda::OpProfile>(c_.stream);
    // Benchmark baseline: MoE at prefill sizes on cuBLAS batches (counts read back) instead of
    // the warpgroup-MMA grouped kernel.
    if (const char* m = std::getenv("DUET_MOE_PREFILL"); m && std::strcmp(m, "cublas") == 0) {
      c_.moe_prefill_cublas = true;
      log_info("moe prefill: cuBLAS batches (DUET_MOE_PREFILL=cublas)");
    }
  }
  ~CudaBackend() override {
    cudaDeviceSynchronize();
    prof_.reset();
    for (void* p : c_.ws_ptr)
      if (p) cudaFree(p);
    if (c_.host_pinned) cudaFreeHost(c_.host_pinned);
    if (c_.upload_pinned) cudaFreeHost(c_.upload_pinned);
    if (c_.upload_done) cudaEventDestroy(c_.upload_done);
    cuda::cudnn_sdpa_destroy(c_.cudnn);
    for (Queue* q : {&main_, &side_}) {
      cublasDestroy(q->blas);
      cudaFree(q->blas_ws);
      cudaStreamDestroy(q->stream);
    }
    cudaEventDestroy(fork_);
    cudaEventDestroy(c_.side_done);
    cudaFree(c_.route_done);
    cudaFree(c_.greedy_done);
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
    DUET_CHECK(!c_.capturing, "alloc while a graph is being recorded");
    void* p = nullptr;
    DUET_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
    return p;
  }
  void release(void* p) override {
    // Work queued on the stream may still use p; cudaFree waits for the device.
    DUET_CUDA_CHECK(cudaFree(p));
  }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    DUET_CHECK(!c_.capturing, "copy_to_device while a graph is being recorded");
    // Pageable source: the runtime stages it before returning, so src may be reused at once.
    cuda::OpScope scope(prof_.get(), "copy_to_device", 0);
    if (n) DUET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c_.stream));
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    DUET_CHECK(!c_.capturing, "copy_to_host while a graph is being recorded");
    cuda::OpScope scope(prof_.get(), "copy_to_host", 0);
    join_side();
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
  void synchronize() override {
    DUET_CHECK(!c_.capturing, "synchronize while a graph is being recorded");
    join_side();
    DUET_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
  }

  // The side branch: the side stream waits for an event recorded on the main stream, and at the
  // join the main stream waits for one recorded on the side stream. Off while the per-op profile
  // is on (it times ops on the main stream) or with DUET_SIDE_STREAM=0.
  void begin_side() override {
    DUET_CHECK(!c_.on_side, "cuda: begin_side inside a side branch");
    if (!side_enabled_ || prof_) return;
    c_.join_side();  // one branch at a time: side_done is re-recorded below
    DUET_CUDA_CHECK(cudaEventRecord(fork_, main_.stream));
    DUET_CUDA_CHECK(cudaStreamWaitEvent(side_.stream, fork_, 0));
    c_.stream = side_.stream;
    c_.blas = side_.blas;
    c_.on_side = true;
  }
  void end_side() override {
    if (!c_.on_side) return;
    // Back on the main stream first, so an error below leaves no op redirected.
    c_.stream = main_.stream;
    c_.blas = main_.blas;
    c_.on_side = false;
    DUET_CUDA_CHECK(cudaEventRecord(c_.side_done, side_.stream));
    c_.side_pending = true;
  }
  void join_side() override {
    DUET_CHECK(!c_.on_side, "cuda: join_side inside a side branch");
    c_.join_side();
  }

  // Recording is refused while the per-op profile is on (it waits after every op).
  bool can_capture() const override { return !prof_; }
  void begin_capture() override {
    DUET_CHECK(!c_.capturing && !prof_ && !c_.on_side, "cuda: cannot begin recording a graph here");
    join_side();
    DUET_CUDA_CHECK(cudaStreamBeginCapture(c_.stream, cudaStreamCaptureModeThreadLocal));
    c_.capturing = true;
  }
  std::unique_ptr<Graph> end_capture() override {
    DUET_CHECK(c_.capturing, "cuda: end_capture without begin_capture");
    // A recording must end with every branch joined (one an error left open is ended here);
    // whatever fails on the way, the capture itself ends, so the stream takes work again.
    std::string branch_error;
    try {
      end_side();
      join_side();
    } catch (const std::exception& e) {
      branch_error = e.what();
    }
    c_.capturing = false;
    cudaGraph_t graph = nullptr;
    DUET_CUDA_CHECK(cudaStreamEndCapture(c_.stream, &graph));
    if (!branch_error.empty()) {
      cudaGraphDestroy(graph);
      fail(branch_error);
    }
    // Recorded kernels carry their stream's priority, but a replay runs them all at the launch
    // stream's unless told to use the nodes' own (node_priority_).
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiateWithFlags(
        &exec, graph, node_priority_ ? cudaGraphInstantiateFlagUseNodePriority : 0);
    cudaGraphDestroy(graph);
    DUET_CUDA_CHECK(err);
    return std::make_unique<CudaGraph>(exec, c_.stream);
  }
  uint64_t workspace_generation() const override { return c_.ws_generation; }

  void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "embedding", out.rows);
    cuda::embedding(c_, ids, table, out);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "rms_norm", x.rows);
    cuda::rms_norm(c_, x, w, eps, out, nullptr);
  }
  void add_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                    const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "add_rms_norm", x.rows);
    cuda::rms_norm(c_, residual, w, eps, out, &x);
  }
  void add2_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& x2, const Tensor& w,
                     float eps, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "add2_rms_norm", x.rows);
    cuda::rms_norm(c_, residual, w, eps, out, &x, &x2);
  }
  void add(const Tensor& y, const Tensor& x) override {
    cuda::OpScope scope(prof_.get(), "add", y.rows);
    cuda::add(c_, y, x);
  }
  void silu_mul(const Tensor& gate_up, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "silu_mul", out.rows);
    cuda::silu_mul(c_, gate_up, out);
  }
  void gemm_silu_mul(const Tensor& x, const Tensor& w, const Tensor& gate_up,
                     const Tensor& out) override {
    {
      cuda::OpScope scope(prof_.get(), "gemm_silu_mul", x.rows);
      if (cuda::skinny_gemm_silu_mul(c_, x, w, out)) return;
    }
    Backend::gemm_silu_mul(x, w, gate_up, out);
  }
  void gather_rows(const Tensor& x, const Tensor& rows, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "gather_rows", out.rows);
    cuda::gather_rows(c_, x, rows, out);
  }
  void to_f32(const Tensor& x, const Tensor& out) override {
    cuda::OpScope scope(prof_.get(), "to_f32", x.rows);
    cuda::convert(c_, x, out);
  }
  void gemm(const Tensor& x, const Tensor& w, const Tensor& y) override {
    cuda::OpScope scope(prof_.get(),
                        prof_ ? "gemm " + std::to_string(w.rows) + "x" + std::to_string(w.cols) +
                                    (y.dtype == DType::kF32 ? " f32 out" : "")
                              : std::string(),
                        x.rows);
    cuda::gemm(c_, x, w, y);
  }
  void gemm_pair(const Tensor& x, const Tensor& w1, const Tensor& y1, const Tensor& w2,
                 const Tensor& y2) override {
    cuda::OpScope scope(prof_.get(), "gemm_pair", x.rows);
    if (cuda::skinny_gemm_pair(c_, x, w1, y1, w2, y2)) return;
    cuda::gemm(c_, x, w1, y1);
    cuda::gemm(c_, x, w2, y2);
  }
  void rope_q(const Tensor& q, const Tensor& positions, const RopeParams& rope, int64_t heads,
              int64_t nope_dim) override {
    cuda::OpScope scope(prof_.get(), "rope_q", q.rows);
    cuda::rope_q(c_, q, positions, rope, heads, nope_dim);
  }
  void mla_cache_write(const Tensor& ckv, const Tensor& norm_w, float eps, const Tensor& positions,
                       const Tensor& slots, const RopeParams& rope, const Tensor& cache) override {
    cuda::OpScope scope(prof_.get(), "mla_cache_write", ckv.rows);
    cuda::mla_cache_write(c_, ckv, norm_w, eps, positions, slots, rope, cache);
  }
  void mla_cache_write_and_rope_q(const Tensor& ckv, const Tensor& norm_w, float eps,
                                  const Tensor& positions, const Tensor& slots,
                                  const RopeParams& rope, const Tensor& cache, const Tensor& q,
                                  int64_t heads, int64_t nope_dim) override {
    cuda::OpScope scope(prof_.get(), "mla_cache_write_and_rope_q", ckv.rows);
    cuda::mla_cache_write(c_, ckv, norm_w, eps, positions, slots, rope, cache, &q, heads, nope_dim);
  }
  void mla_attention(const MlaParams& p) override {
    // Decode sequences (absorbed form) and prefill sequences (expanded form) write disjoint
    // rows of p.out, so the two launches are independent. A pending side branch (the cache
    // write with q's RoPE) is joined by mla_decode after its q absorption, which reads only q's
    // no-RoPE columns, or here. (Running that write inside the absorption's launch instead, as
    // extra CTAs, measured no faster: the branch's join costs nothing visible.)
    DUET_CHECK(!c_.on_side, "cuda: mla_attention inside a side branch");
    {
      cuda::OpScope scope(prof_.get(), "mla_decode", p.q.rows);
      cuda::mla_decode(c_, p);
    }
    c_.join_side();
    cuda::OpScope scope(prof_.get(), "mla_prefill", p.q.rows);
    cuda::mla_prefill(c_, p);
  }
  void add_rms_norm_route(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                          const Tensor& out, const RouterParams& p) override {
    {
      cuda::OpScope scope(prof_.get(), "add_rms_norm_route", x.rows);
      if (cuda::add_rms_norm_route(c_, residual, x, w, eps, out, p)) return;
    }
    Backend::add_rms_norm_route(residual, x, w, eps, out, p);
  }
  void moe_route(const RouterParams& p) override {
    cuda::OpScope scope(prof_.get(), "moe_route", p.x.rows);
    cuda::moe_route(c_, p);
  }
  void moe_experts(const ExpertParams& p) override {
    cuda::OpScope scope(prof_.get(), "moe_experts", p.x.rows);
    cuda::moe_experts(c_, p);
  }
  cuda::Context& context() { return c_; }
  void sample_tokens(const Tensor& logits, const std::vector<SampleSpec>& specs,
                     const Tensor& tokens) override {
    cuda::OpScope scope(prof_.get(), "sample_tokens", logits.rows);
    cuda::sample_tokens(c_, logits, specs, tokens);
  }

 private:
  // A stream with its own cuBLAS handle and workspace (two handles never share a workspace).
  struct Queue {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    void* blas_ws = nullptr;
    int priority = 0;
  };
  cuda::Context c_;
  std::unique_ptr<cuda::OpProfile> prof_;  // DUET_CUDA_PROFILE=1 only
  Queue main_, side_;
  cudaEvent_t fork_ = nullptr;
  bool side_enabled_ = true;
  bool node_priority_ = false;  // replays honour the recorded kernels' stream priorities
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<CudaBackend>();
}

namespace {

// Mean device time per call of each of the `n_events - 1` phases that mla_attention marks with
// Context::mla_phase_events, over `iters` calls queued back to back and read after one sync.
std::vector<double> mla_phase_means(Backend& be, const MlaParams& p, int iters, int n_events) {
  cuda::Context& c = dynamic_cast<CudaBackend&>(be).context();
  std::vector<cudaEvent_t> ev(static_cast<size_t>(n_events * iters));
  for (auto& e : ev) DUET_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < iters; ++i) {
    c.mla_phase_events = ev.data() + n_events * i;
    be.mla_attention(p);
  }
  c.mla_phase_events = nullptr;
  DUET_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  std::vector<double> us(static_cast<size_t>(n_events - 1), 0.0);
  for (int i = 0; i < iters; ++i)
    for (int k = 0; k + 1 < n_events; ++k) {
      float ms = 0;
      const size_t e = static_cast<size_t>(n_events * i + k);
      DUET_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[e], ev[e + 1]));
      us[static_cast<size_t>(k)] += 1e3 * ms / iters;
    }
  for (auto& e : ev) DUET_CUDA_CHECK(cudaEventDestroy(e));
  return us;
}

}  // namespace

MlaDecodePhaseTimes cuda_mla_decode_phase_times(Backend& be, const MlaParams& p, int iters,
                                                bool generic_kernel, int variant) {
  cuda::Context& c = dynamic_cast<CudaBackend&>(be).context();
  c.mla_force_generic = generic_kernel;
  c.mla_variant = variant;
  const std::vector<double> us = mla_phase_means(be, p, iters, 4);
  c.mla_force_generic = false;
  c.mla_variant = 0;
  return MlaDecodePhaseTimes{us[0], us[1], us[2]};
}

MlaPrefillPhaseTimes cuda_mla_prefill_phase_times(Backend& be, const MlaParams& p, int iters) {
  const std::vector<double> us = mla_phase_means(be, p, iters, 3);
  return MlaPrefillPhaseTimes{us[0], us[1]};
}

int64_t cuda_norm_routes_in_one_launch(Backend& be) {
  return dynamic_cast<CudaBackend&>(be).context().norm_routes_fused;
}

void cuda_moe_experts_path(Backend& be, int path) {
  cuda::Context& c = dynamic_cast<CudaBackend&>(be).context();
  c.moe_path = path;
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
