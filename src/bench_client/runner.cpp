#include "bench_client/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace duet::bench {

RunOutcome run_workload(const std::vector<BenchRequest>& requests, int64_t concurrency,
                        const SendFn& send, const std::function<void(size_t)>& on_done) {
  using Clock = std::chrono::steady_clock;
  // Unbounded open-loop runs still need a thread per request in flight; 1024 is far beyond
  // what one loopback client can keep busy.
  const size_t workers =
      std::min<size_t>(requests.size(), concurrency > 0 ? size_t(concurrency) : size_t(1024));
  RunOutcome out;
  out.results.resize(requests.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t finished = 0;
  const Clock::time_point start = Clock::now();
  Clock::time_point last_done = start;
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < requests.size(); i = next++) {
        std::this_thread::sleep_until(start +
                                      std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(requests[i].send_at)));
        RequestResult r;
        try {
          r = send(requests[i]);
        } catch (const std::exception& e) {
          r.ok = false;
          r.error = e.what();
        }
        std::lock_guard lock(mu);
        out.results[i] = std::move(r);
        last_done = std::max(last_done, Clock::now());
        if (on_done) on_done(++finished);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  out.duration = std::chrono::duration<double>(last_done - start).count();
  return out;
}

}  // namespace duet::bench
