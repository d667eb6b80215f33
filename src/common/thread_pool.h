// A fixed pool of worker threads for data-parallel loops. Workers sleep on a condition variable
// between jobs (never spin: CI machines have two cores and other ranks share them).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace duet {

class ThreadPool {
 public:
  // num_threads counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task) for task in [0, num_tasks), spread over the threads; returns when all are done.
  // Which thread runs a task never changes a result: tasks must write disjoint outputs.
  void run(int64_t num_tasks, const std::function<void(int64_t)>& fn);

  // Splits [0, n) into contiguous chunks of at least min_chunk and calls fn(begin, end).
  void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

  // Default thread count: hardware concurrency, at least 1.
  static int default_threads();

 private:
  void worker_loop();
  void drain(const std::function<void(int64_t)>& fn, int64_t num_tasks, uint64_t generation);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t job_tasks_ = 0;
  int64_t next_task_ = 0;
  int64_t tasks_done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::mutex run_mutex_;  // one job at a time
};

}  // namespace duet
