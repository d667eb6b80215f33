#include "bench_client/engine_backend.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace duet::bench {

SendFn make_engine_sender(Engine& engine) {
  return [&engine](const BenchRequest& req) {
    using Clock = std::chrono::steady_clock;
    // Shared with the callback, which runs on the engine thread.
    struct State {
      std::mutex mu;
      std::condition_variable cv;
      RequestResult r;
      Clock::time_point start, last;
      int64_t tokens = 0;
      bool done = false;
    };
    auto st = std::make_shared<State>();
    st->r.prompt_tokens = int64_t(req.prompt_ids.size());
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = req.max_tokens;
    p.ignore_eos = true;
    st->start = st->last = Clock::now();
    engine.add_request(req.prompt_ids, p, [st](const RequestOutput& out) {
      const Clock::time_point now = Clock::now();
      std::lock_guard lock(st->mu);
      if (!out.token_ids.empty()) {
        if (st->tokens == 0)
          st->r.ttft = std::chrono::duration<double>(now - st->start).count();
        else
          st->r.itl.push_back(std::chrono::duration<double>(now - st->last).count());
        st->tokens += int64_t(out.token_ids.size());
        st->last = now;
      }
      if (out.finished) {
        st->r.ok =
            out.finish_reason == FinishReason::kLength || out.finish_reason == FinishReason::kStop;
        if (!st->r.ok) st->r.error = out.error.empty() ? "aborted" : out.error;
        st->done = true;
        st->cv.notify_one();
      }
    });
    std::unique_lock lock(st->mu);
    st->cv.wait(lock, [&] { return st->done; });
    st->r.output_tokens = st->tokens;
    st->r.e2e = std::chrono::duration<double>(st->last - st->start).count();
    return st->r;
  };
}

}  // namespace duet::bench
