// moe_experts for one token (decode at batch 1) in two launches and no plan: the skinny kernel's
// experts form computes each pair's gate_up product with SwiGLU, taking the pair's expert weights
// straight from the router's ids (skipping experts another rank holds) and reading the token in
// place; then one kernel computes every pair's down product per output feature and their
// weighted sum. At batch 1 each launch of the op is a fixed latency in every MoE layer: the
// planned path (plan, gate_up, down, combine) took 4.
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/pdl.cuh"

namespace duet::cuda {
namespace {

// After SwiGLU: out[n] = sum over the token's pairs r in ascending expert id (ties by slot;
// experts not held here left out) of weight_r * bf16(act_r . down_{e_r}[n]), a warp per output
// feature computing every pair's dot. Each dot runs its chunks in the skinny kernel's order (a
// lane's chunks ascending, then the same shuffle reduction) and the sum in the combine kernel's
// (moe_experts.cu), so the bits are those of the planned path.
constexpr int kWarps = 8;     // output features per CTA
constexpr int kMaxPairs = 8;  // experts per token (DeepSeek-V3 and Kimi K2 pick 8)

struct DownCombineArgs {
  const int32_t* ids;    // [k] global expert ids
  const float* weights;  // [k]
  int k, first, E;
  const bf16* down;  // expert e: [N, K] at down + e * w_estride
  int64_t w_estride;
  const bf16* act;  // [k, K]: pair j's SwiGLU row
  bf16* out;        // [N]
  int N, K;
};

__global__ void __launch_bounds__(kWarps * 32) down_combine_kernel(DownCombineArgs a) {
  constexpr unsigned kAll = 0xffffffffu;
  constexpr int kLoads = 2;  // per lane and pair; the order of the sums does not depend on it
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = blockIdx.x * kWarps + warp;
  const bool feature = n < a.N;  // warps past N only help stage the act rows
  // The router's ids and weights, read before the programmatic wait: the router ran two
  // launches back, and the gate_up products (skinny_gemm_experts) let this kernel launch only
  // after every one of their CTAs has passed its own wait, which returned after the router's
  // grid had completed and its writes had reached L2. The loads bypass L1 (__ldcg), which may
  // hold an earlier layer's values at the same addresses.
  // Lane j < k holds pair j; its rank among the held pairs orders the sum.
  int e = -1, key = INT_MAX;
  float wt = 0.0f;
  if (lane < a.k) {
    const int id = __ldcg(a.ids + lane);
    if (id - a.first >= 0 && id - a.first < a.E) {
      e = id - a.first;
      key = id;
      wt = __ldcg(a.weights + lane);
    }
  }
  int rank = 0;
  for (int i = 0; i < a.k; ++i) {
    const int ki = __shfl_sync(kAll, key, i);
    rank += ki < key || (ki == key && i < lane);
  }
  const unsigned held = __ballot_sync(kAll, e >= 0);
  const int used = __popc(held);
  const int chunks = a.K / 8;
  const uint4* wrow[kMaxPairs];
  int pair_of[kMaxPairs];  // which of the token's pairs (act row) takes rank r
  float pw[kMaxPairs];
#pragma unroll
  for (int r = 0; r < kMaxPairs; ++r) {
    const unsigned at = __ballot_sync(kAll, e >= 0 && rank == r);
    const int j = at ? __ffs(at) - 1 : 0;
    const int er = __shfl_sync(kAll, e, j);
    pw[r] = __shfl_sync(kAll, wt, j);
    pair_of[r] = j;
    wrow[r] = reinterpret_cast<const uint4*>(a.down + (er < 0 ? 0 : er) * a.w_estride +
                                             static_cast<int64_t>(feature ? n : 0) * a.K);
  }
  // One round of weight loads per lane and pair (weights: before the wait too).
  uint4 wv[kMaxPairs][kLoads];
  auto load = [&](int c0) {
#pragma unroll
    for (int r = 0; r < kMaxPairs; ++r) {
      if (r >= used) break;
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int c = c0 + u * 32;
        wv[r][u] = feature && c < chunks ? __ldcs(wrow[r] + c) : make_uint4(0, 0, 0, 0);
      }
    }
  };
  load(lane);
  pdl_wait();  // the act rows are the gate_up products' output
  // The pairs' act rows, [k, K], staged once per CTA: read from global memory inside the loop,
  // each chunk was one more dependent round trip after the weights'.
  extern __shared__ uint4 act_rows[];
  for (int i = threadIdx.x; i < a.k * chunks; i += kWarps * 32)
    act_rows[i] = reinterpret_cast<const uint4*>(a.act)[i];
  __syncthreads();
  if (!feature) return;
  float acc[kMaxPairs] = {};
  for (int c0 = lane; c0 < chunks; c0 += 32 * kLoads) {
    if (c0 != lane) load(c0);
#pragma unroll
    for (int r = 0; r < kMaxPairs; ++r) {
      if (r >= used) break;
      const uint4* xrow = act_rows + pair_of[r] * chunks;
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int c = c0 + u * 32;
        if (c >= chunks) break;
        float2 wf[4];
        const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[r][u]);
#pragma unroll
        for (int i = 0; i < 4; ++i) wf[i] = __bfloat1622float2(wp[i]);
        fma8(acc[r], wf, xrow[c]);
      }
    }
  }
  float sum = 0.0f;
