// OpenAI request bodies -> validated native structs. Everything a client can get wrong is
// reported as ApiError(400) naming the field; unknown fields are ignored (clients send extras).
// No engine or tokenizer here: routes tokenize and call SamplingParams::validate afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"

namespace duet::server {

enum class Endpoint { kChat, kCompletion };

struct GenerateRequest {
  Endpoint endpoint = Endpoint::kCompletion;
  std::string model;  // empty: the served model
  // /v1/completions: exactly one of the two.
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_ids;
  bool echo = false;
  // /v1/chat/completions.
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;                 // null or list
  nlohmann::ordered_json tool_choice;           // null, "none", "auto", "required" or an object
  nlohmann::ordered_json chat_template_kwargs;  // object or null: extra template variables

  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Logprobs: chat uses logprobs (bool) + top_logprobs; completions use logprobs (int).
  bool logprobs = false;
  int top_logprobs = 0;
  bool return_token_ids = false;      // vLLM extension: prompt_token_ids / token_ids in the reply
  std::optional<int32_t> max_tokens;  // unset: 16 for completions, the context left for chat
  SamplingParams sampling;            // starts from the model's defaults
};

// Parse a request body (already JSON) on top of the model's default sampling settings.
GenerateRequest parse_chat_request(const nlohmann::json& body, const SamplingParams& defaults);
GenerateRequest parse_completion_request(const nlohmann::json& body,
                                         const SamplingParams& defaults);

// Parses text as JSON; malformed text is ApiError(400). Objects only when object_only.
nlohmann::json parse_json_body(const std::string& text);

// /tokenize and /detokenize bodies (vLLM's shapes).
struct TokenizeRequest {
  std::string model;
  std::optional<std::string> prompt;  // {"prompt": "..."}
  nlohmann::ordered_json messages;    // or {"messages": [...]} (chat template)
  bool add_special_tokens = true;
  bool add_generation_prompt = true;
};
TokenizeRequest parse_tokenize_request(const nlohmann::json& body);

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};
DetokenizeRequest parse_detokenize_request(const nlohmann::json& body);

}  // namespace duet::server
