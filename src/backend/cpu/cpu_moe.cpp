// CPU MoE: the router (fp32 logits, sigmoid + grouped noaux_tc or softmax + greedy /
// group-limited greedy, exactly as transformers) and the routed experts (tokens grouped by
// expert, SwiGLU MLP, weighted sum in ascending expert order).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"

namespace duet::cpu {
namespace {

// Indices of the k largest values; ties go to the lower index (deterministic).
void top_k(const float* v, int64_t n, int64_t k, std::vector<int32_t>& idx) {
  idx.resize(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int32_t a, int32_t b) { return v[a] != v[b] ? v[a] > v[b] : a < b; });
  idx.resize(static_cast<size_t>(k));
}

void route_row(const RouterParams& p, const float* logits, int32_t* ids, float* weights) {
  const int64_t E = p.num_experts, k = p.top_k;
  std::vector<float> scores(logits, logits + E);
  std::vector<int32_t> chosen;
  if (p.scoring == RouterScoring::kSigmoidNoauxTc) {
    for (auto& s : scores) s = 1.0f / (1.0f + std::exp(-s));
    // The correction bias steers selection only; weights use the unbiased scores.
    std::vector<float> choice(scores);
    if (!p.bias.empty())
      for (int64_t e = 0; e < E; ++e) choice[e] += p.bias.ptr<const float>()[e];
    if (p.n_group > 1) {
      const int64_t per = E / p.n_group;
      std::vector<float> group_score(p.n_group);
      for (int64_t g = 0; g < p.n_group; ++g) {
        std::vector<int32_t> top2;
        top_k(choice.data() + g * per, per, 2, top2);
        group_score[g] = choice[g * per + top2[0]] + choice[g * per + top2[1]];
      }
      std::vector<int32_t> keep;
      top_k(group_score.data(), p.n_group, p.topk_group, keep);
      std::vector<bool> kept(p.n_group, false);
      for (int32_t g : keep) kept[g] = true;
      for (int64_t e = 0; e < E; ++e)
        if (!kept[e / per]) choice[e] = -std::numeric_limits<float>::infinity();
    }
    top_k(choice.data(), E, k, chosen);
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += scores[chosen[j]];
    for (int64_t j = 0; j < k; ++j) {
      float w = scores[chosen[j]];
      if (p.norm_topk_prob) w = w / (sum + 1e-20f);
      weights[j] = w * p.routed_scaling_factor;
      ids[j] = chosen[j];
    }
    return;
  }
  // Softmax over all experts (DeepSeek-V2).
  const float m = *std::max_element(scores.begin(), scores.end());
  float sum = 0.0f;
  for (auto& s : scores) {
    s = std::exp(s - m);
    sum += s;
  }
  for (auto& s : scores) s /= sum;
  std::vector<float> choice(scores);
  if (p.scoring == RouterScoring::kSoftmaxGroupLimited && p.n_group > 1) {
    const int64_t per = E / p.n_group;
    std::vector<float> group_max(p.n_group);
    for (int64_t g = 0; g < p.n_group; ++g)
      group_max[g] = *std::max_element(choice.begin() + g * per, choice.begin() + (g + 1) * per);
    std::vector<int32_t> keep;
    top_k(group_max.data(), p.n_group, p.topk_group, keep);
    std::vector<bool> kept(p.n_group, false);
    for (int32_t g : keep) kept[g] = true;
    for (int64_t e = 0; e < E; ++e)
      if (!kept[e / per]) choice[e] = 0.0f;
  }
  top_k(choice.data(), E, k, chosen);
  for (int64_t j = 0; j < k; ++j) {
    ids[j] = chosen[j];
    weights[j] = choice[chosen[j]] * p.routed_scaling_factor;
  }
}

}  // namespace

void moe_route(ThreadPool& pool, const RouterParams& p) {
  const int64_t T = p.x.rows, E = p.num_experts, k = p.top_k;
  std::vector<float> logits(static_cast<size_t>(T * E));
  gemm(pool, p.x, p.gate, Tensor::matrix(logits.data(), DType::kF32, T, E));
  const int32_t* valid = p.valid.empty() ? nullptr : p.valid.ptr<const int32_t>();
  pool.parallel_for(T, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int32_t* ids = p.ids.ptr<int32_t>() + t * p.ids.ld;
      float* w = p.weights.ptr<float>() + t * p.weights.ld;
      if (valid && !valid[t]) {
        std::fill(ids, ids + k, -1);
        std::fill(w, w + k, 0.0f);
        continue;
      }
      route_row(p, logits.data() + t * E, ids, w);
    }
  });
}

void moe_experts(ThreadPool& pool, const ExpertParams& p) {
  const int64_t T = p.x.rows, H = p.x.cols, k = p.ids.cols;
  const int64_t E_local = p.gate_up.batch, I = p.gate_up.rows / 2;
  const int32_t* ids = p.ids.ptr<const int32_t>();
  const float* wts = p.weights.ptr<const float>();
  // Group (token, slot) pairs by local expert, in token order.
  std::vector<std::vector<int64_t>> assigned(static_cast<size_t>(E_local));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = static_cast<int64_t>(ids[t * p.ids.ld + j]) - p.first_expert;
      if (e >= 0 && e < E_local) assigned[e].push_back(t * k + j);
    }
  // Expert outputs per (token, slot).
  std::vector<float> y(static_cast<size_t>(T * k * H), 0.0f);
  std::vector<float> xe, hidden, act;
  for (int64_t e = 0; e < E_local; ++e) {
    const auto& rows = assigned[e];
    const int64_t n = static_cast<int64_t>(rows.size());
    if (n == 0) continue;
    xe.resize(static_cast<size_t>(n * H));
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(p.x.ptr<const float>() + (rows[i] / k) * p.x.ld, H, xe.data() + i * H);
    hidden.resize(static_cast<size_t>(n * 2 * I));
    act.resize(static_cast<size_t>(n * I));
    gemm(pool, Tensor::matrix(xe.data(), DType::kF32, n, H), p.gate_up[e],
         Tensor::matrix(hidden.data(), DType::kF32, n, 2 * I));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < I; ++c)
        act[i * I + c] = silu(hidden[i * 2 * I + c]) * hidden[i * 2 * I + I + c];
    gemm(pool, Tensor::matrix(act.data(), DType::kF32, n, I), p.down[e],
         Tensor::matrix(xe.data(), DType::kF32, n, H));
    for (int64_t i = 0; i < n; ++i) std::copy_n(xe.data() + i * H, H, y.data() + rows[i] * H);
  }
  // Weighted sum per token over its experts in ascending expert id (as transformers' eager
  // loop adds them), so the result does not depend on the router's slot order.
  pool.parallel_for(T, 4, [&](int64_t b, int64_t e) {
    std::vector<int64_t> order(static_cast<size_t>(k));
    for (int64_t t = b; t < e; ++t) {
      float* out = p.out.ptr<float>() + t * p.out.ld;
      std::fill(out, out + H, 0.0f);
      std::iota(order.begin(), order.end(), 0);
      const int32_t* row_ids = ids + t * p.ids.ld;
      std::sort(order.begin(), order.end(),
                [&](int64_t a, int64_t c) { return row_ids[a] < row_ids[c]; });
      for (int64_t j : order) {
        const int64_t eg = row_ids[j] - p.first_expert;
        if (row_ids[j] < 0 || eg < 0 || eg >= E_local) continue;
        axpy(wts[t * p.weights.ld + j], y.data() + (t * k + j) * H, out, H);
      }
    }
  });
}

}  // namespace duet::cpu
