// CUDA sample_tokens against the host reference sample_row: greedy rows exactly, sampled rows
// token for token (the kernel's quantised masses differ from the CPU's doubles by ~1e-13, so a
// mismatch needs a cut to fall that close to a target: none is expected in these rows, and the
// bound of 0.5% is only there so such a coincidence reads as what it is).
#include "backend/cuda/cuda_test_util.h"
#include "backend/sample_spec.h"

namespace duet {
namespace {

// Logits [R, V]: per row a scale times one of a few levels (many exact ties, as bf16 logits of
// a real vocabulary have), or bf16-rounded normals; some rows get -inf entries.
std::vector<float> make_logits(int64_t R, int64_t V, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> l(static_cast<size_t>(R * V));
  for (int64_t r = 0; r < R; ++r) {
    const int kind = static_cast<int>(r % 3);
    const float scale = 0.25f + static_cast<float>(rng() % 16) * 0.25f;
    std::normal_distribution<float> nd(0.0f, scale);
    const int levels = 2 + static_cast<int>(rng() % 30);
    for (int64_t i = 0; i < V; ++i) {
      float v = kind == 0 ? scale * static_cast<float>(rng() % levels) - 3.0f : nd(rng);
      if (kind == 2 && rng() % 7 == 0) v = -INFINITY;
      l[r * V + i] = bf16_to_f32(f32_to_bf16(v));
    }
  }
  return l;
}

std::vector<SampleSpec> make_specs(int64_t R, int64_t V, uint32_t seed) {
  std::mt19937_64 rng(seed);
  const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.6f};
  const int32_t ks[] = {0, 0, 1, 5, 50, static_cast<int32_t>(V), static_cast<int32_t>(V) + 3};
  const float ps[] = {1.0f, 1.0f, 0.95f, 0.9f, 0.5f, 1e-6f};
  const float ms[] = {0.0f, 0.0f, 0.0f, 0.05f, 0.5f, 1.0f};
  std::vector<SampleSpec> specs(static_cast<size_t>(R));
  for (auto& s : specs) {
    s.temperature = temps[rng() % 5];
    s.top_k = ks[rng() % 7];
    s.top_p = ps[rng() % 6];
    s.min_p = ms[rng() % 6];
    s.seed = rng();
    s.draw = rng() % 1000;
  }
  return specs;
}

class CudaSample : public CudaOps {
 protected:
  std::vector<int32_t> sample(const Tensor& logits, const std::vector<SampleSpec>& specs) {
    Tensor tokens = empty(1, static_cast<int64_t>(specs.size()), DType::kI32);
    be->sample_tokens(logits, specs, Tensor::vector(tokens.data, DType::kI32, logits.rows));
    const auto f = download(tokens);
    return std::vector<int32_t>(f.begin(), f.end());
  }
};

TEST_F(CudaSample, MatchesTheHostReference) {
  for (auto [R, V] :
       {std::pair<int64_t, int64_t>{64, 1}, {64, 5}, {300, 1000}, {200, 4099}, {24, 163840}}) {
    SCOPED_TRACE("R " + std::to_string(R) + " V " + std::to_string(V));
    const auto l = make_logits(R, V, static_cast<uint32_t>(V));
    const auto specs = make_specs(R, V, static_cast<uint32_t>(R + V));
    const auto got = sample(upload(l, R, V, DType::kF32), specs);
    int sampled = 0, differ = 0;
    for (int64_t r = 0; r < R; ++r) {
      const int32_t want = sample_row(&l[r * V], V, specs[r]);
      if (specs[r].temperature <= 0.0f) {
        EXPECT_EQ(got[r], want) << "greedy row " << r;
        continue;
      }
      ++sampled;
      if (got[r] != want) {
        ++differ;
        ADD_FAILURE() << "row " << r << " T " << specs[r].temperature << " k " << specs[r].top_k
                      << " p " << specs[r].top_p << " min_p " << specs[r].min_p << ": got "
                      << got[r] << " want " << want;
      }
    }
    EXPECT_LE(differ * 200, sampled) << differ << " of " << sampled << " sampled rows differ";
  }
}

// All-greedy batches of up to 64 rows run the split kernel (sample_greedy.cu): chunk tails,
// rows shorter than a chunk, tie-heavy and -inf rows, and unaligned rows (a column offset of
// one, the scalar loads); 65 rows go back to the one-CTA-per-row kernel.
TEST_F(CudaSample, GreedyRowsMatchTheHostReference) {
  for (auto [R, V] : {std::pair<int64_t, int64_t>{1, 1},
                      {3, 5},
                      {64, 2047},
                      {2, 2048},
                      {5, 4099},
                      {1, 163840},
                      {65, 3000}}) {
    for (int64_t offset : {0, 1}) {
      SCOPED_TRACE("R " + std::to_string(R) + " V " + std::to_string(V) + " offset " +
                   std::to_string(offset));
      const auto l = make_logits(R, V + offset, static_cast<uint32_t>(R * V + offset));
      const std::vector<SampleSpec> specs(static_cast<size_t>(R));  // temperature 0
      const auto got =
          sample(upload(l, R, V + offset, DType::kF32).slice_cols(offset, offset + V), specs);
      for (int64_t r = 0; r < R; ++r)
        EXPECT_EQ(got[r], sample_row(&l[r * (V + offset) + offset], V, specs[r])) << "row " << r;
    }
  }
}

TEST_F(CudaSample, CutsThatLeaveOneTokenAreGreedy) {
  const int64_t R = 96, V = 20000;
  const auto l = make_logits(R, V, 5);
  auto specs = make_specs(R, V, 6);
  for (int64_t r = 0; r < R; ++r) {
    specs[r].temperature = 0.9f;
    specs[r].top_k = r % 2 ? 1 : 0;
    specs[r].top_p = r % 2 ? 1.0f : 1e-7f;
  }
  const auto got = sample(upload(l, R, V, DType::kF32), specs);
  SampleSpec greedy;
  for (int64_t r = 0; r < R; ++r) EXPECT_EQ(got[r], sample_row(&l[r * V], V, greedy)) << r;
}

TEST_F(CudaSample, SeededRowIgnoresItsBatchAndEmptyBatchesWork) {
  const int64_t R = 40, V = 32000;
  const auto l = make_logits(R, V, 9);
  auto specs = make_specs(R, V, 10);
  Tensor dl = upload(l, R, V, DType::kF32);
  const auto all = sample(dl, specs);
  for (int64_t r : {0, 7, 39}) {
    EXPECT_EQ(sample(dl.slice_rows(r, r + 1), {specs[r]})[0], all[r]) << r;
  }
  EXPECT_TRUE(sample(dl.slice_rows(0, 0), {}).empty());
}

TEST_F(CudaSample, FrequenciesFollowTheDistribution) {
  // One distribution over 10 tokens (plus a long tail of -inf), 40000 draws as rows.
  const int64_t R = 40000, V = 1000;
  const float levels[] = {2.0f, 1.5f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -2.0f, -4.0f};
  std::vector<float> row(V, -INFINITY), l;
  for (int i = 0; i < 10; ++i) row[i * 97] = levels[i];
  for (int64_t r = 0; r < R; ++r) l.insert(l.end(), row.begin(), row.end());
  std::vector<SampleSpec> specs(R);
  for (int64_t r = 0; r < R; ++r) {
    specs[r].temperature = 0.8f;
    specs[r].seed = 12345;
    specs[r].draw = static_cast<uint64_t>(r);
  }
  const auto got = sample(upload(l, R, V, DType::kF32), specs);
  std::vector<double> seen(10, 0.0);
  double z = 0, chi2 = 0;
  for (float v : levels) z += std::exp(v / 0.8);
  for (int32_t t : got) {
    ASSERT_TRUE(t % 97 == 0 && t / 97 < 10) << t;
    seen[t / 97] += 1;
  }
  for (int i = 0; i < 10; ++i) {
    const double expect = R * std::exp(levels[i] / 0.8) / z;
    chi2 += (seen[i] - expect) * (seen[i] - expect) / expect;
  }
  EXPECT_LT(chi2, 27.9);  // 9 degrees of freedom: p = 0.001
}

}  // namespace
}  // namespace duet
