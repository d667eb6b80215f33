// The CPU reference against Hugging Face (fp64, eager) on every golden fixture: logits of every
// prompt position within 1e-3 of the largest reference logit, and greedy tokens identical at
// every step whose reference top-2 margin exceeds that bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/backend.h"
#include "golden/golden_checks.h"
#include "golden/golden_fixture.h"
#include "loader/checkpoint.h"
#include "model/deepseek_model.h"
#include "model/reference_runner.h"
#include "model/weights.h"

namespace duet {
namespace {

using testing::GoldenFixture;

class CpuGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuGolden, MatchesHuggingFace) {
  const GoldenFixture g = testing::load_golden(GetParam());
  ASSERT_FALSE(g.prompts.empty());
  const ModelConfig c = load_model_config(g.dir);
  auto be = make_cpu_backend(2);
  Checkpoint ck = Checkpoint::open(g.dir, c.weight_prefix);
  DeepseekModel model(c, *be, load_weights(c, ck, *be));
  ReferenceRunner runner(model);
  const int64_t V = c.vocab_size;
  for (size_t pi = 0; pi < g.prompts.size(); ++pi) {
    const auto& p = g.prompts[pi];
    const float tol = 1e-3f * p.max_abs_logit();
    SCOPED_TRACE(g.name + " prompt " + std::to_string(pi) + " (" + std::to_string(p.ids.size()) +
                 " tokens), tolerance " + std::to_string(tol));
    const std::vector<float> logits = runner.prompt_logits(p.ids);
    ASSERT_EQ(logits.size(), p.logits.size());
    float worst = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, std::abs(logits[i] - p.logits[i]));
    EXPECT_LE(worst, tol) << "max |logit - ref| over every position";
    RecordProperty(g.name + "_p" + std::to_string(pi) + "_max_err", std::to_string(worst));

    testing::expect_teacher_forced_greedy(runner, p, V, tol);
    for (bool full : {false, true}) testing::expect_free_running_greedy(runner, p, tol, full);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CpuGolden, ::testing::ValuesIn(testing::golden_fixture_dirs()),
                         [](const auto& info) { return testing::fixture_test_name(info.param); });

}  // namespace
}  // namespace duet
