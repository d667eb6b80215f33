// Per-op GPU time of the CUDA backend, for finding where a step's time goes without a system
// profiler: with DUET_CUDA_PROFILE=1 every op is bracketed by CUDA events and waited for, and the
// totals are printed to stderr when the backend is destroyed. Waiting after each op removes the
// overlap of host launch work with device work, so the sum of op times is the device's share
// of a step and the rest of the measured step time is host overhead (launches, scheduling).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace duet::cuda {

class OpProfile {
 public:
  // Enabled when the environment variable DUET_CUDA_PROFILE is set to a non-zero value.
  static bool requested();
  explicit OpProfile(cudaStream_t stream);
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  void begin();
  // Ends the op begun last: `name` is the op, `rows` its token count (decode-sized row counts
  // are reported separately, larger ones are pooled as prefill).
  void end(const std::string& name, int64_t rows);
  std::string report() const;

 private:
  struct Total {
    double ms = 0;
    int64_t calls = 0;
  };
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  std::map<std::pair<int64_t, std::string>, Total> totals_;
};

// RAII bracket around one op; a no-op when the profile is off.
class OpScope {
 public:
  OpScope(OpProfile* p, std::string name, int64_t rows)
      : p_(p), name_(std::move(name)), rows_(rows) {
    if (p_) p_->begin();
  }
  ~OpScope() {
    if (p_) p_->end(name_, rows_);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  OpProfile* p_;
  std::string name_;
  int64_t rows_;
};

}  // namespace duet::cuda
