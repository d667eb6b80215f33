// MoE router: fp32 logits = x gate^T (the GEMM path: cuBLAS or the skinny kernel, fp32 output
// and accumulation; up to 2 tokens one fused launch computes them), then one warp per token runs
// exactly the CPU op's scoring and selection: sigmoid + noaux_tc grouped top-k (bias steers
// selection only) or softmax + greedy / group-limited top-k. Every selection is by (value
// descending, expert id ascending), so ties go to the lower id as on the CPU.
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rms_norm_row.cuh"

namespace duet::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxGroups = 32;

struct RouteArgs {
  const float* logits;   // [T, E]
  const float* bias;     // [E] or null
  const int32_t* valid;  // [T] or null
  int32_t* ids;          // [T, ld_ids]
  int64_t ld_ids;
  float* weights;  // [T, ld_w]
  int64_t ld_w;
  int T, E, k, n_group, topk_group;
  int scoring;  // RouterScoring
  bool norm_topk_prob;
  float scaling;
  bool rank_topk;  // select_by_rank where it applies (DUET_ROUTE_TOPK=loop: never)
};

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

// Warp-wide best (value, index) over indices lane, lane + 32, ... < n not marked in `taken`. A NaN
// counts as -inf (ranked last, ties by index), so some index always wins while one is left: with
// every value NaN (a NaN token) no index won, and `taken[INT_MAX]` was written.
__device__ int warp_argmax(const float* v, const unsigned char* taken, int n) {
  const int lane = threadIdx.x % 32;
  float bv = -INFINITY;
  int bi = INT_MAX;
  for (int i = lane; i < n; i += 32) {
    const float vi = v[i] != v[i] ? -INFINITY : v[i];
    if (!taken[i] && better(vi, i, bv, bi)) {
      bv = vi;
      bi = i;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, off);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  return bi;
}

// The top k of at most 64 experts in one step instead of k rounds of warp_argmax (each a chain of
// shuffles): every lane ranks its two experts against all 64 choices, by the same order
// (value descending, id ascending; NaN last), and the experts ranked below k take their slots.
// The weights are summed in slot order by one lane, as in route_token's loop, so the bits match.
__device__ void select_by_rank(const RouteArgs& a, bool sigmoid, const float* scores, float* choice,
                               int32_t* ids, float* w) {
  const int lane = threadIdx.x % 32;
  float v[2];
  int rank[2] = {0, 0};
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int e = lane + 32 * h;  // ids past E: -inf and a larger id than every real expert
    v[h] = e < a.E ? choice[e] : -INFINITY;
    if (v[h] != v[h]) v[h] = -INFINITY;
  }
#pragma unroll 8
  for (int src = 0; src < 32; ++src) {
#pragma unroll
    for (int hs = 0; hs < 2; ++hs) {
      const float ov = __shfl_sync(0xffffffffu, v[hs], src);
      const int oi = src + 32 * hs;
#pragma unroll
      for (int h = 0; h < 2; ++h) rank[h] += better(ov, oi, v[h], lane + 32 * h);
    }
  }
  __syncwarp();
  // choice[] is free now: slot j's weight goes to choice[j].
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int e = lane + 32 * h;
    if (e < a.E && rank[h] < a.k) {
      ids[rank[h]] = e;
      v[h] = sigmoid ? scores[e] : choice[e];
    }
  }
  __syncwarp();
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int e = lane + 32 * h;
    if (e < a.E && rank[h] < a.k) choice[rank[h]] = v[h];
  }
  __syncwarp();
  if (lane == 0) {
    float sum = 0.0f;
    for (int j = 0; j < a.k; ++j) sum += choice[j];
    for (int j = 0; j < a.k; ++j) {
      float x = choice[j];
      if (sigmoid && a.norm_topk_prob) x = x / (sum + 1e-20f);
      w[j] = x * a.scaling;
    }
  }
}

// Floats of shared memory one warp's selection needs: scores [E], choice [E], taken [E] bytes.
__host__ __device__ constexpr int route_smem_floats(int E) {
  return 2 * E + (E + 3) / 4;
}

