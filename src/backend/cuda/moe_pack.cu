// Packing the routed tokens by expert at prefill sizes, over the whole GPU: per-block histograms
// of the (token, slot) pairs, one small scan for each expert's first row, then every block
// reserves its pairs' rows per expert and copies their tokens into place. The single-block plan
// of moe_experts.cu (right for decode batches: one launch) took 85 us for 32k pairs, and its
// separate permute another 64 (H100, Moonlight at 512 rows per expert).
#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kCountPairs = 1024;  // pairs a block counts
constexpr int kPlacePairs = 64;    // pairs a block places and copies (enough blocks to fill the
                                   // GPU with copies: 256 pairs per block took 112 us for 32k)
constexpr int kMaxExperts = 1024;  // experts of one rank, for the shared histograms

__device__ int local_expert(const int32_t* ids, int64_t ld, int k, int first, int E, int i) {
  const int e = ids[(i / k) * ld + i % k] - first;
  return e >= 0 && e < E ? e : -1;
}

// counts[e] += the block's pairs routed to e (counts zeroed before).
__global__ void __launch_bounds__(kThreads)
    count_pairs_kernel(const int32_t* ids, int64_t ld, int S, int k, int first, int E,
                       int32_t* counts) {
  __shared__ int32_t hist[kMaxExperts];
  for (int e = threadIdx.x; e < E; e += kThreads) hist[e] = 0;
  __syncthreads();
  for (int i = blockIdx.x * kCountPairs + threadIdx.x; i < min(S, (blockIdx.x + 1) * kCountPairs);
       i += kThreads) {
    const int e = local_expert(ids, ld, k, first, E, i);
    if (e >= 0) atomicAdd(&hist[e], 1);
  }
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += kThreads)
    if (hist[e]) atomicAdd(&counts[e], hist[e]);
}

// first[e] = sum of counts before e, and the rows handed out so far (fill) back to zero.
__global__ void __launch_bounds__(32)
    scan_counts_kernel(const int32_t* counts, int E, int32_t* first, int32_t* fill) {
  const int lane = threadIdx.x;
  int carry = 0;
  for (int base = 0; base < E; base += 32) {
    const int e = base + lane;
    const int n = e < E ? counts[e] : 0;
    const int incl = warp_inclusive_sum(n);
    if (e < E) {
      first[e] = carry + incl - n;
      fill[e] = 0;
    }
    carry += __shfl_sync(0xffffffffu, incl, 31);
  }
}

// rows[i] = the row of pair i (-1 for an expert not held here), and xp[rows[i]] = x[i / k].
// Rows within an expert go by block and then by arrival: the GEMMs are row-independent and
// the combine sums each token's experts by expert id, not by row.
__global__ void __launch_bounds__(kThreads)
    place_pairs_kernel(const int32_t* ids, int64_t ld, int S, int k, int first, int E,
                       const int32_t* expert_first, int32_t* fill, int32_t* rows, const bf16* x,
                       int64_t ld_x, bf16* xp, int64_t H) {
  __shared__ int32_t hist[kMaxExperts];
  __shared__ int32_t row_of[kPlacePairs];
  for (int e = threadIdx.x; e < E; e += kThreads) hist[e] = 0;
  __syncthreads();
  const bool mine = threadIdx.x < kPlacePairs;
  const int i = blockIdx.x * kPlacePairs + threadIdx.x;
  const int e = mine && i < S ? local_expert(ids, ld, k, first, E, i) : -1;
  const int rank = e >= 0 ? atomicAdd(&hist[e], 1) : 0;
  __syncthreads();
  for (int j = threadIdx.x; j < E; j += kThreads)  // hist[j] becomes the block's first row of j
    if (hist[j]) hist[j] = expert_first[j] + atomicAdd(&fill[j], hist[j]);
  __syncthreads();
  const int row = e >= 0 ? hist[e] + rank : -1;
  if (mine) {
    if (i < S) rows[i] = row;
    row_of[threadIdx.x] = row;
  }
  __syncthreads();
  // Each warp copies its share of the block's tokens, 16 bytes per lane.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t chunks = H / 8;
  for (int p = warp; p < kPlacePairs; p += kThreads / 32) {
    const int r = row_of[p];
    if (r < 0) continue;
    const int64_t token = (static_cast<int64_t>(blockIdx.x) * kPlacePairs + p) / k;
    const uint4* src = reinterpret_cast<const uint4*>(x + token * ld_x);
    uint4* dst = reinterpret_cast<uint4*>(xp + static_cast<int64_t>(r) * H);
#pragma unroll 4
    for (int64_t c = lane; c < chunks; c += 32) dst[c] = src[c];
  }
}

}  // namespace

bool moe_pack_fits(int64_t E, int64_t H, int64_t ld_x, const void* x, const void* xp) {
  return E <= kMaxExperts && H % 8 == 0 && ld_x % 8 == 0 && aligned16(x) && aligned16(xp);
}

void moe_pack(Context& c, const MoePack& p) {
  DUET_CHECK(moe_pack_fits(p.E, p.H, p.ld_x, p.x, p.xp), "cuda moe_pack: shape or alignment");
  const int S = p.T * p.k;
  if (S == 0) return;
  DUET_CUDA_CHECK(cudaMemsetAsync(p.counts, 0, p.E * sizeof(int32_t), c.stream));
  count_pairs_kernel<<<static_cast<unsigned>(ceil_div(S, kCountPairs)), kThreads, 0, c.stream>>>(
      p.ids, p.ld_ids, S, p.k, p.first, p.E, p.counts);
  DUET_CUDA_LAUNCHED();
  scan_counts_kernel<<<1, 32, 0, c.stream>>>(p.counts, p.E, p.expert_first, p.fill);
  DUET_CUDA_LAUNCHED();
  place_pairs_kernel<<<static_cast<unsigned>(ceil_div(S, kPlacePairs)), kThreads, 0, c.stream>>>(
      p.ids, p.ld_ids, S, p.k, p.first, p.E, p.expert_first, p.fill, p.rows, p.x, p.ld_x, p.xp,
      p.H);
  DUET_CUDA_LAUNCHED();
}

}  // namespace duet::cuda
