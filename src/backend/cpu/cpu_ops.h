// CPU reference ops as free functions (the CpuBackend methods call these; CUDA tests call them
// as the reference). All take the thread pool explicitly and are deterministic and
// row-independent.
#pragma once

#include <vector>

#include "backend/op_params.h"
#include "backend/tensor.h"
#include "common/thread_pool.h"

namespace duet::cpu {

// y = x w^T. x: f32 [T, K]; w: bf16 or f32 [N, K]; y: f32 [T, N].
void gemm(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor& y);

void rope_q(ThreadPool& pool, const Tensor& q, const Tensor& positions, const RopeParams& rope,
            int64_t heads, int64_t nope_dim);
void mla_cache_write(ThreadPool& pool, const Tensor& ckv, const Tensor& norm_w, float eps,
                     const Tensor& positions, const Tensor& slots, const RopeParams& rope,
                     const Tensor& cache);
void mla_attention(ThreadPool& pool, const MlaParams& p);

void moe_route(ThreadPool& pool, const RouterParams& p);
void moe_experts(ThreadPool& pool, const ExpertParams& p);

// Rotates interleaved pairs of x[0..dim) in place for one position.
void rope_inplace(float* x, int32_t position, const RopeParams& rope);
// Row-wise RMSNorm of n values (f32), weight f32 or bf16 per `w`.
void rms_norm_row(const float* x, const Tensor& w, float eps, float* out, int64_t n);

}  // namespace duet::cpu