// Scoring and selection of token t by one warp; `smem` holds route_smem_floats(E) floats,
// group_val / group_kept kMaxGroups entries, all the warp's own. The logits are read through L2
// (__ldcg): in the fused small-batch kernel other CTAs wrote them during this launch.
__device__ void route_token(const RouteArgs& a, int t, float* smem, float* group_val,
                            unsigned char* group_kept) {
  const int lane = threadIdx.x % 32;
  float* scores = smem;
  float* choice = scores + a.E;
  auto* taken = reinterpret_cast<unsigned char*>(choice + a.E);
  int32_t* ids = a.ids + t * a.ld_ids;
  float* w = a.weights + t * a.ld_w;
  if (a.valid && !a.valid[t]) {
    for (int j = lane; j < a.k; j += 32) {
      ids[j] = -1;
      w[j] = 0.0f;
    }
    return;
  }
  const float* lg = a.logits + static_cast<int64_t>(t) * a.E;
  auto logit = [&](int e) { return __ldcg(lg + e); };
  const bool sigmoid = a.scoring == static_cast<int>(RouterScoring::kSigmoidNoauxTc);
  if (sigmoid) {
    for (int e = lane; e < a.E; e += 32) {
      scores[e] = 1.0f / (1.0f + expf(-logit(e)));
      choice[e] = scores[e] + (a.bias ? a.bias[e] : 0.0f);
    }
  } else {
    float m = -INFINITY;
    for (int e = lane; e < a.E; e += 32) m = fmaxf(m, logit(e));
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    float sum = 0.0f;
    for (int e = lane; e < a.E; e += 32) {
      scores[e] = expf(logit(e) - m);
      sum += scores[e];
    }
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    for (int e = lane; e < a.E; e += 32) choice[e] = scores[e] = scores[e] / sum;
  }
  for (int e = lane; e < a.E; e += 32) taken[e] = 0;
  __syncwarp();

  const bool grouped =
      a.n_group > 1 && a.scoring != static_cast<int>(RouterScoring::kSoftmaxGreedy);
  if (grouped) {
    const int per = a.E / a.n_group;
    if (lane < a.n_group) {
      // Group score: sum of its top-2 choices (sigmoid) or its max (softmax group-limited).
      const float* c = choice + lane * per;
      int b1 = 0;
      for (int i = 1; i < per; ++i)
        if (c[i] > c[b1]) b1 = i;
      int b2 = b1 == 0 ? 1 : 0;
      for (int i = 0; i < per; ++i)
        if (i != b1 && c[i] > c[b2]) b2 = i;
      group_val[lane] = sigmoid ? c[b1] + c[b2] : c[b1];
      group_kept[lane] = 0;
    }
    __syncwarp();
    if (lane == 0) {
      for (int j = 0; j < a.topk_group; ++j) {
        int best = -1;
        for (int gi = 0; gi < a.n_group; ++gi)
          if (!group_kept[gi] && (best < 0 || group_val[gi] > group_val[best])) best = gi;
        group_kept[best] = 1;
      }
    }
    __syncwarp();
    for (int e = lane; e < a.E; e += 32)
      if (!group_kept[e / per]) choice[e] = sigmoid ? -INFINITY : 0.0f;
    __syncwarp();
  }

  if (!grouped && a.E <= 64 && a.rank_topk) {
    select_by_rank(a, sigmoid, scores, choice, ids, w);
    return;
  }
  float sum = 0.0f;
  for (int j = 0; j < a.k; ++j) {
    const int id = warp_argmax(choice, taken, a.E);
    if (lane == 0) {
      taken[id] = 1;
      ids[j] = id;
      // Sigmoid: weight from the unbiased score; softmax: from the (masked) choice.
      w[j] = sigmoid ? scores[id] : choice[id];
      sum += w[j];
    }
    __syncwarp();
  }
  if (lane == 0) {
    for (int j = 0; j < a.k; ++j) {
      float v = w[j];
      if (sigmoid && a.norm_topk_prob) v = v / (sum + 1e-20f);
      w[j] = v * a.scaling;
    }
  }
}

__global__ void route_kernel(RouteArgs a) {
  pdl_launch_dependents();
  pdl_wait();
  extern __shared__ float smem[];
  __shared__ float group_val[kWarpsPerBlock][kMaxGroups];
  __shared__ unsigned char group_kept[kWarpsPerBlock][kMaxGroups];
  const int warp = threadIdx.x / 32;
  const int t = blockIdx.x * kWarpsPerBlock + warp;
  if (t >= a.T) return;
  route_token(a, t, smem + warp * route_smem_floats(a.E), group_val[warp], group_kept[warp]);
}

// The one-token router's own RMSNorm (add_rms_norm_route): res += x, the router's input is the
// norm of res, and the last CTA stores res and the normed row (every CTA has read res by then).
struct NormIn {
  bf16* res;       // [cols] the residual, updated in place
  const bf16* x;   // [cols] its addend
  const float* w;  // [cols] norm weights
  bf16* out;       // [cols] the normed row
  float eps;
};

