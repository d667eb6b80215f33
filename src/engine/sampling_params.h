// Per-request generation settings, as the OpenAI API and `duet generate` expose them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace duet {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy (ties to the lowest id)
  float top_p = 1.0f;               // (0, 1]
  int32_t top_k = 0;                // 0 or -1: off
  float min_p = 0.0f;               // [0, 1]
  std::optional<uint64_t> seed;     // reproducible regardless of batch composition
  float repetition_penalty = 1.0f;  // > 0; 1: off
  float frequency_penalty = 0.0f;   // [-2, 2]
  float presence_penalty = 0.0f;    // [-2, 2]
  int32_t max_tokens = 16;          // >= 1
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;  // in addition to the model's EOS ids
  std::vector<std::string> stop;        // stop strings (matched on detokenized text)
  int32_t logprobs = -1;                // -1: none; n >= 0: sampled token's logprob + top n
  bool skip_special_tokens = true;      // for the text of outputs
  bool include_stop_str_in_output = false;

  // Throws duet::Error naming the field and the allowed range.
  void validate(int64_t vocab_size) const;
};

// Defaults from a checkpoint's generation_config.json (temperature, top_p, top_k, ...).
SamplingParams default_sampling_params(const std::string& model_dir);

}  // namespace duet
