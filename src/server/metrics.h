// Prometheus metrics of the server: counters and latency histograms recorded by the HTTP
// threads, plus gauges read from Engine::stats() when /metrics is scraped.
// Thread safety: every method may be called from any thread (one mutex; updates are rare
// compared with a model step).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace duet::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Prometheus text of a histogram called `name` (the caller writes HELP/TYPE).
  std::string render(const std::string& name) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last one is +Inf
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  void record_finished(const std::string& reason);  // "stop", "length", "abort", "error"
  void record_first_token(double seconds);
  void record_inter_token(double seconds);
  void record_e2e(double seconds);
  void record_rejected(int status);  // requests refused before reaching the engine

  // Everything in Prometheus text exposition format (version 0.0.4).
  std::string render(const EngineStats& stats, bool healthy) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> finished_;  // by finish reason name
  std::map<int, uint64_t> rejected_;          // by HTTP status
  Histogram ttft_, itl_, e2e_;
};

}  // namespace duet::server
