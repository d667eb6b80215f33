// MoE router: fp32 logits = x gate^T (cuBLAS, fp32 output and accumulation), then one warp per
// token runs exactly the CPU op's scoring and selection: sigmoid + noaux_tc grouped top-k
// (bias steers selection only) or softmax + greedy / group-limited top-k. Every selection is
// by (value descending, expert id ascending), so ties go to the lower id as on the CPU.
#include <climits>

#include "backend/cuda/cuda_common.cuh"

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
};

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

// Warp-wide best (value, index) over indices lane, lane + 32, ... < n not marked in `taken`.
__device__ int warp_argmax(const float* v, const unsigned char* taken, int n) {
  const int lane = threadIdx.x % 32;
  float bv = -INFINITY;
  int bi = INT_MAX;
  for (int i = lane; i < n; i += 32)
    if (!taken[i] && better(v[i], i, bv, bi)) {
      bv = v[i];
      bi = i;
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

__global__ void route_kernel(RouteArgs a) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kWarpsPerBlock + warp;
  // Per warp: scores [E], choice [E], taken [E] bytes.
  float* scores = smem + warp * (2 * a.E + (a.E + 3) / 4);
  float* choice = scores + a.E;
  auto* taken = reinterpret_cast<unsigned char*>(choice + a.E);
  __shared__ float group_val[kWarpsPerBlock][kMaxGroups];
  __shared__ unsigned char group_kept[kWarpsPerBlock][kMaxGroups];
  if (t >= a.T) return;
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
  const bool sigmoid = a.scoring == static_cast<int>(RouterScoring::kSigmoidNoauxTc);
  if (sigmoid) {
    for (int e = lane; e < a.E; e += 32) {
      scores[e] = 1.0f / (1.0f + expf(-lg[e]));
      choice[e] = scores[e] + (a.bias ? a.bias[e] : 0.0f);
    }
  } else {
    float m = -INFINITY;
    for (int e = lane; e < a.E; e += 32) m = fmaxf(m, lg[e]);
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    float sum = 0.0f;
    for (int e = lane; e < a.E; e += 32) {
      scores[e] = expf(lg[e] - m);
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
      group_val[warp][lane] = sigmoid ? c[b1] + c[b2] : c[b1];
      group_kept[warp][lane] = 0;
    }
    __syncwarp();
    if (lane == 0) {
      for (int j = 0; j < a.topk_group; ++j) {
        int best = -1;
        for (int gi = 0; gi < a.n_group; ++gi)
          if (!group_kept[warp][gi] && (best < 0 || group_val[warp][gi] > group_val[warp][best]))
            best = gi;
        group_kept[warp][best] = 1;
      }
    }
    __syncwarp();
    for (int e = lane; e < a.E; e += 32)
      if (!group_kept[warp][e / per]) choice[e] = sigmoid ? -INFINITY : 0.0f;
    __syncwarp();
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

}  // namespace

void moe_route(Context& c, const RouterParams& p) {
  const int64_t T = p.x.rows, E = p.num_experts;
  if (T == 0) return;
  DUET_CHECK(p.n_group <= kMaxGroups && p.top_k <= E, "moe_route: groups or top_k out of range");
  // logits: [T, E] f32.
  float* logits = c.workspace_as<float>(kWsRouterLogits, static_cast<size_t>(T * E));
  gemm(c, p.x, p.gate, Tensor::matrix(logits, DType::kF32, T, E));
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
  const size_t smem = kWarpsPerBlock * (2 * E + (E + 3) / 4) * sizeof(float);
  route_kernel<<<static_cast<unsigned>(ceil_div(T, kWarpsPerBlock)), 32 * kWarpsPerBlock, smem,
                 c.stream>>>(a);
  DUET_CUDA_LAUNCHED();
}

}  // namespace duet::cuda
