// A progress bar on stderr (never stdout, which carries machine-readable output). Redraws in
// place on a terminal; otherwise prints a line at every 25%.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace duet {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total, std::string unit = "B");
  ~ProgressBar();
  void update(uint64_t done);
  void finish();

 private:
  std::string label_, unit_;
  uint64_t total_;
  uint64_t done_ = 0;
  int last_quarter_ = -1;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace duet
