#include "backend/cuda/op_profile.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace duet::cuda {
namespace {
// Row counts up to this are decode-sized and reported per count.
constexpr int64_t kDecodeRows = 512;
}  // namespace

bool OpProfile::requested() {
  const char* v = std::getenv("DUET_CUDA_PROFILE");
  return v && *v && std::string(v) != "0";
}

OpProfile::OpProfile(cudaStream_t stream) : stream_(stream) {
  cudaEventCreate(&start_);
  cudaEventCreate(&stop_);
}

OpProfile::~OpProfile() {
  const std::string r = report();
  std::fputs(r.c_str(), stderr);
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

void OpProfile::begin() {
  cudaEventRecord(start_, stream_);
}

void OpProfile::end(const std::string& name, int64_t rows) {
  cudaEventRecord(stop_, stream_);
  cudaEventSynchronize(stop_);
  float ms = 0;
  cudaEventElapsedTime(&ms, start_, stop_);
  Total& t = totals_[{rows <= kDecodeRows ? rows : -1, name}];
  t.ms += ms;
  ++t.calls;
}

std::string OpProfile::report() const {
  std::ostringstream os;
  os << "== DUET_CUDA_PROFILE: device time per op (rows: tokens in the op; prefill: more than "
     << kDecodeRows << ")\n";
  int64_t current = -2;
  double group_ms = 0;
  auto flush = [&] {
    if (current != -2) os << "   total " << group_ms << " ms\n";
  };
  for (const auto& [key, t] : totals_) {
    if (key.first != current) {
      flush();
      current = key.first;
      group_ms = 0;
      os << (current < 0 ? std::string("prefill") : "rows " + std::to_string(current)) << ":\n";
    }
    group_ms += t.ms;
    char line[256];
    std::snprintf(line, sizeof line, "  %-40s %8lld calls %10.3f ms %9.2f us/call\n",
                  key.second.c_str(), static_cast<long long>(t.calls), t.ms,
                  1e3 * t.ms / static_cast<double>(t.calls));
    os << line;
  }
  flush();
  return os.str();
}

}  // namespace duet::cuda
