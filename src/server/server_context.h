// State shared by every route of one server: the engine, the tokenizer, the chat renderer,
// metrics, options, and the admission count that keeps the HTTP thread pool from filling up.
// Thread safety: everything here is either immutable after construction or internally locked;
// routes use it from any HTTP thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/tool_parsers.h"

namespace duet::server {

struct ServerOptions {
  std::string served_model_name;
  std::string model_dir;
  std::string api_key;  // empty: no authentication
  int64_t max_num_seqs = 256;
  int64_t max_waiting = 256;  // generation requests beyond max_num_seqs + this get 429
  size_t max_body_bytes = 8u << 20;
};

// Renders chat messages (with tools and extra template variables) into prompt text, with the
// generation prompt added unless extra["add_generation_prompt"] is false (that key is not passed
// on to the template). Throws duet::Error on a template error.
using ChatRenderer = std::function<std::string(const nlohmann::ordered_json& messages,
                                               const nlohmann::ordered_json& tools,
                                               const nlohmann::ordered_json& extra)>;

class ServerContext {
 public:
  explicit ServerContext(ServerOptions options);
  // Makes the loaded engine available; until then every route answers 503 (the server listens
  // while the model loads so /health can say so). chat may be empty (no template: chat
  // requests answer 400). Called once, before ready() turns true.
  void attach(Engine& engine, ChatRenderer chat);
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  Engine& engine() const { return *engine_; }
  const Tokenizer* tokenizer() const { return tokenizer_; }
  const ServerOptions& options() const { return options_; }
  const ChatRenderer& chat_renderer() const { return chat_; }
  const SamplingParams& default_sampling() const { return defaults_; }
  int64_t vocab_size() const { return vocab_size_; }
  ServerMetrics& metrics() { return metrics_; }
  const ToolCallFormat* tool_format() const { return tool_format_.get(); }
  bool has_reasoning_markers() const { return has_think_; }
  const std::vector<std::string>& special_strings() const { return special_strings_; }
  // Text of a token for logprobs.
  std::string token_text(int32_t id) const;

  // 404 unless `model` is empty or the served name.
  void check_model(const std::string& model) const;

  // Admission of one generation request (n choices count once: they share one HTTP thread).
  // Throws ApiError 429 when the server is full, 503 while shutting down.
  void admit();
  void release();

  // Engine request ids in flight, so shutdown can abort them all.
  void track(int64_t request_id);
  void untrack(int64_t request_id);
  // Stops admitting (503) and aborts every tracked request.
  void begin_shutdown();
  bool shutting_down() const { return shutting_down_.load(); }

 private:
  void scan_tokenizer();  // tool-call format, <think> markers, special-token strings

  Engine* engine_ = nullptr;
  const Tokenizer* tokenizer_ = nullptr;
  ServerOptions options_;
  ChatRenderer chat_;
  SamplingParams defaults_;
  int64_t vocab_size_ = 0;
  std::atomic<bool> ready_{false};
  ServerMetrics metrics_;
  std::unique_ptr<ToolCallFormat> tool_format_;
  bool has_think_ = false;
  std::vector<std::string> special_strings_;  // longest first

  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> shutting_down_{false};
  std::mutex ids_mu_;
  std::set<int64_t> ids_;
};

}  // namespace duet::server