// Up to kFusedRows tokens: the router product and the selection in one launch. CTA e computes
// expert e's logit of every token exactly as the skinny GEMM's CTA-per-feature form does (same
// chunks per thread, same reduction order, so the same bits), then the last CTA to finish
// (counted on `done`, which it resets for the next launch) selects for every token.
constexpr int kFusedRows = 2, kFusedThreads = 256;

// NORM (one token): x is the norm of nin.res + nin.x, computed in every CTA with the vector
// RMSNorm kernel's arithmetic (rms_norm_row.cuh), so the norm's launch leaves the chain.
template <int MR, bool NORM>
__global__ void __launch_bounds__(kFusedThreads)
    route_fused_kernel(RouteArgs a, const bf16* x, int64_t ldx, const bf16* gate, int64_t ldg,
                       int K, float* logits, unsigned* done, bool prefetch, bool preload,
                       NormIn nin) {
  static_assert(!NORM || (MR == 1 && kFusedThreads == kNormThreads), "one token, the norm's block");
  pdl_launch_dependents();
  const int e = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const uint4* wrow = reinterpret_cast<const uint4*>(gate + static_cast<int64_t>(e) * ldg);
  // The gate row is a weight: its first chunk per thread is loaded (`preload`, rows of at most
  // kFusedThreads chunks: all of it) or the row is on its way to L2 (`prefetch`) while the
  // kernel before this one finishes.
  const int c0 = threadIdx.x;
  const uint4 first = preload && c0 < K / 8 ? __ldcs(wrow + c0) : make_uint4(0, 0, 0, 0);
  if (!preload && prefetch && threadIdx.x == 0) prefetch_l2_bulk(wrow, int64_t{2} * K);
  // The bias (a weight) on its way to L2 for the last CTA's selection, a line per 32 experts.
  if (a.bias && prefetch && threadIdx.x == 0 && e % 32 == 0) prefetch_l2_line(a.bias + e);
  const int chunks = K / 8;
  float nv[kNormChunks][8], nw[kNormChunks][8];  // NORM: the residual row and norm weights
  if constexpr (NORM) norm_load_weights(nin.w, chunks, nw);  // weights: before the wait
  pdl_wait();
  extern __shared__ float smem[];
  __shared__ float part[MR][kFusedThreads / 32];
  __shared__ float group_val[MR][kMaxGroups];
  __shared__ unsigned char group_kept[MR][kMaxGroups];
  __shared__ bool last;
  if constexpr (NORM) {  // this thread's chunks of the normed row, rounded as stored
    __shared__ float red[kNormThreads / 32];
    norm_load_row(nin.res, nin.x, static_cast<const bf16*>(nullptr), chunks, nv);
    const float inv = norm_inv_rms(nv, chunks, K, nin.eps, red);
#pragma unroll
    for (int i = 0; i < kNormChunks; ++i) {
      if (c0 + i * kFusedThreads >= chunks) break;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        nw[i][j] = to_float(from_float<bf16>(nw[i][j] * (nv[i][j] * inv)));
    }
  }
  float acc[MR] = {};
  for (int c = c0; c < chunks; c += kFusedThreads) {
    const uint4 wv = preload && c == c0 ? first : __ldcs(wrow + c);
    const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv);
#pragma unroll
    for (int m = 0; m < MR; ++m) {
      float xf[8];
      if constexpr (NORM) {
#pragma unroll
        for (int i = 0; i < kNormChunks; ++i)  // chunk c is this thread's i-th
          if (c == c0 + i * kFusedThreads)
#pragma unroll
            for (int j = 0; j < 8; ++j) xf[j] = nw[i][j];
      } else {
        load8(x + m * ldx + c * 8, xf);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 wf = __bfloat1622float2(wp[i]);
        acc[m] = fmaf(wf.x, xf[2 * i], acc[m]);
        acc[m] = fmaf(wf.y, xf[2 * i + 1], acc[m]);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < MR; ++m) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
    if (lane == 0) part[m][warp] = acc[m];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int m = 0; m < MR; ++m) {
      float sum = 0.0f;
      for (int i = 0; i < kFusedThreads / 32; ++i) sum += part[m][i];
      logits[m * a.E + e] = sum;
    }
    __threadfence();  // the logits are visible before the count says so
    last = atomicAdd(done, 1u) == static_cast<unsigned>(gridDim.x) - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  if constexpr (NORM) {  // every CTA has read res: the residual and the normed row go out
#pragma unroll
    for (int i = 0; i < kNormChunks; ++i) {
      const int ch = static_cast<int>(threadIdx.x) + i * kFusedThreads;
      if (ch >= chunks) break;
      store8(nin.res + ch * 8, nv[i]);
      store8(nin.out + ch * 8, nw[i]);
    }
  }
  if (warp < MR)
    route_token(a, warp, smem + warp * route_smem_floats(a.E), group_val[warp], group_kept[warp]);
  if (threadIdx.x == 0) *done = 0;
}

