#include "server/server_context.h"

#include <algorithm>

#include "server/api_error.h"
#include "tokenizer/tokenizer.h"

namespace duet::server {

ServerContext::ServerContext(ServerOptions options) : options_(std::move(options)) {}

void ServerContext::attach(Engine& engine, ChatRenderer chat) {
  engine_ = &engine;
  tokenizer_ = engine.tokenizer();
  chat_ = std::move(chat);
  defaults_ = engine.default_sampling();
  vocab_size_ = engine.model_config().vocab_size;
  if (tokenizer_) scan_tokenizer();
  ready_.store(true, std::memory_order_release);
}

void ServerContext::scan_tokenizer() {
  auto has_token = [&](std::string_view t) { return tokenizer_->token_to_id(t).has_value(); };
  tool_format_ = detect_tool_format(has_token);
  has_think_ = has_token("<think>") && has_token("</think>");
  // Scanning the vocabulary once (~130k ids) is cheap next to loading the weights.
  for (int64_t id = 0; id < tokenizer_->vocab_size(); ++id)
    if (tokenizer_->is_special(int32_t(id))) {
      std::string s = tokenizer_->token_bytes(int32_t(id));
      if (!s.empty()) special_strings_.push_back(std::move(s));
    }
  std::sort(special_strings_.begin(), special_strings_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string ServerContext::token_text(int32_t id) const {
  if (tokenizer_) return tokenizer_->token_bytes(id);
  return "token_id:" + std::to_string(id);
}

void ServerContext::check_model(const std::string& model) const {
  if (!model.empty() && model != options_.served_model_name)
    throw ApiError(404,
                   "The model '" + model + "' does not exist; this server serves '" +
                       options_.served_model_name + "'.",
                   "model");
}

void ServerContext::admit() {
  if (shutting_down_) throw ApiError(503, "server is shutting down");
  const int64_t limit = options_.max_num_seqs + options_.max_waiting;
  if (in_flight_.fetch_add(1) >= limit) {
    in_flight_.fetch_sub(1);
    metrics_.record_rejected(429);
    throw ApiError(429, "too many requests in flight (" + std::to_string(limit) + "); retry later");
  }
}

void ServerContext::release() {
  in_flight_.fetch_sub(1);
}

void ServerContext::track(int64_t request_id) {
  std::lock_guard lock(ids_mu_);
  ids_.insert(request_id);
}

void ServerContext::untrack(int64_t request_id) {
  std::lock_guard lock(ids_mu_);
  ids_.erase(request_id);
}

void ServerContext::begin_shutdown() {
  shutting_down_ = true;
  std::set<int64_t> ids;
  {
    std::lock_guard lock(ids_mu_);
    ids = ids_;
  }
  for (int64_t id : ids) engine_->abort(id);
}

}  // namespace duet::server
