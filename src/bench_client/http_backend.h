// duet bench against a running server: streaming /v1/completions with token-id prompts,
// ignore_eos and return_token_ids, timed chunk by chunk from the SSE stream.
#pragma once

#include <cstdint>
#include <string>

#include "bench_client/runner.h"

namespace duet::bench {

struct ServerInfo {
  std::string model;
  int64_t vocab_size = 0;
  int64_t max_model_len = 0;
};

// GET URL/v1/models (the first model). Throws duet::Error when the server cannot be reached.
ServerInfo query_server(const std::string& url, const std::string& api_key);

SendFn make_http_sender(const std::string& url, const std::string& model,
                        const std::string& api_key);

}  // namespace duet::bench
