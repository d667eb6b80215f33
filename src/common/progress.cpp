#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace duet {

namespace {
std::string human(double v, const std::string& unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int i = 0;
  if (unit == "B")
    while (v >= 1024 && i < 4) v /= 1024, ++i;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s%s", v, unit == "B" ? prefixes[i] : "", unit.c_str());
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(2) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(uint64_t done) {
  done_ = done;
  const double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const int width = 30, filled = static_cast<int>(frac * width);
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %s/%s %.1fs", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
                 frac * 100, human(static_cast<double>(done), unit_).c_str(),
                 human(static_cast<double>(total_), unit_).c_str(), secs);
    std::fflush(stderr);
  } else {
    const int quarter = static_cast<int>(frac * 4);
    if (quarter > last_quarter_) {
      last_quarter_ = quarter;
      std::fprintf(stderr, "%s: %3.0f%%\n", label_.c_str(), frac * 100);
    }
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (done_ < total_) return;
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace duet
