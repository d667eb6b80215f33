#include "dist/thread_comm.h"

#include <cstring>
#include <exception>

#include "common/error.h"

namespace duet {

namespace {

std::string join_ranks(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? "," : "") + std::to_string(ranks[i]);
  return s;
}

std::string counts_str(const std::vector<int64_t>& counts) {
  std::string s = "[";
  for (size_t i = 0; i < counts.size(); ++i) s += (i ? "," : "") + std::to_string(counts[i]);
  return s + "]";
}

// Whether the op's counts must be identical on every rank (they describe the shared layout).
bool counts_must_match(const std::string& op) {
  return op != "all_gather_host";
}

}  // namespace

ThreadCommGroup::ThreadCommGroup(int size, std::string name, std::chrono::milliseconds timeout)
    : size_(size), name_(std::move(name)), timeout_(timeout) {
  if (size < 1) fail("ThreadComm group '", name_, "': size must be >= 1, got ", size);
  slots_.resize(size);
  posted_.assign(size, false);
}

void ThreadCommGroup::throw_poisoned() const {
  throw Error(poisoned_);
}

uint64_t ThreadCommGroup::sequence() {
  std::lock_guard<std::mutex> lock(mutex_);
  return seq_;
}

std::string ThreadCommGroup::mismatch() const {
  const Slot& s0 = slots_[0];
  for (int r = 1; r < size_; ++r) {
    const Slot& s = slots_[r];
    if (s.op != s0.op) {
      std::string ops;
      for (int q = 0; q < size_; ++q) ops += str_cat(q ? ", " : "", "rank ", q, " ", slots_[q].op);
      return str_cat("ranks disagree on the op (", ops, ")");
    }
    if (s.dtype != s0.dtype) {
      return str_cat("ranks disagree on the dtype of ", s0.op, ": rank 0 ", dtype_name(s0.dtype),
                     ", rank ", r, " ", dtype_name(s.dtype));
    }
    if (s.width != s0.width || s.bytes != s0.bytes) {
      return str_cat("ranks disagree on the width of ", s0.op, ": rank 0 ", s0.width + s0.bytes,
                     ", rank ", r, " ", s.width + s.bytes);
    }
    if (counts_must_match(s0.op) && s.counts != s0.counts) {
      return str_cat("ranks disagree on the counts of ", s0.op, ": rank 0 ", counts_str(s0.counts),
                     ", rank ", r, " ", counts_str(s.counts));
    }
  }
  return "";
}

const std::vector<ThreadCommGroup::Slot>& ThreadCommGroup::arrive(int rank, Slot slot) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!poisoned_.empty()) throw_poisoned();
  const std::string op = slot.op;
  slots_[rank] = std::move(slot);
  posted_[rank] = true;
  ++arrived_;
  const uint64_t gen = arrive_gen_;
  if (arrived_ == size_) {
    std::string bad = mismatch();
    if (!bad.empty()) {
      poisoned_ = str_cat("ThreadComm group '", name_, "': collective #", seq_, ": ", bad);
      cv_.notify_all();
      throw_poisoned();
    }
    ++arrive_gen_;
    cv_.notify_all();
    return slots_;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const bool done =
      cv_.wait_until(lock, deadline, [&] { return arrive_gen_ != gen || !poisoned_.empty(); });
  if (!poisoned_.empty()) throw_poisoned();
  if (!done) {
    std::vector<int> missing, present;
    for (int r = 0; r < size_; ++r) (posted_[r] ? present : missing).push_back(r);
    // Poisoning makes every other waiting rank fail at once with the same message, and a late
    // rank fail when it finally arrives, instead of each timing out on its own.
    poisoned_ =
        str_cat("ThreadComm group '", name_, "': collective #", seq_, " (", op,
                ") timed out after ", timeout_.count(), " ms: rank(s) ", join_ranks(missing),
                " did not arrive (arrived: ", join_ranks(present), ")");
    cv_.notify_all();
    throw_poisoned();
  }
  return slots_;
}

