// Programmatic dependent launch (Hopper): a kernel launched by launch_pdl may be scheduled while
// the kernel before it on the stream is still running, instead of after that kernel has ended
// and its writes have been flushed. At batch 1 a decode step is about 300 dependent kernels of a
// few microseconds each, and the gap between one kernel's end and the next one's first loads is
// a large part of each (docs/PERFORMANCE.md, "Programmatic dependent launch").
//
// The contract of a kernel launched by launch_pdl:
//   - it calls pdl_wait() before it reads anything an earlier op on the stream (or a branch
//     joined into it) may write, and before it writes anything such an op may read;
//   - before that it may only read what no kernel of the step writes: weights (constant while
//     steps run), the step's index arrays (uploaded by a copy before the step's first kernel,
//     which every later kernel starts after) and latent-cache rows that earlier steps wrote; and
//     prefetch into L2 (always safe: L2 is where the device's writes meet, so a prefetched line
//     is never stale);
//   - it calls pdl_launch_dependents() early, so that the next kernel's CTAs can be resident and
//     issue their own prologue while this one runs. They take SM slots only after every CTA of
//     this grid has started, so they never hold this grid back.
// pdl_wait waits for every prerequisite grid to complete, so the guarantee is transitive: the
// kernel two launches back finished before the one in between did. A kernel that calls
// pdl_launch_dependents() only after its own wait extends that: its successor starts only
// after the kernel before it has completed, and may read that kernel's output (from L2, with
// __ldcg) before its own wait (skinny_gemm.cu's experts form and moe_one_token.cu's down +
// combine). Kernels launched otherwise (cuBLAS, <<<>>>) keep the full dependency, and for them
// both calls return at once.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// One bulk prefetch of [p, p + bytes) into L2 by the calling thread; p 16-byte aligned, bytes
// below 4 GiB (a weight row or a CTA's rows), rounded down to a multiple of 16.
__device__ __forceinline__ void prefetch_l2_bulk(const void* p, int64_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (bytes >= 16)
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p),
                 "r"(static_cast<unsigned>(bytes & ~int64_t{15}))
                 : "memory");
#endif
}

// One 128-byte line at p into L2.
__device__ __forceinline__ void prefetch_l2_line(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// kernel<<<grid, block, smem, c.stream>>>(args...), as a programmatic dependent of the stream's
// previous kernel when c.pdl (the kernel keeps the contract above).
template <typename... Params, typename... Args>
void launch_pdl(const Context& c, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = c.stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = c.pdl ? 1 : 0;
  DUET_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

}  // namespace duet::cuda
