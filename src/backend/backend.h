// The backend interface: memory and the ops the DeepSeek-V3-family forward needs. model/ is
// written once against it; cpu/ is the reference, cuda/ the fast one. Ops are asynchronous in
// spirit: they enqueue work, and host code reads device memory only through copy_to_host (the
// sync points: sampled tokens, logits, the per-step DP record).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/op_params.h"
#include "backend/sample_spec.h"
#include "backend/tensor.h"
#include "common/error.h"

namespace duet {

// A recorded sequence of ops (a CUDA graph): replay() enqueues all of them again with the same
// arguments and addresses, at the cost of one launch.
class Graph {
 public:
  virtual ~Graph() = default;
  virtual void replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Activation dtype (f32 on CPU, bf16 on CUDA) and latent-cache dtype.
  virtual DType act_dtype() const = 0;
  virtual DType cache_dtype() const = 0;
  // Dtype matrices are stored in (bf16 on both; f32 checkpoints keep f32 on CPU).
  virtual DType weight_dtype(DType checkpoint_dtype) const = 0;

  // ---- memory
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;  // waits for the work
  virtual void copy_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(const Tensor& t) = 0;
  // Writes NaN into every element (tests poison unused rows with it).
  virtual void fill_nan(const Tensor& t) = 0;
  virtual void synchronize() = 0;
  // Device memory still free (and the total), for sizing the KV cache after the weights;
  // {0, 0} for host backends, whose cache is sized from system memory.
  virtual std::pair<size_t, size_t> memory_info() const { return {0, 0}; }

  // ---- recording (CUDA graphs). Between begin_capture and end_capture ops are recorded, not
  // run, and nothing may read device memory back or grow a workspace. Backends that cannot
  // record return false from can_capture.
  virtual bool can_capture() const { return false; }
  virtual void begin_capture() { fail("this backend cannot record graphs"); }
  virtual std::unique_ptr<Graph> end_capture() { fail("this backend cannot record graphs"); }
  // Changes whenever a backend workspace moves: graphs recorded before then hold stale
  // addresses and must be recorded again.
  virtual uint64_t workspace_generation() const { return 0; }

  // ---- a side branch: ops enqueued between begin_side() and end_side() start after everything
  // enqueued before begin_side() and may run concurrently with what the main queue does next,
  // until join_side(), after which the main queue also waits for them. Between end_side() and
  // join_side() neither branch may write what the other reads or writes. A backend without
  // concurrency runs the branch in order (these are no-ops). Reads back (copy_to_host,
  // synchronize) wait for an unjoined branch too.
  virtual void begin_side() {}
  virtual void end_side() {}
  virtual void join_side() {}

