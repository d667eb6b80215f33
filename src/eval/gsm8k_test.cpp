#include <gtest/gtest.h>

#include "eval/arith_task.h"
#include "eval/gsm8k.h"

namespace duet {
namespace {

TEST(Gsm8k, ExtractsFinalThenLastNumber) {
  EXPECT_EQ(extract_answer(" so 3 + 4 = 7.\n#### 1,234"), "1234");
  EXPECT_EQ(extract_answer("a 12 b 3.50 c"), "3.5");
  EXPECT_EQ(extract_answer("no number"), "");
  EXPECT_EQ(extract_answer("#### -5"), "-5");
}

TEST(Gsm8k, PromptAndStops) {
  std::vector<Problem> shots = {{"q1?", "a1\n#### 1"}, {"q2?", "a2\n#### 2"}};
  EXPECT_EQ(build_prompt("q?", shots, 1),
            "Question: q1?\nAnswer: a1\n#### 1\n\nQuestion: q?\nAnswer:");
  EXPECT_EQ(truncate_at_stop(" x\n#### 3\n\nQuestion: y"), " x\n#### 3");
}

TEST(ArithTask, WorkedAnswersAreRight) {
  auto probs = make_arith_problems(7, 300);
  ASSERT_EQ(probs.size(), 300u);
  for (const auto& p : probs) {
    // The final answer equals the last ">>N" result of the worked steps.
    const size_t last = p.answer.rfind(">>");
    ASSERT_NE(last, std::string::npos) << p.answer;
    const std::string tail = p.answer.substr(last + 2);
    const std::string final_num = extract_answer(p.answer);
    EXPECT_EQ(tail.substr(0, final_num.size()), final_num) << p.answer;
  }
  EXPECT_EQ(make_arith_problems(7, 5)[3].question, probs[3].question);  // deterministic
  EXPECT_NE(make_arith_problems(8, 5)[3].question, probs[3].question);
}

}  // namespace
}  // namespace duet
