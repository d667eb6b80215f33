// Recorded decode graphs on the CUDA backend give the tokens eager steps give: the trained
// arithmetic model answers held-out problems in one batch (padded to a bucket, contexts growing
// across a context-bucket boundary so graphs are recorded again), with graphs and with
// --enforce-eager, and both agree with Hugging Face's greedy completions.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "backend/cuda/cuda_backend.h"
#include "engine/engine.h"
#include "eval/gsm8k.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

const std::string kModel = "models/duet-arith-tiny";

struct Generated {
  std::vector<std::string> texts;
  int64_t graph_replays = 0;
};

Generated generate(bool eager, const std::vector<Problem>& problems,
                   const std::vector<Problem>& shots) {
  EngineOptions o;
  o.model_dir = kModel;
  o.device = "cuda";
  o.enforce_eager = eager;
  o.kv_cache_tokens = 1 << 16;
  auto engine = Engine::create(o);
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 320;  // the longest worked answers take about 250 tokens
  p.stop = eval_stop_strings();
  Generated run;
  run.texts.resize(problems.size());
  for (size_t i = 0; i < problems.size(); ++i) {
    const auto ids = engine->tokenizer()->encode(
        build_prompt(problems[i].question, shots, kEvalDefaultShots), true);
    engine->add_request(ids, p, [&run, i](const RequestOutput& out) { run.texts[i] += out.text; });
  }
  engine->run_until_idle();
  run.graph_replays = engine->stats().graph_replays;
  return run;
}

TEST(CudaGraphs, SameTokensAsEagerAndHf) {
  if (!cuda_device_available()) GTEST_SKIP() << "no usable CUDA device";
  const auto all = read_problems(kModel + "/heldout.jsonl");
  const auto shots = read_problems(kModel + "/fewshot.jsonl");
  // 21 problems: the batch pads to 24, then shrinks through smaller buckets as answers end.
  std::vector<Problem> problems(all.begin(), all.begin() + 21);
  const Generated graphs = generate(false, problems, shots);
  const Generated eager = generate(true, problems, shots);
  EXPECT_GT(graphs.graph_replays, 50) << "decode steps were not replayed from graphs";
  EXPECT_EQ(eager.graph_replays, 0);
  std::ifstream hf(kModel + "/hf_greedy.jsonl");
  for (size_t i = 0; i < problems.size(); ++i) {
    EXPECT_EQ(graphs.texts[i], eager.texts[i]) << "problem " << i;
    std::string line;
    ASSERT_TRUE(std::getline(hf, line));
    const std::string want = "\"extracted\": \"" + extract_answer(graphs.texts[i]) + "\"";
    EXPECT_NE(line.find(want), std::string::npos) << "problem " << i << ": " << graphs.texts[i];
  }
}

}  // namespace
}  // namespace duet