void ThreadCommGroup::depart(int rank) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!poisoned_.empty()) throw_poisoned();
  posted_[rank] = false;  // from here on, posted_ marks the ranks still reading
  ++departed_;
  const uint64_t phase = phase_;
  if (departed_ == size_) {
    arrived_ = departed_ = 0;
    ++seq_;
    ++phase_;
    cv_.notify_all();
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const bool done =
      cv_.wait_until(lock, deadline, [&] { return phase_ != phase || !poisoned_.empty(); });
  if (!poisoned_.empty()) throw_poisoned();
  if (!done) {
    std::vector<int> reading;
    for (int r = 0; r < size_; ++r)
      if (posted_[r]) reading.push_back(r);
    poisoned_ = str_cat("ThreadComm group '", name_, "': collective #", seq_, " (", slots_[rank].op,
                        ") timed out after ", timeout_.count(), " ms: rank(s) ",
                        join_ranks(reading), " did not finish reading");
    cv_.notify_all();
    throw_poisoned();
  }
}

void ThreadCommGroup::poison(const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (poisoned_.empty()) {
    poisoned_ =
        str_cat("ThreadComm group '", name_, "': collective #", seq_, ": a rank failed: ", why);
  }
  cv_.notify_all();
}

namespace {

// Copies `rows` rows of `width` elements between strided buffers (row strides in elements).
void copy_rows(const void* src, int64_t src_ld, void* dst, int64_t dst_ld, int64_t rows,
               int64_t width, size_t elem) {
  if (rows == 0 || width == 0) return;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (int64_t i = 0; i < rows; ++i) {
    std::memcpy(d + i * dst_ld * elem, s + i * src_ld * elem, width * elem);
  }
}

void check_2d(const Tensor& t, const char* what, const std::string& op) {
  if (t.batch != 1) fail(op, ": ", what, " must be 2-D (batch 1), got batch ", t.batch);
  if (t.ld < t.cols) fail(op, ": ", what, " has ld ", t.ld, " < cols ", t.cols);
  if (t.rows > 0 && t.cols > 0 && t.data == nullptr) fail(op, ": ", what, " has no data");
}

class ThreadRankComm : public Communicator {
 public:
  ThreadRankComm(ThreadCommGroup* group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  std::string name() const override { return group_->name(); }

  void all_gather_host(const void* in, size_t bytes, void* out) override {
    ThreadCommGroup::Slot slot;
    slot.op = "all_gather_host";
    slot.in = in;
    slot.out = out;
    slot.bytes = static_cast<int64_t>(bytes);
    slot.counts.assign(size(), slot.bytes);
    trace_.push_back({slot.op, "", slot.counts, 0});
    run(std::move(slot), [&](const std::vector<ThreadCommGroup::Slot>& slots) {
      for (int r = 0; r < size(); ++r) {
        if (bytes) std::memcpy(static_cast<char*>(out) + r * bytes, slots[r].in, bytes);
      }
    });
  }

  void all_gather_v(const Tensor& in, const std::vector<int64_t>& counts,
                    const Tensor& out) override {
    const std::string op = "all_gather_v";
    const int64_t total = check_counts(op, counts);
    check_2d(in, "in", op);
    check_2d(out, "out", op);
    if (in.rows != counts[rank_] || out.rows != total || in.cols != out.cols ||
        in.dtype != out.dtype) {
      fail(op, ": rank ", rank_, " in [", in.rows, ",", in.cols, "] out [", out.rows, ",", out.cols,
           "] do not fit counts ", counts_str(counts));
    }
    ThreadCommGroup::Slot slot = make_slot(op, in, counts);
    run(std::move(slot), [&](const std::vector<ThreadCommGroup::Slot>& slots) {
      int64_t row = 0;
      for (int r = 0; r < size(); ++r) {
        copy_rows(slots[r].in, slots[r].ld, out.at(0, row), out.ld, counts[r], out.cols,
                  out.elem_size());
        row += counts[r];
      }
    });
  }

  void reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts,
                        const Tensor& out) override {
    const std::string op = "reduce_scatter_v";
    const int64_t total = check_counts(op, counts);
    check_2d(in, "in", op);
    check_2d(out, "out", op);
    if (in.rows != total || out.rows != counts[rank_] || in.cols != out.cols) {
      fail(op, ": rank ", rank_, " in [", in.rows, ",", in.cols, "] out [", out.rows, ",", out.cols,
           "] do not fit counts ", counts_str(counts));
    }
    check_f32(op, in, out);
    int64_t first = 0;
    for (int r = 0; r < rank_; ++r) first += counts[r];
    reduce(make_slot(op, in, counts), first, out);
  }

