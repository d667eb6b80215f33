// cuDNN's fused flash attention for one MLA prefill sequence (expanded form), used by
// mla_prefill.cu when the build found cudnn-frontend (DUET_HAS_CUDNN) and libcudnn.so.9 loads at
// run time. Plain C++ interface: the frontend's headers stay out of the .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>

namespace duet::cuda {

struct CudnnSdpa;  // handle, loaded library and built graphs (cached by shape bucket)

// A batch of sequences packed over tokens (ragged): sequence b's nq_b new tokens attend causally
// to its nkv_b >= nq_b keys, the new tokens being the last nq_b (bottom-right aligned causal mask).
// All bf16, head dim contiguous. Graphs are built for power-of-two buckets of batch, max_q and
// max_kv; entries past the real sequences have length 0.
struct SdpaProblem {
  int64_t batch = 0;  // a power of two (sdpa_batch_bucket)
  int64_t heads = 0, d_qk = 0, d_v = 0, max_q = 0, max_kv = 0;
  const void* q = nullptr;  // [tokens, ld_q]: head h at columns h * d_qk
  int64_t ld_q = 0;
  const void* k = nullptr;  // [keys, ld_k]: head h at h * d_qk
  int64_t ld_k = 0;
  const void* v = nullptr;  // [keys, ld_v]: head h at h * d_v
  int64_t ld_v = 0;
  void* o = nullptr;  // [tokens, ld_o]: head h at h * d_v
  int64_t ld_o = 0;
  // Device I32, 6 arrays of sdpa_aux_stride(batch) ints each (16-byte aligned): seq_len_q [batch],
  // seq_len_kv [batch], then the ragged offsets [batch + 1] (elements; b's first row) of Q, K, V,
  // O.
  const int32_t* aux = nullptr;
  float scale = 0.0f;
};

inline int64_t sdpa_batch_bucket(int64_t n) {
  int64_t b = 1;
  while (b < n) b *= 2;
  return b;
}
inline int64_t sdpa_aux_stride(int64_t batch) {
  return (batch + 1 + 3) / 4 * 4;
}

// Loads libcudnn.so.9 and creates a handle; nullptr when the build has no cuDNN path, the library
// is missing or DUET_MLA_PREFILL=kernel (each reason logged once).
CudnnSdpa* cudnn_sdpa_create(int sm_version);
void cudnn_sdpa_destroy(CudnnSdpa* s);

// Whether cuDNN supports p's shape bucket; builds and caches the bucket's graph on first sight
// (slow, once per bucket). Only p's sizes, leading dimensions and scale are read.
bool cudnn_sdpa_ready(CudnnSdpa* s, const SdpaProblem& p);
// Enqueues the attention on `stream` (a ready shape); `workspace(bytes)` returns device scratch.
void cudnn_sdpa_run(CudnnSdpa* s, cudaStream_t stream, const SdpaProblem& p,
                    const std::function<void*(size_t)>& workspace);

}  // namespace duet::cuda
