// Every parallel layout computes what one rank computes. On CPU ranks (threads), for golden
// fixtures and mixed prompt lengths (uneven micro-batches, cut requests, idle ranks):
//   - greedy tokens identical to the single-rank run, logits within 1e-5 of the largest logit
//     (sharded sums may change the summation order, nothing else may);
//   - TBO on/off bitwise identical at a fixed layout;
//   - NaN-poisoned pad rows change nothing and reach no expert;
//   - every rank issues the same collectives, step by step.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <thread>

#include "engine/runtime.h"
#include "golden/golden_fixture.h"

namespace duet {
namespace {

struct Layout {
  int64_t dp, tp;
  std::string moe;
  bool tbo;
  bool padded = false;
  std::string name() const {
    return "dp" + std::to_string(dp) + "_tp" + std::to_string(tp) + "_" + moe +
           (tbo ? "_tbo" : "") + (padded ? "_padded" : "");
  }
};

EngineOptions options(const std::string& dir, const Layout& l) {
  EngineOptions o;
  o.model_dir = dir;
  o.device = "cpu";
  o.threads = 2;
  o.dp = l.dp;
  o.tp = l.tp;
  o.moe = l.moe;
  o.tbo = l.tbo;
  o.tbo_min_tokens_decode = 1;  // make TBO run on small test batches
  o.tbo_min_tokens_prefill = 1;
  o.pad_moe_gather = l.padded;
  o.kv_cache_tokens = 64 * 64;
  o.collective_timeout_s = 20;  // a hang fails the test instead of blocking it
  o.load_tokenizer = false;
  return o;
}

// A sequence being generated: its tokens and blocks (the test owns the cache layout).
struct Seq {
  std::vector<int32_t> tokens;
  int32_t num_prompt = 0, computed = 0;
  std::vector<int32_t> blocks;
};

// Runs `steps` greedy steps of every sequence with sequence i on DP group assign[i] (all in
// one prefill, then one decode token per step). Returns, per sequence, the logits of every
// prompt position and of each decode step, and the generated tokens.
struct RunResult {
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<int32_t>> generated;
};

RunResult run(Runtime& rt, const std::vector<std::vector<int32_t>>& prompts,
              const std::vector<int64_t>& assign, int steps, const std::vector<int>& start = {}) {
  const int64_t G = rt.num_groups(), V = rt.config().vocab_size;
  std::vector<Seq> seqs(prompts.size());
  std::vector<int32_t> next_block(G, 0);
  RunResult out;
  out.logits.resize(prompts.size());
  out.generated.resize(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    seqs[i].tokens = prompts[i];
    seqs[i].num_prompt = static_cast<int32_t>(prompts[i].size());
    const int64_t need = (static_cast<int64_t>(prompts[i].size()) + steps + 63) / 64;
    for (int64_t b = 0; b < need; ++b) seqs[i].blocks.push_back(next_block[assign[i]]++);
  }
  const int last_start = start.empty() ? 0 : *std::max_element(start.begin(), start.end());
  for (int step = 0; step <= steps + last_start; ++step) {
    std::vector<ForwardBatch> batches(G);
    std::vector<std::vector<std::pair<size_t, int32_t>>> rows(G);  // (seq, first logit row)
    for (size_t i = 0; i < seqs.size(); ++i) {
      const int begin = start.empty() ? 0 : start[i];
      if (step < begin || step > begin + steps) continue;  // not started yet, or done
      ForwardBatch& b = batches[assign[i]];
      Seq& s = seqs[i];
      SeqInBatch sib;
      sib.num_cached = s.computed;
      sib.num_new_tokens = static_cast<int32_t>(s.tokens.size()) - s.computed;
      sib.decode = step > begin;
      sib.block_ids = s.blocks;
      const int32_t first = static_cast<int32_t>(b.token_ids.size());
      b.token_ids.insert(b.token_ids.end(), s.tokens.begin() + s.computed, s.tokens.end());
      b.seqs.push_back(sib);
      rows[assign[i]].emplace_back(i, static_cast<int32_t>(b.logit_rows.size()));
      for (int32_t r = first; r < static_cast<int32_t>(b.token_ids.size()); ++r)
        b.logit_rows.push_back(r);
    }
    std::vector<StepOutput> outs;
    rt.forward(batches, outs);
    for (int64_t g = 0; g < G; ++g)
      for (auto [i, r0] : rows[g]) {
        Seq& s = seqs[i];
        const int64_t n = static_cast<int64_t>(s.tokens.size()) - s.computed;
        const float* lg = outs[g].logits.data() + static_cast<int64_t>(r0) * V;
        out.logits[i].insert(out.logits[i].end(), lg, lg + n * V);
        const float* last = lg + (n - 1) * V;
        const int32_t tok = static_cast<int32_t>(std::max_element(last, last + V) - last);
        s.computed = static_cast<int32_t>(s.tokens.size());
        s.tokens.push_back(tok);
        out.generated[i].push_back(tok);
      }
  }
  return out;
}

std::vector<std::vector<int32_t>> test_prompts(const testing::GoldenFixture& g) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : g.prompts) prompts.push_back(p.ids);
  // More lengths so micro-batches are uneven and requests are cut.
  std::vector<int32_t> extra(45);
  std::iota(extra.begin(), extra.end(), 5);
  prompts.push_back(extra);
  prompts.push_back({9, 8});
  return prompts;
}

class DpInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(DpInvariance, EveryLayoutMatchesOneRank) {
  const testing::GoldenFixture g = testing::load_golden(GetParam());
  const auto prompts = test_prompts(g);
  Runtime single(options(g.dir, {1, 1, "tp", false}));
  const RunResult ref = run(single, prompts, std::vector<int64_t>(prompts.size(), 0), 4);
  float max_logit = 0;
  for (const auto& v : ref.logits)
    for (float x : v) max_logit = std::max(max_logit, std::abs(x));
  const ModelConfig& c = single.config();
  std::vector<Layout> layouts;
  for (int64_t dp : {1, 2, 4})
    for (int64_t tp : {1, 2})
      for (const char* moe : {"tp", "ep"})
        for (bool tbo : {false, true}) {
          Layout l{dp, tp, moe, tbo};
          if (dp * tp == 1 && !tbo && l.moe == "tp") continue;
          if (c.num_attention_heads % tp) continue;
          if (l.moe == "ep" && c.n_routed_experts % (dp * tp)) continue;
          if (l.moe == "tp" && c.moe_intermediate_size % (dp * tp)) continue;
          layouts.push_back(l);
        }
  layouts.push_back({2, 1, "ep", true, /*padded=*/true});
  for (const Layout& l : layouts) {
    SCOPED_TRACE(l.name());
    Runtime rt(options(g.dir, l));
    // Uneven assignment: group 0 takes the long prompts, the last group may stay idle.
    std::vector<int64_t> assign(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i)
      assign[i] = (i * 7 / 3) % std::max<int64_t>(1, l.dp > 2 ? l.dp - 1 : l.dp);
    const RunResult got = run(rt, prompts, assign, 4);
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSERT_EQ(got.generated[i], ref.generated[i]) << "prompt " << i;
      ASSERT_EQ(got.logits[i].size(), ref.logits[i].size());
      float worst = 0;
      for (size_t k = 0; k < got.logits[i].size(); ++k)
        worst = std::max(worst, std::abs(got.logits[i][k] - ref.logits[i][k]));
      EXPECT_LE(worst, 1e-5f * max_logit) << "prompt " << i;
    }
    if (l.tbo) {
      int64_t tbo_steps = 0;
      for (StepExecutor* ex : rt.executors()) tbo_steps += ex->tbo_steps();
      EXPECT_GT(tbo_steps, 0) << "TBO never ran";
      // TBO on/off at the same layout: bitwise identical.
      Layout off = l;
      off.tbo = false;
      Runtime rt_off(options(g.dir, off));
      const RunResult no_tbo = run(rt_off, prompts, assign, 4);
      for (size_t i = 0; i < prompts.size(); ++i)
        ASSERT_EQ(0, std::memcmp(no_tbo.logits[i].data(), got.logits[i].data(),
                                 got.logits[i].size() * sizeof(float)))
            << "TBO changed bits of prompt " << i;
    }
    // Collective traces: within each group (the tp ranks of one DP group; the ranks with one
    // TP index across DP groups) every rank issued the same collectives with the same counts.
    for (bool tp_group : {true, false}) {
      const auto comms = rt.communicators(tp_group);  // world order: rank = g * tp + t
      std::map<int64_t, const Communicator*> first_of_group;
      for (size_t w = 0; w < comms.size(); ++w) {
        const Communicator* cm = comms[w];
        if (!cm) continue;
        const int64_t group =
            tp_group ? static_cast<int64_t>(w) / l.tp : static_cast<int64_t>(w) % l.tp;
        auto [it, fresh] = first_of_group.emplace(group, cm);
        if (fresh) continue;
        const Communicator* first = it->second;
        ASSERT_EQ(cm->trace().size(), first->trace().size());
        for (size_t k = 0; k < cm->trace().size(); ++k) {
          EXPECT_EQ(cm->trace()[k].op, first->trace()[k].op) << "collective " << k;
          EXPECT_EQ(cm->trace()[k].counts, first->trace()[k].counts) << "collective " << k;
        }
      }
    }
  }
}