  // ---- elementwise and normalisation. Shapes: T rows.
  // out[t] = table[ids[t]]; ids I32 [T], table [V, H], out [T, H].
  virtual void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) = 0;
  // out = x * rsqrt(mean(x^2) + eps) * w; x, out [T, D] (may alias), w [D].
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) = 0;
  // residual += x; out = rms_norm(residual). residual, x, out [T, D].
  virtual void add_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                            const Tensor& out) = 0;
  // add_rms_norm(residual, x + x2, w, eps, out) with x + x2 rounded to x's type (x2 [T, D]), as
  // add(x, x2) then add_rms_norm would compute it; x is scratch afterwards (a backend may do it
  // all in one pass and leave x as it was).
  virtual void add2_rms_norm(const Tensor& residual, const Tensor& x, const Tensor& x2,
                             const Tensor& w, float eps, const Tensor& out) {
    add(x, x2);
    add_rms_norm(residual, x, w, eps, out);
  }
  // y += x, both [T, D].
  virtual void add(const Tensor& y, const Tensor& x) = 0;
  // out = silu(gate_up[:, :I]) * gate_up[:, I:]; gate_up [T, 2I], out [T, I].
  virtual void silu_mul(const Tensor& gate_up, const Tensor& out) = 0;
  // out[r] = x[rows[r]]; rows I32 [R] (entries < 0 give zero rows), out [R, D].
  virtual void gather_rows(const Tensor& x, const Tensor& rows, const Tensor& out) = 0;
  // Converts x to f32 out (same shape).
  virtual void to_f32(const Tensor& x, const Tensor& out) = 0;

  // ---- matrix products: y = x w^T with x [T, K] activations, w [N, K] weights, y [T, N].
  // Row-independent: row t of y depends only on row t of x.
  virtual void gemm(const Tensor& x, const Tensor& w, const Tensor& y) = 0;
  // y1 = x w1^T and y2 = x w2^T: two products of the same activations (a backend may run them as
  // one).
  virtual void gemm_pair(const Tensor& x, const Tensor& w1, const Tensor& y1, const Tensor& w2,
                         const Tensor& y2) {
    gemm(x, w1, y1);
    gemm(x, w2, y2);
  }
  // The SwiGLU half of an MLP: out [T, I] = silu(x w[:I]^T) * (x w[I:]^T) for a gate_up weight
  // w [2I, K]; gate_up [T, 2I] is scratch a backend may use for the product (as the default
  // does; a backend may also fuse the two and never write it).
  virtual void gemm_silu_mul(const Tensor& x, const Tensor& w, const Tensor& gate_up,
                             const Tensor& out) {
    gemm(x, w, gate_up);
    silu_mul(gate_up, out);
  }

  // ---- MLA
  // In place on q [T, H * (dn + dr)]: rotates the last dr values of each head.
  virtual void rope_q(const Tensor& q, const Tensor& positions, const RopeParams& rope,
                      int64_t heads, int64_t nope_dim) = 0;
  // Writes each new token's cache entry: rms_norm(ckv[:, :r]) | rope(ckv[:, r:]) at its slot.
  virtual void mla_cache_write(const Tensor& ckv, const Tensor& norm_w, float eps,
                               const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                               const Tensor& cache) = 0;
  // Both of the above for one step's new tokens (a backend may do them in one pass).
  virtual void mla_cache_write_and_rope_q(const Tensor& ckv, const Tensor& norm_w, float eps,
                                          const Tensor& positions, const Tensor& slots,
                                          const RopeParams& rope, const Tensor& cache,
                                          const Tensor& q, int64_t heads, int64_t nope_dim) {
    mla_cache_write(ckv, norm_w, eps, positions, slots, rope, cache);
    rope_q(q, positions, rope, heads, nope_dim);
  }
  // Attention of every new token over its sequence's cached latents (prefix + itself). It joins a
  // pending side branch itself (join_side), possibly only after reading the first nope_dim
  // columns of each head of q: a branch still writing the cache and q's RoPE columns (the cache
  // write with q's RoPE) may run beside that first part.
  virtual void mla_attention(const MlaParams& p) = 0;

  // ---- MoE
  // Router: fp32 logits = x gate^T, then the config's scoring and top-k. Rows whose `valid`
  // entry is 0 (pad rows) select no expert: ids -1, weights 0.
  virtual void moe_route(const RouterParams& p) = 0;
  // out = sum_j weights[t, j] * Expert_{ids[t, j]}(x[t]) over the experts this rank holds.
  virtual void moe_experts(const ExpertParams& p) = 0;
  // add_rms_norm(residual, x, w, eps, out), then moe_route(p) with p.x == out: the norm before a
  // MoE layer's router, which a backend may run in the router's own launch.
  virtual void add_rms_norm_route(const Tensor& residual, const Tensor& x, const Tensor& w,
                                  float eps, const Tensor& out, const RouterParams& p) {
    DUET_CHECK(p.x.data == out.data, "add_rms_norm_route: the router must read the normed rows");
    add_rms_norm(residual, x, w, eps, out);
    moe_route(p);
  }

  // ---- sampling
  // tokens[r] = the token row r of logits picks under specs[r]; logits f32 [R, V], tokens I32 [R]
  // (device memory), specs host-side with R entries. Asynchronous like every op.
  virtual void sample_tokens(const Tensor& logits, const std::vector<SampleSpec>& specs,
                             const Tensor& tokens) = 0;
};

// The ops enqueued during this scope's life form a side branch (Backend::begin_side); it ends
// with the scope, also when an op throws, so the backend's main queue is never left redirected.
class SideBranch {
 public:
  explicit SideBranch(Backend& be) : be_(be) { be_.begin_side(); }
  ~SideBranch() {
    try {
      be_.end_side();
    } catch (...) {  // an error here resurfaces at the backend's next call
    }
  }
  SideBranch(const SideBranch&) = delete;
  SideBranch& operator=(const SideBranch&) = delete;

 private:
  Backend& be_;
};

// The CPU reference backend with `threads` worker threads.
std::unique_ptr<Backend> make_cpu_backend(int threads);
// "cpu", "cuda", or "" for the default (cuda when built in and a GPU is usable, else cpu).
// threads: CPU worker threads (0: all cores).
std::unique_ptr<Backend> make_backend(const std::string& device, int64_t threads);

// RAII ownership of backend memory.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& be, size_t bytes) : be_(&be), bytes_(bytes) {
    ptr_ = bytes ? be.alloc(bytes) : nullptr;
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_;
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reset() {
    if (ptr_) be_->release(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  Backend* be_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace duet
