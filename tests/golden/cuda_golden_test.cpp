// The CUDA backend (bf16 activations) against Hugging Face fp64 on every golden fixture: per
// prompt, max |logit - ref| within 1.5x the error HF's own bf16 eager run makes on the same
// inputs; teacher-forced and cached-decode greedy tokens identical wherever the reference top-2
// margin exceeds that bound; and all prompts run as one batch obey the same bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "golden/golden_checks.h"
#include "golden/golden_fixture.h"
#include "loader/checkpoint.h"
#include "model/deepseek_model.h"
#include "model/latent_cache.h"
#include "model/reference_runner.h"
#include "model/weights.h"

namespace duet {
namespace {

using testing::GoldenFixture;

float bound_of(const testing::GoldenPrompt& p) {
  return 1.5f * *std::max_element(p.bf16_err.begin(), p.bf16_err.end());
}

float max_err(const float* got, const float* ref, size_t n) {
  float worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const float e = std::abs(got[i] - ref[i]);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, WithinHfBf16Error) {
  if (!cuda_device_available()) GTEST_SKIP() << "no usable CUDA device";
  const GoldenFixture g = testing::load_golden(GetParam());
  ASSERT_FALSE(g.prompts.empty());
  const ModelConfig c = load_model_config(g.dir);
  auto be = make_cuda_backend();
  Checkpoint ck = Checkpoint::open(g.dir, c.weight_prefix);
  DeepseekModel model(c, *be, load_weights(c, ck, *be));
  ReferenceRunner runner(model);
  const int64_t V = c.vocab_size;
  for (size_t pi = 0; pi < g.prompts.size(); ++pi) {
    const auto& p = g.prompts[pi];
    const float bound = bound_of(p);
    SCOPED_TRACE(g.name + " prompt " + std::to_string(pi) + " (" + std::to_string(p.ids.size()) +
                 " tokens), bound " + std::to_string(bound));
    const std::vector<float> logits = runner.prompt_logits(p.ids);
    ASSERT_EQ(logits.size(), p.logits.size());
    const float worst = max_err(logits.data(), p.logits.data(), logits.size());
    EXPECT_LE(worst, bound) << "max |logit - ref| over every position";
    RecordProperty(g.name + "_p" + std::to_string(pi) + "_max_err", std::to_string(worst));
    std::printf("[golden] %s prompt %zu: max err %.5f, bound %.5f\n", g.name.c_str(), pi, worst,
                bound);

    testing::expect_teacher_forced_greedy(runner, p, V, bound);
    testing::expect_free_running_greedy(runner, p, bound, false);
  }

  // Every prompt in one batch, each its own sequence with its own blocks.
  int64_t blocks = 0;
  for (const auto& p : g.prompts)
    blocks += (static_cast<int64_t>(p.ids.size()) + kKvBlockSize - 1) / kKvBlockSize;
  LatentCache cache(*be, c, blocks);
  ForwardBatch b;
  int32_t next_block = 0;
  for (const auto& p : g.prompts) {
    SeqInBatch s;
    s.num_cached = 0;
    s.num_new_tokens = static_cast<int32_t>(p.ids.size());
    s.decode = false;
    // Blocks in reverse order, so the batched run also uses a non-identity block table.
    const int32_t nb = (s.num_new_tokens + kKvBlockSize - 1) / kKvBlockSize;
    for (int32_t i = 0; i < nb; ++i)
      s.block_ids.push_back(static_cast<int32_t>(blocks) - 1 - (next_block + i));
    next_block += nb;
    for (int32_t i = 0; i < s.num_new_tokens; ++i)
      b.logit_rows.push_back(static_cast<int32_t>(b.token_ids.size()) + i);
    b.token_ids.insert(b.token_ids.end(), p.ids.begin(), p.ids.end());
    b.seqs.push_back(s);
  }
  std::vector<float> logits;
  model.forward(b, cache, logits);
  size_t off = 0;
  for (size_t pi = 0; pi < g.prompts.size(); ++pi) {
    const auto& p = g.prompts[pi];
    const float worst = max_err(logits.data() + off, p.logits.data(), p.logits.size());
    EXPECT_LE(worst, bound_of(p)) << g.name << " prompt " << pi << " in the batched run";
    off += p.logits.size();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaGolden, ::testing::ValuesIn(testing::golden_fixture_dirs()),
                         [](const auto& info) { return testing::fixture_test_name(info.param); });

}  // namespace
}  // namespace duet
