// Drives a workload against a backend: closed-loop concurrency (C workers, each sending its
// next request when the previous one finishes) or open-loop arrivals at each request's send_at.
#pragma once

#include <functional>
#include <vector>

#include "bench_client/bench_stats.h"
#include "bench_client/workload.h"

namespace duet::bench {

// Sends one request and blocks until it has finished; must be callable from many threads.
using SendFn = std::function<RequestResult(const BenchRequest&)>;

struct RunOutcome {
  std::vector<RequestResult> results;  // in workload order
  double duration = 0.0;               // seconds, first send to last completion
};

// concurrency <= 0: unbounded (every request is sent at its send_at). on_done is called (under
// a lock) after each request with the number finished so far.
RunOutcome run_workload(const std::vector<BenchRequest>& requests, int64_t concurrency,
                        const SendFn& send, const std::function<void(size_t)>& on_done);

}  // namespace duet::bench
