// Hands RequestOutputs from the engine thread to the HTTP thread serving the request.
// Thread safety: push() runs on the engine thread (inside the output callback, so it only
// locks and copies, never blocks on I/O); pop_all() runs on the HTTP thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "engine/engine.h"

namespace duet::server {

struct ChoiceOutput {
  int choice = 0;  // index among the request's n choices
  RequestOutput output;
  // When the engine delivered it (latency metrics should not include the HTTP thread's wait).
  std::chrono::steady_clock::time_point at;
};

class OutputQueue {
 public:
  void push(int choice, const RequestOutput& output);
  // Moves everything queued into `out` (cleared first), waiting up to `timeout` for the first
  // item. Returns false when nothing arrived in time.
  bool pop_all(std::vector<ChoiceOutput>& out, std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ChoiceOutput> items_;
};

}  // namespace duet::server
