#include "engine/sampling_params.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace duet {

void SamplingParams::validate(int64_t vocab_size) const {
  if (!std::isfinite(temperature) || temperature < 0.0f)
    fail("temperature must be a non-negative number, got ", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top_p must be in (0, 1], got ", top_p);
  if (top_k < -1) fail("top_k must be -1, 0 or positive, got ", top_k);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min_p must be in [0, 1], got ", min_p);
  if (!(repetition_penalty > 0.0f && std::isfinite(repetition_penalty)))
    fail("repetition_penalty must be positive, got ", repetition_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    fail("frequency_penalty must be in [-2, 2], got ", frequency_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    fail("presence_penalty must be in [-2, 2], got ", presence_penalty);
  if (max_tokens < 1) fail("max_tokens must be at least 1, got ", max_tokens);
  if (logprobs > 20) fail("logprobs must be at most 20, got ", logprobs);
  for (int32_t t : stop_token_ids)
    if (t < 0 || t >= vocab_size) fail("stop_token_ids: ", t, " is not a token id");
  for (const auto& s : stop)
    if (s.empty()) fail("stop strings must not be empty");
}

SamplingParams default_sampling_params(const std::string& model_dir) {
  SamplingParams p;
  const std::string path = path_join(model_dir, "generation_config.json");
  if (!file_exists(path)) return p;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  auto num = [&](const char* key, float& dst) {
    if (j.contains(key) && j[key].is_number()) dst = j[key].get<float>();
  };
  const bool do_sample = j.value("do_sample", true);
  num("temperature", p.temperature);
  num("top_p", p.top_p);
  num("repetition_penalty", p.repetition_penalty);
  if (j.contains("top_k") && j["top_k"].is_number_integer()) p.top_k = j["top_k"].get<int32_t>();
  // transformers treats do_sample=false as greedy whatever the temperature says.
  if (j.contains("do_sample") && !do_sample) p.temperature = 0.0f;
  return p;
}

}  // namespace duet