// Whether the one-launch router takes p (up to kFusedRows tokens).
bool fused_fits(const RouterParams& p) {
  const int64_t T = p.x.rows, E = p.num_experts;
  return T <= kFusedRows && E <= 1024 && p.x.dtype == DType::kBF16 &&
         p.gate.dtype == DType::kBF16 && p.x.cols % 8 == 0 && p.x.ld % 8 == 0 &&
         p.gate.ld % 8 == 0 && aligned16(p.x.data) && aligned16(p.gate.data) && p.gate.rows == E;
}

// The router (with the norm of its input when `nin`): logits [T, E] f32 in the workspace, then
// the selection.
void route(Context& c, const RouterParams& p, const NormIn* nin) {
  const int64_t T = p.x.rows, E = p.num_experts;
  DUET_CHECK(p.n_group <= kMaxGroups && p.top_k <= E, "moe_route: groups or top_k out of range");
  float* logits = c.workspace_as<float>(kWsRouterLogits, static_cast<size_t>(T * E));
  const bool fused = fused_fits(p);
  if (!fused) gemm(c, p.x, p.gate, Tensor::matrix(logits, DType::kF32, T, E));
  RouteArgs a;
  a.logits = logits;
  a.bias = p.bias.empty() ? nullptr : p.bias.ptr<const float>();
  a.valid = p.valid.empty() ? nullptr : p.valid.ptr<const int32_t>();
  a.ids = p.ids.ptr<int32_t>();
  a.ld_ids = p.ids.ld;
  a.weights = p.weights.ptr<float>();
  a.ld_w = p.weights.ld;
  a.T = static_cast<int>(T);
  a.E = static_cast<int>(E);
  a.k = static_cast<int>(p.top_k);
  a.n_group = static_cast<int>(p.n_group);
  a.topk_group = static_cast<int>(p.topk_group);
  a.scoring = static_cast<int>(p.scoring);
  a.norm_topk_prob = p.norm_topk_prob;
  a.scaling = p.routed_scaling_factor;
  a.rank_topk = c.route_rank_topk;
  if (fused) {
    const size_t smem = T * route_smem_floats(static_cast<int>(E)) * sizeof(float);
    auto* kernel = nin      ? route_fused_kernel<1, true>
                   : T == 1 ? route_fused_kernel<1, false>
                            : route_fused_kernel<2, false>;
    launch_pdl(c, kernel, dim3(static_cast<unsigned>(E)), kFusedThreads, smem, a,
               p.x.ptr<const bf16>(), p.x.ld, p.gate.ptr<const bf16>(), p.gate.ld,
               static_cast<int>(p.x.cols), logits, c.route_done, c.l2_prefetch, c.preload,
               nin ? *nin : NormIn{});
    return;
  }
  DUET_CHECK(!nin, "moe_route: the norm goes into the one-launch router only");
  const size_t smem = kWarpsPerBlock * route_smem_floats(static_cast<int>(E)) * sizeof(float);
  launch_pdl(c, route_kernel, dim3(static_cast<unsigned>(ceil_div(T, kWarpsPerBlock))),
             32 * kWarpsPerBlock, smem, a);
}

}  // namespace

void moe_route(Context& c, const RouterParams& p) {
  if (p.x.rows == 0) return;
  route(c, p, nullptr);
}

bool add_rms_norm_route(Context& c, const Tensor& residual, const Tensor& x, const Tensor& w,
                        float eps, const Tensor& out, const RouterParams& p) {
  const int64_t H = residual.cols;
  auto row = [&](const Tensor& t, DType dt) {
    return t.dtype == dt && t.rows == 1 && t.cols == H && aligned16(t.data);
  };
  if (!c.route_norm || !fused_fits(p) || p.x.rows != 1 || p.x.data != out.data || H % 8 != 0 ||
      H / 8 > kNormChunks * kNormThreads || p.x.cols != H || !row(residual, DType::kBF16) ||
      !row(x, DType::kBF16) || !row(w, DType::kF32) || !row(out, DType::kBF16))
    return false;
  const NormIn nin{residual.ptr<bf16>(), x.ptr<const bf16>(), w.ptr<const float>(), out.ptr<bf16>(),
                   eps};
  route(c, p, &nin);
  ++c.norm_routes_fused;
  return true;
}

}  // namespace duet::cuda
