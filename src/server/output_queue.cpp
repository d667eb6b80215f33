#include "server/output_queue.h"

namespace duet::server {

void OutputQueue::push(int choice, const RequestOutput& output) {
  {
    std::lock_guard lock(mu_);
    items_.push_back({choice, output, std::chrono::steady_clock::now()});
  }
  cv_.notify_one();
}

bool OutputQueue::pop_all(std::vector<ChoiceOutput>& out, std::chrono::milliseconds timeout) {
  out.clear();
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return false;
  out.swap(items_);
  return true;
}

}  // namespace duet::server
