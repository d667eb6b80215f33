// ThreadComm: a Communicator whose ranks are threads of one process. Ranks block on a
// condition variable (never spin: CI machines have two cores), exchange pointers to their
// buffers, and each rank computes its own output reading the others' inputs in rank order, so
// sums are reproducible bit for bit. Two barriers per collective: nobody reads before everyone
// has posted, nobody leaves (and reuses its buffer) before everyone has read.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace duet {

// State shared by the ranks of one group.
class ThreadCommGroup {
 public:
  ThreadCommGroup(int size, std::string name, std::chrono::milliseconds timeout);
  int size() const { return size_; }
  const std::string& name() const { return name_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Creates the communicator of one rank (call once per rank, then hand it to that thread).
  std::unique_ptr<Communicator> make_rank(int rank);

  // Implementation details used by the rank objects.
  struct Slot {
    const void* in = nullptr;
    void* out = nullptr;
    std::string op;
    std::vector<int64_t> counts;
    int64_t width = 0;
    DType dtype = DType::kF32;
    int64_t ld = 0;     // elements between rows of `in` (strided views are honoured)
    int64_t bytes = 0;  // all_gather_host: record size
  };
  // Posts this rank's slot and waits until every rank has posted; returns all slots. Throws
  // duet::Error on timeout (naming the missing ranks) or when ranks disagree on the op.
  const std::vector<Slot>& arrive(int rank, Slot slot);
  // Waits until every rank has finished reading the slots of the current collective.
  void depart(int rank);
  // Marks the group failed (a rank raised); every waiter then throws. The first reason wins.
  void poison(const std::string& why);
  // Number of the collective now in progress (0-based), for messages.
  uint64_t sequence();

 private:
  int size_;
  std::string name_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  int arrived_ = 0, departed_ = 0;
  uint64_t phase_ = 0;        // increments when a collective completes (both barriers passed)
  uint64_t seq_ = 0;          // collectives completed, for messages
  uint64_t arrive_gen_ = 0;   // increments when every rank has posted (first barrier passed)
  std::vector<bool> posted_;  // which ranks posted to the current collective
  std::string poisoned_;

  // Checks that every rank posted the same collective; returns "" or a description.
  std::string mismatch() const;
  [[noreturn]] void throw_poisoned() const;
};

}  // namespace duet
