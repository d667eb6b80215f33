// Checks shared by the golden-fixture suites (CPU and CUDA): a model run through
// ReferenceRunner against one prompt of a Hugging Face fixture.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "golden/golden_fixture.h"
#include "model/reference_runner.h"

namespace duet::testing {

// Teacher-forced: the prompt plus the reference's greedy tokens in one forward; the argmax at
// every greedy step whose reference margin exceeds `margin_floor` must be the reference token.
inline void expect_teacher_forced_greedy(ReferenceRunner& runner, const GoldenPrompt& p,
                                         int64_t vocab, float margin_floor) {
  std::vector<int32_t> forced = p.ids;
  forced.insert(forced.end(), p.greedy.begin(), p.greedy.end() - 1);
  const std::vector<float> logits = runner.prompt_logits(forced);
  for (size_t s = 0; s < p.greedy.size(); ++s) {
    if (p.margin[s] <= margin_floor) continue;
    const int64_t row = static_cast<int64_t>(p.ids.size() + s) - 1;
    EXPECT_EQ(argmax(logits.data() + row * vocab, vocab), p.greedy[s])
        << "teacher-forced greedy step " << s;
  }
}

// Free-running greedy decode (cached, or recomputing the whole sequence every step) must
// reproduce the reference tokens up to the first step whose margin is at most `margin_floor`.
inline void expect_free_running_greedy(ReferenceRunner& runner, const GoldenPrompt& p,
                                       float margin_floor, bool full_recompute) {
  const auto ours = runner.greedy(p.ids, static_cast<int64_t>(p.greedy.size()), {}, full_recompute);
  for (size_t s = 0; s < p.greedy.size() && p.margin[s] > margin_floor; ++s)
    ASSERT_EQ(ours[s], p.greedy[s])
        << (full_recompute ? "full recompute" : "cached decode") << ", step " << s;
}

}  // namespace duet::testing
