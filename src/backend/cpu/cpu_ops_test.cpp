#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"

namespace duet {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
  return o;
}

TEST(CpuGemm, MatchesDoublePrecisionAndIsRowIndependent) {
  ThreadPool pool(2);
  for (int64_t K : {1, 7, 8, 33, 256}) {
    for (int64_t T : {0, 1, 5, 130}) {
      const int64_t N = 37;
      auto x = randn(T * K, 1);
      auto w = to_bf16(randn(N * K, 2));
      std::vector<float> y(T * N);
      cpu::gemm(pool, Tensor::matrix(x.data(), DType::kF32, T, K),
                Tensor::matrix(w.data(), DType::kBF16, N, K),
                Tensor::matrix(y.data(), DType::kF32, T, N));
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t n = 0; n < N; ++n) {
          double ref = 0;
          for (int64_t k = 0; k < K; ++k) ref += double(x[t * K + k]) * bf16_to_f32(w[n * K + k]);
          ASSERT_NEAR(y[t * N + n], ref, 1e-4 * (1 + std::abs(ref)));
        }
        // The same row alone gives bit-identical results.
        std::vector<float> y1(N);
        cpu::gemm(pool, Tensor::matrix(x.data() + t * K, DType::kF32, 1, K),
                  Tensor::matrix(w.data(), DType::kBF16, N, K),
                  Tensor::matrix(y1.data(), DType::kF32, 1, N));
        for (int64_t n = 0; n < N; ++n) ASSERT_EQ(y1[n], y[t * N + n]);
      }
    }
  }
}

TEST(CpuMla, AbsorbedAndExpandedFormsAgree) {
  auto be = make_cpu_backend(2);
  const int64_t H = 3, dn = 8, dr = 4, dv = 6, r = 16, L = 70;
  // Cache of 2 blocks, stored in reverse block order to exercise the block table.
  std::vector<float> cache = randn(2 * kKvBlockSize * (r + dr), 3);
  std::vector<int32_t> table = {1, 0};
  auto kvb = to_bf16(randn(H * (dn + dv) * r, 4, 0.3f));
  auto q = randn(L * H * (dn + dr), 5);
  std::vector<int32_t> pos(L);
  for (int i = 0; i < L; ++i) pos[i] = i;
  std::vector<int32_t> q_start = {0, L}, kv_len = {L};
  std::vector<float> out_e(L * H * dv), out_d(L * H * dv);
  for (int mode = 0; mode < 2; ++mode) {
    std::vector<int32_t> decode = {mode};
    MlaParams p;
    p.q = Tensor::matrix(q.data(), DType::kF32, L, H * (dn + dr));
    p.positions = Tensor::vector(pos.data(), DType::kI32, L);
    p.out = Tensor::matrix((mode ? out_d : out_e).data(), DType::kF32, L, H * dv);
    p.q_start = Tensor::vector(q_start.data(), DType::kI32, 2);
    p.kv_len = Tensor::vector(kv_len.data(), DType::kI32, 1);
    p.decode = Tensor::vector(decode.data(), DType::kI32, 1);
    p.block_table = Tensor::matrix(table.data(), DType::kI32, 1, 2);
    p.num_seqs = 1;
    p.host_q_start = q_start.data();
    p.host_kv_len = kv_len.data();
    p.host_decode = decode.data();
    p.cache = Tensor::matrix(cache.data(), DType::kF32, 2 * kKvBlockSize, r + dr);
    p.kv_b = Tensor::matrix(kvb.data(), DType::kBF16, H * (dn + dv), r);
    p.heads = H;
    p.nope_dim = dn;
    p.rope_dim = dr;
    p.v_dim = dv;
    p.kv_rank = r;
    p.scale = 0.2f;
    be->mla_attention(p);
  }
  for (size_t i = 0; i < out_e.size(); ++i) ASSERT_NEAR(out_e[i], out_d[i], 1e-4);
}

TEST(CpuMoe, RoutesWithBiasForSelectionOnly) {
  ThreadPool pool(1);
  // One token, identity-like router: logits = x.
  const int64_t E = 4, H = 4;
  std::vector<float> x = {2.0f, 1.0f, 0.5f, -1.0f};
  std::vector<float> gate(E * H, 0.0f);
  for (int e = 0; e < E; ++e) gate[e * H + e] = 1.0f;
  std::vector<float> bias = {-10.0f, 0.0f, 0.0f, 5.0f};  // pushes expert 3 in, expert 0 out
  std::vector<int32_t> ids(2);
  std::vector<float> w(2);
  RouterParams p;
  p.x = Tensor::matrix(x.data(), DType::kF32, 1, H);
  p.gate = Tensor::matrix(gate.data(), DType::kF32, E, H);
  p.bias = Tensor::vector(bias.data(), DType::kF32, E);
  p.ids = Tensor::matrix(ids.data(), DType::kI32, 1, 2);
  p.weights = Tensor::matrix(w.data(), DType::kF32, 1, 2);
  p.num_experts = E;
  p.top_k = 2;
  p.norm_topk_prob = true;
  p.routed_scaling_factor = 2.0f;
  cpu::moe_route(pool, p);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], 1);
  const float s3 = 1 / (1 + std::exp(1.0f)), s1 = 1 / (1 + std::exp(-1.0f));
  EXPECT_NEAR(w[0], 2 * s3 / (s3 + s1), 1e-6);
  EXPECT_NEAR(w[1], 2 * s1 / (s3 + s1), 1e-6);
  // Pad rows select nothing.
  std::vector<int32_t> valid = {0};
  p.valid = Tensor::vector(valid.data(), DType::kI32, 1);
  cpu::moe_route(pool, p);
  EXPECT_EQ(ids[0], -1);
  EXPECT_EQ(w[1], 0.0f);
}

}  // namespace
}  // namespace duet
