#include "server/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace duet::server {
namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void header(std::ostringstream& os, const char* name, const char* type, const char* help) {
  os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void scalar(std::ostringstream& os, const char* name, const char* type, const char* help,
            double value) {
  header(os, name, type, help);
  os << name << ' ' << fmt(value) << '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[i];
  ++count_;
  sum_ += value;
}

std::string Histogram::render(const std::string& name) const {
  std::ostringstream os;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    os << name << "_bucket{le=\"" << fmt(bounds_[i]) << "\"} " << cumulative << '\n';
  }
  os << name << "_bucket{le=\"+Inf\"} " << count_ << '\n';
  os << name << "_sum " << fmt(sum_) << '\n' << name << "_count " << count_ << '\n';
  return os.str();
}

// Buckets follow vLLM's, so dashboards built for it read duet's numbers the same way.
ServerMetrics::ServerMetrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      itl_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
            240.0, 480.0}) {
  for (const char* r : {"stop", "length", "abort", "error"}) finished_[r] = 0;
}

void ServerMetrics::record_finished(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++finished_[reason];
}
void ServerMetrics::record_first_token(double s) {
  std::lock_guard lock(mu_);
  ttft_.observe(s);
}
void ServerMetrics::record_inter_token(double s) {
  std::lock_guard lock(mu_);
  itl_.observe(s);
}
void ServerMetrics::record_e2e(double s) {
  std::lock_guard lock(mu_);
  e2e_.observe(s);
}
void ServerMetrics::record_rejected(int status) {
  std::lock_guard lock(mu_);
  ++rejected_[status];
}

std::string ServerMetrics::render(const EngineStats& s, bool healthy) const {
  std::ostringstream os;
  scalar(os, "duet_healthy", "gauge", "1 while the engine can serve requests.", healthy ? 1 : 0);
  scalar(os, "duet_num_requests_running", "gauge", "Requests in the running batch.", s.running);
  scalar(os, "duet_num_requests_waiting", "gauge", "Requests queued for admission.", s.waiting);
  scalar(os, "duet_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.",
         s.kv_blocks_total);
  scalar(os, "duet_kv_cache_blocks_free", "gauge",
         "Free KV cache blocks (including cached-but-unused prefix blocks).", s.kv_blocks_free);
  scalar(os, "duet_kv_cache_tokens_capacity", "gauge", "KV cache capacity in tokens.",
         s.kv_tokens_capacity);
  const double usage =
      s.kv_blocks_total > 0 ? 1.0 - double(s.kv_blocks_free) / double(s.kv_blocks_total) : 0.0;
  scalar(os, "duet_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks in use (0..1).", usage);
  scalar(os, "duet_prompt_tokens_total", "counter", "Prompt tokens processed.", s.prompt_tokens);
  scalar(os, "duet_generation_tokens_total", "counter", "Tokens generated.", s.generation_tokens);
  scalar(os, "duet_prefix_cache_queries_total", "counter", "Prompt tokens looked up.",
         s.prefix_cache_queries);
  scalar(os, "duet_prefix_cache_hits_total", "counter", "Prompt tokens found in the cache.",
         s.prefix_cache_hits);
  const double hit_rate = s.prefix_cache_queries > 0
                              ? double(s.prefix_cache_hits) / double(s.prefix_cache_queries)
                              : 0.0;
  scalar(os, "duet_prefix_cache_hit_rate", "gauge", "Prefix cache hits / queries (tokens).",
         hit_rate);
  scalar(os, "duet_num_preemptions_total", "counter", "Requests preempted (recomputed).",
         s.preemptions);
  scalar(os, "duet_engine_steps_total", "counter", "Engine steps run.", s.steps);

  std::lock_guard lock(mu_);
  header(os, "duet_request_success_total", "counter", "Finished requests by finish reason.");
  for (const auto& [reason, n] : finished_)
    os << "duet_request_success_total{finished_reason=\"" << reason << "\"} " << n << '\n';
  header(os, "duet_request_rejected_total", "counter",
         "Requests refused before reaching the engine, by HTTP status.");
  for (const auto& [status, n] : rejected_)
    os << "duet_request_rejected_total{status=\"" << status << "\"} " << n << '\n';
  header(os, "duet_time_to_first_token_seconds", "histogram",
         "Time from request arrival to its first generated token.");
  os << ttft_.render("duet_time_to_first_token_seconds");
  header(os, "duet_inter_token_latency_seconds", "histogram",
         "Time between consecutive outputs of a request, per token.");
  os << itl_.render("duet_inter_token_latency_seconds");
  header(os, "duet_e2e_request_latency_seconds", "histogram",
         "Time from request arrival to its last token.");
  os << e2e_.render("duet_e2e_request_latency_seconds");
  return os.str();
}

}  // namespace duet::server