  void all_reduce(const Tensor& x) override {
    const std::string op = "all_reduce";
    check_2d(x, "x", op);
    check_f32(op, x, x);
    reduce(make_slot(op, x, std::vector<int64_t>(size(), x.rows)), 0, x);
  }

  const std::vector<CollectiveRecord>& trace() const override { return trace_; }
  void clear_trace() override { trace_.clear(); }

 private:
  // Validates counts locally; a bad argument on one rank poisons the group so the others fail
  // promptly instead of waiting for the timeout.
  int64_t check_counts(const std::string& op, const std::vector<int64_t>& counts) {
    int64_t total = 0;
    bool ok = static_cast<int>(counts.size()) == size();
    for (int64_t c : counts) {
      ok = ok && c >= 0;
      total += c;
    }
    if (!ok) {
      std::string why = str_cat(op, ": rank ", rank_, " passed counts ", counts_str(counts),
                                " for a group of ", size());
      group_->poison(why);
      fail(why);
    }
    return total;
  }

  void check_f32(const std::string& op, const Tensor& in, const Tensor& out) {
    if (in.dtype != DType::kF32 || out.dtype != DType::kF32) {
      std::string why = str_cat(op, ": only f32 is summed, got ", dtype_name(in.dtype));
      group_->poison(why);
      fail(why);
    }
  }

  ThreadCommGroup::Slot make_slot(const std::string& op, const Tensor& in,
                                  const std::vector<int64_t>& counts) {
    ThreadCommGroup::Slot slot;
    slot.op = op;
    slot.in = in.data;
    slot.ld = in.ld;
    slot.width = in.cols;
    slot.dtype = in.dtype;
    slot.counts = counts;
    trace_.push_back({op, std::string(dtype_name(in.dtype)), counts, in.cols});
    return slot;
  }

  // Sums rows [first, first + out.rows) of every rank's input in rank order into a private
  // buffer, and writes `out` only after the second barrier: `out` may alias this rank's input,
  // which peers read until they depart.
  void reduce(ThreadCommGroup::Slot slot, int64_t first, const Tensor& out) {
    const int64_t rows = out.rows, width = out.cols;
    std::vector<float> acc(static_cast<size_t>(rows * width));
    run(std::move(slot), [&](const std::vector<ThreadCommGroup::Slot>& slots) {
      for (int r = 0; r < size(); ++r) {
        const float* src = static_cast<const float*>(slots[r].in);
        for (int64_t i = 0; i < rows; ++i) {
          const float* s = src + (first + i) * slots[r].ld;
          float* a = acc.data() + i * width;
          if (r == 0) {
            for (int64_t j = 0; j < width; ++j) a[j] = s[j];
          } else {
            for (int64_t j = 0; j < width; ++j) a[j] += s[j];
          }
        }
      }
    });
    copy_rows(acc.data(), width, out.data, out.ld, rows, width, sizeof(float));
  }

  // Both barriers around `body`; any failure poisons the group so peers do not hang.
  template <typename Body>
  void run(ThreadCommGroup::Slot slot, Body&& body) {
    const auto& slots = group_->arrive(rank_, std::move(slot));
    try {
      body(slots);
    } catch (const std::exception& e) {
      group_->poison(e.what());
      throw;
    }
    group_->depart(rank_);
  }

  ThreadCommGroup* group_;
  int rank_;
  std::vector<CollectiveRecord> trace_;
};

}  // namespace

std::unique_ptr<Communicator> ThreadCommGroup::make_rank(int rank) {
  if (rank < 0 || rank >= size_) fail("ThreadComm group '", name_, "': no rank ", rank);
  return std::make_unique<ThreadRankComm>(this, rank);
}

}  // namespace duet
