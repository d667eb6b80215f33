// The single-rank engine: scheduler + block pool + model on one backend, driven one step at a
// time. Requests enter through a locked inbox so that any thread may add or abort them; only
// the thread running step() touches the scheduler, the pool and the model.
#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "engine/batch_builder.h"
#include "engine/output_text.h"
#include "engine/request.h"
#include "engine/runtime.h"
#include "sched/prefill_delayer.h"

namespace duet {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
      return "error";
  }
  return "";
}

namespace {

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& o) : rt_(o), budget_(o.max_num_batched_tokens) {
    if (o.dp > 1 && o.prefill_delayer) {
      PrefillDelayerConfig dc;
      dc.alignment = o.tbo ? 2 : 1;  // TBO wants one prefill per micro-batch
      dc.token_budget = static_cast<int32_t>(o.max_num_batched_tokens);
      delayer_ = std::make_unique<PrefillDelayer>(dc);
    }
    reap_finished();
  }
  ~EngineImpl() override { stop(); }

  const ModelConfig& model_config() const override { return rt_.config(); }
  const Tokenizer* tokenizer() const override { return rt_.tokenizer(); }
  SamplingParams default_sampling() const override { return rt_.default_sampling(); }
  int64_t max_model_len() const override { return rt_.max_model_len(); }
  std::vector<int64_t> eos_token_ids() const override { return rt_.config().eos_token_ids; }

  int64_t add_request(std::vector<int32_t> prompt, SamplingParams params,
                      OutputCallback cb) override {
    rt_.validate(prompt, params);
    auto req = std::make_unique<Request>();
    req->seq.tokens = std::move(prompt);
    req->seq.num_prompt_tokens = req->seq.num_tokens();
    req->params = std::move(params);
    req->on_output = std::move(cb);
    req->arrival_time = std::chrono::steady_clock::now();
    uint64_t seed;
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      req->seq.id = next_id_++;
      seed = req->params.seed ? *req->params.seed : seed_source_();
    }
    req->sampler = std::make_unique<Sampler>(req->params, seed);
    req->sampler->observe_prompt(req->seq.tokens);
    if (rt_.tokenizer()) {
      req->detok = std::make_unique<IncrementalDetokenizer>(*rt_.tokenizer(),
                                                            req->params.skip_special_tokens);
      for (const auto& s : req->params.stop)
        req->max_stop_len = std::max(req->max_stop_len, s.size());
    } else if (!req->params.stop.empty()) {
      fail("stop strings need a tokenizer, and this checkpoint has none");
    }
    const int64_t id = req->seq.id;
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      inbox_.push_back(std::move(req));
    }
    wake_.notify_all();
    return id;
  }

  void abort(int64_t id) override {
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      aborts_.push_back(id);
    }
    wake_.notify_all();
  }

  bool step() override {
    drain_inbox();
    if (requests_.empty()) return false;
    const int64_t G = rt_.num_groups();
    const bool allow_prefill = prefill_allowed();
    std::vector<ScheduledBatch> plans(G);
    std::vector<BuiltBatch> built(G);
    std::vector<ForwardBatch> batches(G);
    bool any = false, preempted = false;
    for (int64_t g = 0; g < G; ++g) {
      plans[g] = rt_.scheduler(g).schedule(allow_prefill);
      built[g] = build_forward_batch(plans[g]);
      batches[g] = built[g].batch;
      set_sampling(built[g], batches[g]);
      any |= !plans[g].empty();
      preempted |= !plans[g].preempted.empty();
    }
    if (!any) {
      int64_t running = 0;
      for (int64_t g = 0; g < G; ++g) running += rt_.scheduler(g).num_running();
      DUET_CHECK(running == 0 || preempted || !allow_prefill,
                 "scheduler made no progress with running sequences");
      return !requests_.empty();
    }
    std::vector<StepOutput> outputs;
    try {
      rt_.forward(batches, outputs);
    } catch (const std::exception& e) {
      fail_all(str_cat("model step failed: ", e.what()));
      return false;
    }
    ++steps_;
    const int64_t V = rt_.config().vocab_size;
    for (int64_t g = 0; g < G; ++g) {
      rt_.scheduler(g).on_step_done(plans[g]);
      const StepOutput& out = outputs[g];
      int64_t host_row = 0;
      for (size_t i = 0; i < built[g].sampled.size(); ++i) {
        auto it = requests_.find(built[g].sampled[i]->id);
        const int32_t token = out.tokens.empty() ? -1 : out.tokens[i];
        const float* row = token < 0 ? out.logits.data() + host_row++ * V : nullptr;
        if (it == requests_.end()) continue;
        Request& req = *it->second;
        if (token >= 0) {
          req.sampler->accept(token);
          emit_token(req, token, nullptr);
        } else {
          TokenLogprob lp;
          const bool want_lp = req.params.logprobs >= 0;
          emit_token(req, req.sampler->sample(row, V, want_lp ? &lp : nullptr),
                     want_lp ? &lp : nullptr);
        }
      }
    }
    reap_finished();
    return true;
  }

  void run_until_idle() override {
    while (step()) {
    }
  }

  void start() override {
    if (loop_.joinable()) return;
    running_ = true;
    loop_ = std::thread([this] {
      while (running_) {
        bool worked = false;
        try {
          worked = step();
        } catch (const std::exception& e) {
          log_error("engine step failed: ", e.what());
          fail_all(e.what());
        }
        if (!worked) {
          std::unique_lock<std::mutex> lock(inbox_mutex_);
          wake_.wait_for(lock, std::chrono::milliseconds(50),
                         [&] { return !running_ || !inbox_.empty() || !aborts_.empty(); });
        }
      }
    });
  }

  void stop() override {
    running_ = false;
    wake_.notify_all();
    if (loop_.joinable()) loop_.join();
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
  }
  bool healthy() const override { return healthy_; }
  std::string last_error() const override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return last_error_;
  }

 private:
  void drain_inbox() {
    std::vector<std::unique_ptr<Request>> incoming;
    std::vector<int64_t> aborts;
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      incoming.swap(inbox_);
      aborts.swap(aborts_);
    }
    for (auto& r : incoming) {
      r->group = least_loaded_group();
      rt_.scheduler(r->group).add(&r->seq);
      requests_[r->seq.id] = std::move(r);
    }
    for (int64_t id : aborts) {
      auto it = requests_.find(id);
      if (it == requests_.end() || it->second->finished) continue;
      finish(*it->second, FinishReason::kAbort, "", {});
    }
    reap_finished();
  }

  // Sampling where the logits are: every sampled row gets its request's settings; rows whose
  // request needs the host sampler (penalties over its history, logprobs) come back as logits.
  void set_sampling(const BuiltBatch& built, ForwardBatch& batch) {
    batch.sample.clear();
    batch.logits_to_host.clear();
    for (const Sequence* seq : built.sampled) {
      auto it = requests_.find(seq->id);
      SampleSpec spec;
      bool host = true;
      if (it != requests_.end()) {
        const SamplingParams& p = it->second->params;
        host = p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f ||
               p.presence_penalty != 0.0f || p.logprobs >= 0;
        // A host row's backend token is dropped: let the backend take the cheap greedy path.
        if (!host) spec = it->second->sampler->next_spec();
      }
      batch.sample.push_back(spec);
      batch.logits_to_host.push_back(host ? 1 : 0);
    }
  }

  void emit_token(Request& req, int32_t token, const TokenLogprob* lp) {
    RequestOutput out;
    req.seq.tokens.push_back(token);
    out.token_ids.push_back(token);
    if (lp) out.logprobs.push_back(*lp);
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      ++stats_.generation_tokens;
    }

    FinishReason reason = FinishReason::kNone;
    std::string stop_reason;
    const auto& eos = rt_.config().eos_token_ids;
    const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
    const bool is_stop_id =
        std::find(req.params.stop_token_ids.begin(), req.params.stop_token_ids.end(), token) !=
        req.params.stop_token_ids.end();
    if ((is_eos && !req.params.ignore_eos) || is_stop_id) reason = FinishReason::kStop;
    // Text and stop strings.
    if (req.detok) {
      StopMatch m = append_text(req, req.detok->push(token));
      if (m.found) {
        reason = FinishReason::kStop;
        stop_reason = m.stop;
      }
    }
    if (reason == FinishReason::kNone) {
      if (req.seq.num_output_tokens() >= req.params.max_tokens ||
          req.seq.num_tokens() >= rt_.max_model_len())
        reason = FinishReason::kLength;
    }
    if (reason != FinishReason::kNone) {
      finish(req, reason, stop_reason, std::move(out));
      return;
    }
    out.text = take_safe_text(req);
    deliver(req, std::move(out));
  }

  void deliver(Request& req, RequestOutput out) {
    out.request_id = req.seq.id;
    out.num_prompt_tokens = req.seq.num_prompt_tokens;
    out.num_cached_tokens = req.seq.num_cached_prompt;
    out.num_output_tokens = req.seq.num_output_tokens();
    if (req.on_output) {
      try {
        req.on_output(out);
      } catch (const std::exception& e) {
        log_warn("output callback of request ", req.seq.id, " threw: ", e.what());
      }
    }
  }

  void finish(Request& req, FinishReason reason, const std::string& stop_reason,
              RequestOutput out) {
    if (req.finished) return;
    req.finished = true;
    if (reason != FinishReason::kAbort && reason != FinishReason::kError)
      out.text += flush_text(req, reason == FinishReason::kStop && !stop_reason.empty());
    out.finished = true;
    out.finish_reason = reason;
    out.stop_reason = stop_reason;
    rt_.scheduler(req.group).remove(&req.seq);
    deliver(req, std::move(out));
  }

  void fail_all(const std::string& msg) {
    healthy_ = false;
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      last_error_ = msg;
    }
    for (auto& [id, req] : requests_) {
      if (req->finished) continue;
      RequestOutput out;
      out.error = msg;
      finish(*req, FinishReason::kError, "", std::move(out));
    }
    reap_finished();
  }

  void reap_finished() {
    for (auto it = requests_.begin(); it != requests_.end();)
      it = it->second->finished ? requests_.erase(it) : std::next(it);
    std::lock_guard<std::mutex> lock(stats_mutex_);
    EngineStats st;
    for (int64_t g = 0; g < rt_.num_groups(); ++g) {
      const Scheduler& s = rt_.scheduler(g);
      st.running += s.num_running();
      st.waiting += s.num_waiting();
      st.kv_blocks_total += s.pool().num_blocks();
      st.kv_blocks_free += s.pool().num_free();
      st.prefix_cache_queries += s.prefix_query_tokens();
      st.prefix_cache_hits += s.prefix_hit_tokens();
      st.preemptions += s.num_preemptions();
    }
    st.kv_tokens_capacity = st.kv_blocks_total * kKvBlockSize;
    st.prompt_tokens = st.prefix_cache_queries;
    st.generation_tokens = stats_.generation_tokens;
    st.steps = steps_;
    for (const StepExecutor* ex : rt_.executors()) st.graph_replays += ex->graph_replays();
    stats_ = st;
  }

  // Requests go to the DP group with the fewest outstanding tokens (prompt still to compute
  // plus tokens still to generate), ties to the lowest group.
  int64_t least_loaded_group() const {
    const int64_t G = rt_.num_groups();
    if (G == 1) return 0;
    std::vector<int64_t> load(G, 0);
    for (const auto& [id, r] : requests_)
      if (!r->finished)
        load[r->group] +=
            r->seq.num_uncomputed() + r->params.max_tokens - r->seq.num_output_tokens();
    return std::min_element(load.begin(), load.end()) - load.begin();
  }

  // With several DP groups, new prefills wait until the groups are aligned (PrefillDelayer).
  // Each group contributes one record per scheduling pass; all groups are scheduled by this
  // thread, so the records are gathered here directly, and one decision covers every group.
  bool prefill_allowed() {
    if (!delayer_) return true;
    std::vector<DelayerRecord> records;
    for (int64_t g = 0; g < rt_.num_groups(); ++g) {
      const Scheduler& s = rt_.scheduler(g);
      DelayerRecord r;
      r.num_prefillable = static_cast<int32_t>(s.count_admittable_prefills());
      r.pending_prefill_tokens = static_cast<int32_t>(s.pending_prefill_tokens(budget_));
      r.running_decode_seqs = static_cast<int32_t>(s.num_running());
      const int64_t total = s.pool().num_blocks();
      r.kv_usage_permille =
          static_cast<int32_t>(total ? 1000 * (total - s.pool().num_free()) / total : 0);
      records.push_back(r);
    }
    return delayer_->decide(records);
  }

  Runtime rt_;
  int64_t budget_;
  std::unique_ptr<PrefillDelayer> delayer_;
  std::unordered_map<int64_t, std::unique_ptr<Request>> requests_;  // engine thread only
  std::mutex inbox_mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Request>> inbox_;
  std::vector<int64_t> aborts_;
  int64_t next_id_ = 1;
  std::mt19937_64 seed_source_{std::random_device{}()};
  std::atomic<bool> running_{false};
  std::atomic<bool> healthy_{true};
  std::thread loop_;
  mutable std::mutex stats_mutex_;
  EngineStats stats_;
  std::string last_error_;
  int64_t steps_ = 0;
};

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineOptions& options) {
  return std::make_unique<EngineImpl>(options);
}

}  // namespace duet
