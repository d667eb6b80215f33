// The split combine of MLA decode (mla_decode.cu): the splits of a row's KV length wrote
// partial outputs O_i (f32, normalised within the split) and their log-sum-exps; the row's output
// is sum_i w_i O_i / sum_i w_i with w_i = exp(lse_i - max). Two forms: the latent row alone
// (mla_combine_kernel), or, for a few decode tokens, fused with the output projection W_UV
// (mla_combine_uv_kernel), which saves a dependent launch per layer at batch 1.
#pragma once

#include "backend/cuda/mla_decode_common.cuh"

namespace duet::cuda::mla {

// One block per (row, sequence): o_lat = sum_i w_i O_i / sum_i w_i with w_i = exp(lse_i - max).
// Every warp derives the weights itself from the splits' LSEs (lane j holds splits j and j + 32),
// so no barrier waits on one warp, and the first splits' loads of O are issued before the
// weights are known; each thread then sums 4 columns over 8 splits at a time with 16-byte loads
// in flight together. The shared-memory form (one warp computing the weights, a barrier, 2
// columns per thread) took 9.6 us per layer at batch 1, 17 splits (ncu, H100); a loop that
// re-read each lse and waited on every load before it, ~32 us.
constexpr int kCombineThreads = 128;
constexpr int kMaxSplits = 64;        // two LSEs per lane
constexpr int kMaxClusterSplits = 8;  // portable thread-block cluster size
constexpr int kCombineBatch = 8;      // splits whose loads are in flight together

// The weights of a row's splits from their LSEs, derived by every warp itself: lane j holds
// splits j and j + 32 (l0, l1; -inf past the split count) and gets their weights w0, w1
// (exp(lse - max); 0 for an empty split, which never wrote its O) and 1 / their sum. Split i's
// weight is then __shfl_sync(all, i < 32 ? w0 : w1, i & 31).
struct SplitWeights {
  float w0, w1, inv_den;
};
__device__ __forceinline__ SplitWeights split_weights(float l0, float l1) {
  float mx = fmaxf(l0, l1);
  for (int off = 16; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  SplitWeights w;
  w.w0 = l0 == -INFINITY ? 0.0f : __expf(l0 - mx);
  w.w1 = l1 == -INFINITY ? 0.0f : __expf(l1 - mx);
  float den = w.w0 + w.w1;
  for (int off = 16; off > 0; off /= 2) den += __shfl_xor_sync(0xffffffffu, den, off);
  w.inv_den = den > 0.0f ? 1.0f / den : 0.0f;
  return w;
}

// acc += w_i v for split i, the same i in every lane of the warp (one shuffle source, so every
// lane must call it); splits past the count, or empty ones (weight 0), add nothing.
__device__ __forceinline__ void add_split(float4& acc, const SplitWeights& w, int i, int splits,
                                          const float4& v) {
  const float wi = __shfl_sync(0xffffffffu, i < 32 ? w.w0 : w.w1, i & 31);
  if (i >= splits || wi == 0.0f) return;
  acc.x = fmaf(wi, v.x, acc.x);
  acc.y = fmaf(wi, v.y, acc.y);
  acc.z = fmaf(wi, v.z, acc.z);
  acc.w = fmaf(wi, v.w, acc.w);
}

__global__ void __launch_bounds__(kCombineThreads) mla_combine_kernel(DecodeArgs a, bf16* o_lat) {
  pdl_launch_dependents();
  pdl_wait();
  const int s = blockIdx.y, p = blockIdx.x;
  if (!a.decode[s]) return;
  const int q0 = a.q_start[s], rows = (a.q_start[s + 1] - q0) * a.heads;
  if (p >= rows) return;
  // Only the splits with keys: a launch planned for a longer length bucket leaves the rest
  // empty (zero rows with an LSE of -inf, whose loads would be wasted).
  const int lane = threadIdx.x % 32, splits = busy_splits(a, a.kv_len[s]), r4 = a.r / 4;
  const size_t base = static_cast<size_t>(s) * a.splits * a.rows_max + p;
  const size_t split_stride = static_cast<size_t>(a.rows_max) * a.r;
  const float4* part = reinterpret_cast<const float4*>(a.part_o + base * a.r);
  const float l0 = lane < splits ? a.part_lse[base + lane * a.rows_max] : -INFINITY;
  const float l1 = lane + 32 < splits ? a.part_lse[base + (lane + 32) * a.rows_max] : -INFINITY;
  // The first batch of this thread's first column group, in flight while the weights form.
  float4 v[kCombineBatch];
  auto load = [&](int i0, int c4) {
#pragma unroll
    for (int u = 0; u < kCombineBatch; ++u)
      v[u] = i0 + u < splits ? part[(i0 + u) * split_stride / 4 + c4] : make_float4(0, 0, 0, 0);
  };
  if (static_cast<int>(threadIdx.x) < r4) load(0, threadIdx.x);
  const SplitWeights w = split_weights(l0, l1);
  const float inv_den = w.inv_den;
  const int t = q0 + p / a.heads, h = p % a.heads;
  bf16* dst = o_lat + (static_cast<int64_t>(t) * a.heads + h) * a.r;
  for (int c4 = threadIdx.x; c4 < r4; c4 += kCombineThreads) {
    float4 acc = make_float4(0, 0, 0, 0);
    for (int i0 = 0; i0 < splits; i0 += kCombineBatch) {
      if (i0 > 0 || c4 != static_cast<int>(threadIdx.x)) load(i0, c4);
#pragma unroll
      for (int u = 0; u < kCombineBatch; ++u) add_split(acc, w, i0 + u, splits, v[u]);
    }
    __nv_bfloat162 o[2] = {__floats2bfloat162_rn(acc.x * inv_den, acc.y * inv_den),
                           __floats2bfloat162_rn(acc.z * inv_den, acc.w * inv_den)};
    *reinterpret_cast<uint2*>(dst + 4 * c4) = *reinterpret_cast<const uint2*>(o);
  }
}

// The output projection after the combine: out[t, h * dv + v] = W_UV[h][v] . o_lat[t, h], W_UV[h]
// the rows [h * head_stride + dn * ldw, ...) of kv_b ([dv, r] per head, ld ldw).
struct UvArgs {
  const bf16* w;        // W_UV of head 0: kv_b + dn * ldw
  int64_t ldw;          // between rows v
  int64_t head_stride;  // between heads: (dn + dv) * ldw
  int dv;
  bf16* out;  // [T, ld_out]: head h at h * dv
  int64_t ld_out;
};

constexpr int kUvThreads = 256;
constexpr int kUvRows = 32;               // rows v per CTA
constexpr int kUvWarpRows = kUvRows / 8;  // per warp
constexpr int kUvChunks = 2;              // 16-byte chunks per lane of a row: r <= 512
constexpr int kUvBatch = 12;              // splits whose loads a thread has in flight
constexpr int kUvMaxR = kUvChunks * 32 * 8;

// A CTA per (kUvRows rows v, head h, sequence s): it combines head h's latent row itself (the
// partial rows are in L2; the dv / kUvRows CTAs of a head each read them) into shared memory,
// rounded to bf16 as the unfused path stores o_lat, then each warp takes kUvWarpRows rows of
// W_UV with the skinny products' lane order, so the output equals the unfused path's for the
// same o_lat. The W_UV rows are loaded before the programmatic wait (weights only, pdl.cuh).
// Threads of parity 0 / 1 (first / second half of the CTA) sum the even / odd splits of a column
// group of 4; the halves meet in shared memory.
__global__ void __launch_bounds__(kUvThreads) mla_combine_uv_kernel(DecodeArgs a, UvArgs u) {
  pdl_launch_dependents();
  const int h = blockIdx.y, s = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int v0 = blockIdx.x * kUvRows + warp * kUvWarpRows, chunks = a.r / 8;
  uint4 wv[kUvWarpRows][kUvChunks];
#pragma unroll
  for (int j = 0; j < kUvWarpRows; ++j) {
    const uint4* row = reinterpret_cast<const uint4*>(u.w + h * u.head_stride + (v0 + j) * u.ldw);
#pragma unroll
    for (int k = 0; k < kUvChunks; ++k) {
      const int c = lane + 32 * k;
      wv[j][k] = v0 + j < u.dv && c < chunks ? __ldcs(row + c) : make_uint4(0, 0, 0, 0);
    }
  }
  pdl_wait();
  if (!a.decode[s]) return;
  const int q0 = a.q_start[s], tokens = a.q_start[s + 1] - q0;
  const int splits = busy_splits(a, a.kv_len[s]), r4 = a.r / 4;  // as in mla_combine_kernel
  const int parity = threadIdx.x / (kUvThreads / 2), c4 = threadIdx.x % (kUvThreads / 2);
  const size_t split_stride4 = static_cast<size_t>(a.rows_max) * a.r / 4;
  __shared__ float4 odd[kUvThreads / 2];  // the odd splits' sums
  __shared__ float4 lat[kUvMaxR / 4];     // the combined latent row, bf16-rounded
  for (int i = 0; i < tokens; ++i) {
    const size_t base = static_cast<size_t>(s) * a.splits * a.rows_max + i * a.heads + h;
    const float4* part = reinterpret_cast<const float4*>(a.part_o + base * a.r);
    float4 v[kUvBatch];
    auto load = [&](int i0) {  // splits i0, i0 + 2, ... of this thread's parity
#pragma unroll
      for (int b = 0; b < kUvBatch; ++b) {
        const int sp = i0 + 2 * b;
        v[b] = c4 < r4 && sp < splits ? part[sp * split_stride4 + c4] : make_float4(0, 0, 0, 0);
      }
    };
    load(parity);  // in flight while the weights form
    const float l0 = lane < splits ? a.part_lse[base + lane * a.rows_max] : -INFINITY;
    const float l1 = lane + 32 < splits ? a.part_lse[base + (lane + 32) * a.rows_max] : -INFINITY;
    const SplitWeights w = split_weights(l0, l1);
    const float inv_den = w.inv_den;
    float4 acc = make_float4(0, 0, 0, 0);
    for (int i0 = parity; i0 < splits; i0 += 2 * kUvBatch) {
      if (i0 != parity) load(i0);
#pragma unroll
      for (int b = 0; b < kUvBatch; ++b) add_split(acc, w, i0 + 2 * b, splits, v[b]);
    }
    if (parity == 1 && c4 < r4) odd[c4] = acc;
    __syncthreads();
    if (parity == 0 && c4 < r4) {
      const float4 o = odd[c4];
      auto round = [&](float x, float y) {
        return __bfloat162float(__float2bfloat16_rn((x + y) * inv_den));
      };
      lat[c4] =
          make_float4(round(acc.x, o.x), round(acc.y, o.y), round(acc.z, o.z), round(acc.w, o.w));
    }
    __syncthreads();
    float sum[kUvWarpRows] = {};
#pragma unroll
    for (int k = 0; k < kUvChunks; ++k) {
      const int c = lane + 32 * k;
      if (c >= chunks) break;
      const float4 x0 = lat[2 * c], x1 = lat[2 * c + 1];
      const float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
      for (int j = 0; j < kUvWarpRows; ++j) {
        const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[j][k]);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 wf = __bfloat1622float2(wp[e]);
          sum[j] = fmaf(wf.x, x[2 * e], sum[j]);
          sum[j] = fmaf(wf.y, x[2 * e + 1], sum[j]);
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kUvWarpRows; ++j) {
      for (int off = 16; off > 0; off /= 2) sum[j] += __shfl_xor_sync(0xffffffffu, sum[j], off);
      if (lane == 0 && v0 + j < u.dv)
        u.out[static_cast<int64_t>(q0 + i) * u.ld_out + h * u.dv + v0 + j] =
            __float2bfloat16_rn(sum[j]);
    }
    __syncthreads();  // lat and odd are rewritten by the next token
  }
}

}  // namespace duet::cuda::mla
