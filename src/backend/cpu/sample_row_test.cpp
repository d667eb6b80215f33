// sample_row: the host reference of token sampling (the CUDA kernel is tested against it).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "backend/backend.h"
#include "backend/sample_spec.h"

namespace duet {
namespace {

SampleSpec sampled(float t, int32_t k = 0, float p = 1.0f, float m = 0.0f) {
  SampleSpec s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  s.min_p = m;
  s.seed = 7;
  return s;
}

// Token frequencies over `n` draws 0..n-1 of one spec.
std::map<int32_t, int> histogram(const std::vector<float>& l, SampleSpec s, int n) {
  std::map<int32_t, int> seen;
  for (int i = 0; i < n; ++i) {
    s.draw = static_cast<uint64_t>(i);
    ++seen[sample_row(l.data(), static_cast<int64_t>(l.size()), s)];
  }
  return seen;
}

TEST(SampleUniform, DeterministicInRangeAndSeedDependent) {
  double sum = 0;
  int same = 0;
  for (uint64_t d = 0; d < 10000; ++d) {
    const double u = sample_uniform(42, d);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    EXPECT_EQ(u, sample_uniform(42, d));
    same += u == sample_uniform(43, d);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.01);
  EXPECT_EQ(same, 0);
}

TEST(SampleRow, GreedyTakesTheLowestIdOnTies) {
  std::vector<float> l = {1.0f, 3.0f, 3.0f, 2.0f};
  EXPECT_EQ(sample_row(l.data(), 4, SampleSpec{}), 1);
  SampleSpec neg;
  neg.temperature = -1.0f;
  EXPECT_EQ(sample_row(l.data(), 4, neg), 1);
}

TEST(SampleRow, TopKOneAndTinyTopPAreGreedy) {
  std::vector<float> l = {0.5f, 2.0f, 2.0f, 1.9f, -1.0f};
  for (uint64_t d = 0; d < 50; ++d) {
    SampleSpec k1 = sampled(1.0f, 1), p0 = sampled(1.0f, 0, 1e-6f), m1 = sampled(1.0f, 0, 1, 1);
    k1.draw = p0.draw = m1.draw = d;
    EXPECT_EQ(sample_row(l.data(), 5, k1), 1);
    EXPECT_EQ(sample_row(l.data(), 5, p0), 1);
    // min_p = 1 keeps every token as likely as the best: the tie 1, 2.
    const int32_t t = sample_row(l.data(), 5, m1);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
}

TEST(SampleRow, CutsRestrictTheSupport) {
  const std::vector<float> l = {5.0f, 4.0f, 1.0f, 0.0f, -3.0f};
  for (auto [t, n] : histogram(l, sampled(1.0f, 2), 400)) EXPECT_LT(t, 2);
  EXPECT_EQ(histogram(l, sampled(1.0f, 0, 0.5f), 400).size(), 1u);  // p(0) = 0.71 >= 0.5
  // p(0) + p(1) = 0.97 reaches 0.9: tokens 0 and 1 only.
  EXPECT_EQ(histogram(l, sampled(1.0f, 0, 0.9f), 400).size(), 2u);
  // min-p 0.2: p1/p0 = e^-1 = 0.37 stays, p2/p0 = e^-4 goes.
  for (auto [t, n] : histogram(l, sampled(1.0f, 0, 1.0f, 0.2f), 400)) EXPECT_LT(t, 2);
  // top_k >= V and top_p = 1 cut nothing: every token appears at a high temperature.
  EXPECT_EQ(histogram(l, sampled(8.0f, 5), 2000).size(), 5u);
  EXPECT_EQ(histogram(l, sampled(8.0f, 99), 2000).size(), 5u);
}

TEST(SampleRow, FrequenciesFollowTheSoftmax) {
  const std::vector<float> l = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f};
  const float T = 0.8f;
  const int n = 20000;
  auto seen = histogram(l, sampled(T), n);
  double z = 0, chi2 = 0;
  for (float v : l) z += std::exp(v / T);
  for (size_t i = 0; i < l.size(); ++i) {
    const double expect = n * std::exp(l[i] / T) / z;
    chi2 += (seen[static_cast<int32_t>(i)] - expect) * (seen[static_cast<int32_t>(i)] - expect) /
            expect;
  }
  EXPECT_LT(chi2, 20.5);  // 5 degrees of freedom: p = 0.001
}

TEST(SampleRow, NonFiniteRowsAndMinusInfTokens) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> all_neg = {-inf, -inf, -inf};
  EXPECT_EQ(sample_row(all_neg.data(), 3, sampled(1.0f)), 0);
  std::vector<float> some = {-inf, 0.0f, -inf, 0.0f};
  for (auto [t, n] : histogram(some, sampled(1.0f), 200)) EXPECT_TRUE(t == 1 || t == 3);
}

TEST(SampleRow, CpuBackendSamplesEachRowWithItsSpec) {
  auto be = make_cpu_backend(2);
  const int64_t R = 3, V = 5;
  std::vector<float> l = {0, 9, 0, 0, 0, 7, 0, 0, 0, 0, 1, 2, 3, 4, 5};
  std::vector<int32_t> tokens(R, -1);
  std::vector<SampleSpec> specs = {SampleSpec{}, sampled(1.0f, 1), sampled(0.5f, 2)};
  be->sample_tokens(Tensor::matrix(l.data(), DType::kF32, R, V), specs,
                    Tensor::vector(tokens.data(), DType::kI32, R));
  for (int64_t r = 0; r < R; ++r) EXPECT_EQ(tokens[r], sample_row(&l[r * V], V, specs[r]));
  EXPECT_EQ(tokens[0], 1);
  EXPECT_EQ(tokens[1], 0);
}

}  // namespace
}  // namespace duet