TEST_P(DpInvariance, PoisonedPaddingChangesNothingAndReachesNoExpert) {
  const testing::GoldenFixture g = testing::load_golden(GetParam());
  const auto prompts = test_prompts(g);
  Layout l{2, 1, "ep", true, /*padded=*/true};
  EngineOptions clean = options(g.dir, l);
  EngineOptions poisoned = clean;
  poisoned.debug_poison_padding = true;
  poisoned.debug_count_experts = true;
  clean.debug_count_experts = true;
  Runtime a(clean), b(poisoned);
  std::vector<int64_t> assign(prompts.size(), 0);
  assign[1] = 1;  // group 1 gets one short prompt: most of its gather rows are padding
  const RunResult ra = run(a, prompts, assign, 3), rb = run(b, prompts, assign, 3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(ra.generated[i], rb.generated[i]);
    for (float x : rb.logits[i]) ASSERT_TRUE(std::isfinite(x));
    ASSERT_EQ(0, std::memcmp(ra.logits[i].data(), rb.logits[i].data(), ra.logits[i].size() * 4));
  }
  // Every rank routes the same gathered rows: per layer, expert counts sum to real tokens x k.
  int64_t real_tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i)
    real_tokens += static_cast<int64_t>(prompts[i].size()) + 3;
  for (StepExecutor* ex : b.executors())
    for (int64_t layer = 0; layer < b.config().num_hidden_layers; ++layer) {
      if (!b.config().is_moe_layer(layer)) continue;
      const auto& counts = ex->expert_counts()[layer];
      const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
      EXPECT_EQ(total, real_tokens * b.config().num_experts_per_tok) << "layer " << layer;
    }
}

TEST_P(DpInvariance, IdleRanksAndMissingRanksNeverHang) {
  const testing::GoldenFixture g = testing::load_golden(GetParam());
  Layout l{4, 1, "ep", true};
  Runtime rt(options(g.dir, l));
  // Only group 2 has work; the others run idle steps that join every collective.
  std::vector<std::vector<int32_t>> prompts = {g.prompts[3].ids};
  const RunResult r = run(rt, prompts, {2}, 2);
  EXPECT_EQ(r.generated[0].size(), 3u);
  // All idle: the plan says idle everywhere and nothing runs.
  std::vector<ForwardBatch> empty(4);
  std::vector<StepOutput> outs;
  rt.forward(empty, outs);
  for (StepExecutor* ex : rt.executors()) EXPECT_TRUE(ex->last_plan().idle);
}

TEST_P(DpInvariance, AsymmetricLoadsAgreeWithOneRank) {
  // One rank prefills a long prompt while the others decode; one-token prefills; ranks on both
  // sides of the TBO threshold (3 decode tokens here, one rank has 1, another 4). The 20 s
  // collective timeout turns any hang into a failure.
  const testing::GoldenFixture g = testing::load_golden(GetParam());
  std::vector<std::vector<int32_t>> prompts = {{7}, {8}, {9}, {10}, {11}, g.prompts[3].ids, {12}};
  std::vector<int64_t> assign = {0, 0, 0, 0, 1, 1, 2};
  std::vector<int> start = {0, 0, 0, 0, 0, 2, 3};
  Runtime single(options(g.dir, {1, 1, "tp", false}));
  const RunResult ref = run(single, prompts, std::vector<int64_t>(prompts.size(), 0), 4, start);
  for (bool tbo : {false, true}) {
    Layout l{4, 1, "ep", tbo};  // group 3 stays idle throughout
    EngineOptions o = options(g.dir, l);
    o.tbo_min_tokens_decode = 3;
    Runtime rt(o);
    const RunResult got = run(rt, prompts, assign, 4, start);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got.generated[i], ref.generated[i]) << i;
    if (tbo) {
      int64_t tbo_steps = 0;
      for (StepExecutor* ex : rt.executors()) tbo_steps += ex->tbo_steps();
      EXPECT_GT(tbo_steps, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DpInvariance,
                         ::testing::Values("tests/data/golden/v3-yarn", "tests/data/golden/v2-lite",
                                           "tests/data/golden/k25"),
                         [](const auto& info) { return testing::fixture_test_name(info.param); });

}  // namespace
}  // namespace duet