#pragma unroll
  for (int r = 0; r < kMaxPairs; ++r) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[r] += __shfl_xor_sync(kAll, acc[r], off);
    if (r < used) sum = fmaf(pw[r], __bfloat162float(__float2bfloat16_rn(acc[r])), sum);
  }
  if (lane == 0) a.out[n] = __float2bfloat16_rn(sum);
}

}  // namespace

bool moe_one_token(Context& c, const ExpertParams& p) {
  const int64_t H = p.x.cols, k = p.ids.cols;
  const int64_t E = p.gate_up.batch, I = p.gate_up.rows / 2;
  const int64_t s1 = p.gate_up.batch_stride, s2 = p.down.batch_stride;
  const size_t smem = static_cast<size_t>(k * I) * sizeof(bf16);  // the pairs' SwiGLU rows
  if (p.x.rows != 1 || p.x.dtype != DType::kBF16 || p.gate_up.dtype != DType::kBF16 ||
      p.down.dtype != DType::kBF16 || p.gate_up.ld != H || p.down.ld != I ||
      p.weights.dtype != DType::kF32 || k < 1 || k > kMaxPairs || H % 8 != 0 || I % 8 != 0 ||
      s1 % 8 != 0 || s2 % 8 != 0 || !aligned16(p.x.data) || !aligned16(p.gate_up.data) ||
      !aligned16(p.down.data) || p.out.dtype != DType::kBF16 || smem > 48 * 1024 ||
      H > (int64_t{1} << 30) || E > INT_MAX)
    return false;
  bf16* act = c.workspace_as<bf16>(kWsMoeAct, static_cast<size_t>(k * I));  // [k, I]
  const int32_t* ids = p.ids.ptr<const int32_t>();
  const int first = static_cast<int>(p.first_expert);
  const bool up =
      skinny_gemm_experts(c, ids, static_cast<int>(k), first, static_cast<int>(E), I, H,
                          p.gate_up.ptr<const bf16>(), s1, H, p.x.ptr<const bf16>(), 0, act, I, I);
  DUET_CHECK(up, "cuda moe_experts: one token's gate_up products");
  DownCombineArgs a{ids,
                    p.weights.ptr<const float>(),
                    static_cast<int>(k),
                    first,
                    static_cast<int>(E),
                    p.down.ptr<const bf16>(),
                    s2,
                    act,
                    p.out.ptr<bf16>(),
                    static_cast<int>(H),
                    static_cast<int>(I)};
  launch_pdl(c, down_combine_kernel, dim3(static_cast<unsigned>(ceil_div(H, kWarps))), kWarps * 32,
             smem, a);
  return true;
}

}  // namespace duet::cuda
