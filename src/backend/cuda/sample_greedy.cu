// Greedy sampling of a few rows, spread over the GPU: sample_kernel gives a row one CTA, which
// for one row of a 163840-token vocabulary is one SM reading 655 KB of logits (23 us per decode
// step at batch 1, H100). Here each CTA takes the largest key (sample_keys.cuh) of a chunk of
// a row, and the last CTA of the row to finish (counted in Context::greedy_done, which it
// resets) takes the largest of the chunks'. The max of keys does not depend on the order, so
// the token is sample_kernel's.
#include <vector>

#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sample_keys.cuh"

namespace duet::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 2048;  // logits per CTA: two float4 loads per thread
constexpr int kMaxChunks = 1024;

__device__ unsigned long long warp_max(unsigned long long k) {
  for (int o = 16; o > 0; o >>= 1) {
    const unsigned long long other = __shfl_xor_sync(0xffffffffu, k, o);
    k = other > k ? other : k;
  }
  return k;
}

// The largest key over the block, in every thread.
__device__ unsigned long long block_max(unsigned long long k, unsigned long long* shared) {
  k = warp_max(k);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = k;
  __syncthreads();
  k = lane < kThreads / 32 ? shared[lane] : 0;
  return warp_max(k);
}

// Grid (chunks, rows). partial: [rows, chunks] keys.
__global__ void __launch_bounds__(kThreads)
    greedy_kernel(const float* logits, int64_t ld, int V, unsigned long long* partial,
                  unsigned* done, int32_t* tokens) {
  pdl_launch_dependents();
  pdl_wait();
  __shared__ unsigned long long warp_keys[kThreads / 32];
  __shared__ bool last;
  const int r = blockIdx.y, chunks = gridDim.x;
  const float* row = logits + r * ld;
  const int begin = blockIdx.x * kChunk, end = min(V, begin + kChunk);
  unsigned long long best = 0;  // below every key (a key's low half, 2^32 - 1 - id, is never 0)
  if (aligned16(row) && end - begin == kChunk) {
    float4 v[kChunk / 4 / kThreads];
#pragma unroll
    for (int j = 0; j < kChunk / 4 / kThreads; ++j)
      v[j] = __ldg(reinterpret_cast<const float4*>(row + begin) + j * kThreads + threadIdx.x);
#pragma unroll
    for (int j = 0; j < kChunk / 4 / kThreads; ++j) {
      const int i = begin + 4 * (j * kThreads + threadIdx.x);
      const float e[4] = {v[j].x, v[j].y, v[j].z, v[j].w};
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const unsigned long long k = make_key(plus_zero(e[q]), i + q);
        best = k > best ? k : best;
      }
    }
  } else {
    for (int i = begin + threadIdx.x; i < end; i += kThreads) {
      const unsigned long long k = make_key(plus_zero(__ldg(row + i)), i);
      best = k > best ? k : best;
    }
  }
  best = block_max(best, warp_keys);
  if (threadIdx.x == 0) {
    partial[r * chunks + blockIdx.x] = best;
    __threadfence();  // the partial is visible before the count says so
    last = atomicAdd(&done[r], 1u) == static_cast<unsigned>(chunks) - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  best = 0;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    const unsigned long long k = __ldcg(partial + r * chunks + c);
    best = k > best ? k : best;
  }
  __syncthreads();  // warp_keys is reused
  best = block_max(best, warp_keys);
  if (threadIdx.x == 0) {
    tokens[r] = key_id(best);
    done[r] = 0;
  }
}

}  // namespace

bool sample_greedy(Context& c, const Tensor& logits, const std::vector<SampleSpec>& specs,
                   const Tensor& tokens) {
  const int64_t R = logits.rows, V = logits.cols, chunks = ceil_div(V, kChunk);
  if (R < 1 || R > kMaxGreedyRows || chunks > kMaxChunks) return false;
  for (const SampleSpec& s : specs)
    if (s.temperature > 0.0f) return false;
  // partial: [R, chunks] keys.
  auto* partial =
      c.workspace_as<unsigned long long>(kWsSampleGreedy, static_cast<size_t>(R * chunks));
  launch_pdl(c, greedy_kernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(R)),
             kThreads, 0, logits.ptr<const float>(), logits.ld, static_cast<int>(V), partial,
             c.greedy_done, tokens.ptr<int32_t>());
  return true;
}

}  // namespace duet::cuda
