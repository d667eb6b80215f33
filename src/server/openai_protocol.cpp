#include "server/openai_protocol.h"

#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace duet::server {
namespace {

using nlohmann::json;

// The most choices one request may ask for; each is a separate engine request.
constexpr int kMaxN = 128;
constexpr int kMaxTopLogprobs = 20;

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw ApiError(400, "'" + field + "' " + what, field);
}

// A field that is absent or null counts as not given (clients send explicit nulls).
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad(name, "must be a boolean");
  return v->get<bool>();
}

std::optional<double> get_number(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, "must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d)) bad(name, "must be finite");
  return d;
}

std::optional<int64_t> get_int(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  // 3.0 is accepted as 3 (JavaScript clients cannot tell them apart); 3.5 is not.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d != std::floor(d) || !(d >= double(lo) && d <= double(hi)))
      bad(name, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return int64_t(d);
  }
  if (!v->is_number_integer()) bad(name, "must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    bad(name, "is out of range");
  const int64_t i = v->get<int64_t>();
  if (i < lo || i > hi)
    bad(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                  std::to_string(i));
  return i;
}

std::optional<std::string> get_string(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(name, "must be a string");
  return v->get<std::string>();
}

std::vector<int32_t> get_id_list(const json& v, const std::string& name) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& e : v) {
    if (!e.is_number_integer()) bad(name, "must be a list of token ids (integers)");
    const int64_t id = e.get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      bad(name, "has a token id out of range");
    ids.push_back(int32_t(id));
  }
  return ids;
}

// Fields shared by both endpoints: sampling, n, stream, stop, penalties, seed.
void parse_common(const json& body, GenerateRequest& r) {
  if (!body.is_object()) throw ApiError(400, "request body must be a JSON object");
  r.model = get_string(body, "model").value_or("");
  SamplingParams& s = r.sampling;
  if (auto v = get_number(body, "temperature")) s.temperature = float(*v);
  if (auto v = get_number(body, "top_p")) s.top_p = float(*v);
  if (auto v = get_int(body, "top_k", -1, std::numeric_limits<int32_t>::max()))
    s.top_k = int32_t(*v);
  if (auto v = get_number(body, "min_p")) s.min_p = float(*v);
  if (auto v = get_number(body, "frequency_penalty")) s.frequency_penalty = float(*v);
  if (auto v = get_number(body, "presence_penalty")) s.presence_penalty = float(*v);
  if (auto v = get_number(body, "repetition_penalty")) s.repetition_penalty = float(*v);
  if (auto v = get_int(body, "seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max()))
    s.seed = uint64_t(*v);
  if (auto v = get_bool(body, "ignore_eos")) s.ignore_eos = *v;
  if (auto v = get_bool(body, "skip_special_tokens")) s.skip_special_tokens = *v;
  if (auto v = get_bool(body, "include_stop_str_in_output")) s.include_stop_str_in_output = *v;
  if (const json* v = field(body, "stop")) {
    s.stop.clear();
    if (v->is_string()) {
      s.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const json& e : *v) {
        if (!e.is_string()) bad("stop", "must be a string or a list of strings");
        s.stop.push_back(e.get<std::string>());
      }
    } else {
      bad("stop", "must be a string or a list of strings");
    }
    for (const std::string& stop : s.stop)
      if (stop.empty()) bad("stop", "must not contain empty strings");
  }
  if (const json* v = field(body, "stop_token_ids")) {
    if (!v->is_array()) bad("stop_token_ids", "must be a list of token ids");
    s.stop_token_ids = get_id_list(*v, "stop_token_ids");
  }
  // max_completion_tokens is the newer name of max_tokens; it wins when both are given.
  const int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  if (auto v = get_int(body, "max_tokens", 1, kMaxInt)) r.max_tokens = int32_t(*v);
  if (auto v = get_int(body, "max_completion_tokens", 1, kMaxInt)) r.max_tokens = int32_t(*v);
  r.n = int(get_int(body, "n", 1, kMaxN).value_or(1));
  r.stream = get_bool(body, "stream").value_or(false);
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "must be an object");
    r.include_usage = get_bool(*v, "include_usage").value_or(false);
  }
  r.return_token_ids = get_bool(body, "return_token_ids").value_or(false);
}

}  // namespace

json parse_json_body(const std::string& text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw ApiError(400, "request body is not valid JSON");
  if (!body.is_object()) throw ApiError(400, "request body must be a JSON object");
  return body;
}

GenerateRequest parse_chat_request(const json& body, const SamplingParams& defaults) {
  GenerateRequest r;
  r.endpoint = Endpoint::kChat;
  r.sampling = defaults;
  parse_common(body, r);
  const json* messages = field(body, "messages");
  if (!messages) bad("messages", "is required");
  if (!messages->is_array() || messages->empty()) bad("messages", "must be a non-empty list");
  for (const json& m : *messages) {
    if (!m.is_object()) bad("messages", "must be a list of objects");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad("messages", "entries need a string 'role'");
  }
  r.messages = nlohmann::ordered_json::parse(messages->dump());
  if (const json* v = field(body, "tools")) {
    if (!v->is_array()) bad("tools", "must be a list");
    for (const json& t : *v)
      if (!t.is_object()) bad("tools", "must be a list of objects");
    r.tools = nlohmann::ordered_json::parse(v->dump());
  }
  if (const json* v = field(body, "tool_choice")) {
    if (!v->is_string() && !v->is_object()) bad("tool_choice", "must be a string or an object");
    if (v->is_string() && *v != "none" && *v != "auto" && *v != "required")
      bad("tool_choice", "must be 'none', 'auto', 'required' or a function object");
    r.tool_choice = nlohmann::ordered_json::parse(v->dump());
  }
  if (const json* v = field(body, "chat_template_kwargs")) {
    if (!v->is_object()) bad("chat_template_kwargs", "must be an object");
    r.chat_template_kwargs = nlohmann::ordered_json::parse(v->dump());
  }
  r.logprobs = get_bool(body, "logprobs").value_or(false);
  if (auto v = get_int(body, "top_logprobs", 0, kMaxTopLogprobs)) {
    if (!r.logprobs && *v > 0) bad("top_logprobs", "requires 'logprobs': true");
    r.top_logprobs = int(*v);
  }
  return r;
}

GenerateRequest parse_completion_request(const json& body, const SamplingParams& defaults) {
  GenerateRequest r;
  r.endpoint = Endpoint::kCompletion;
  r.sampling = defaults;
  parse_common(body, r);
  const json* prompt = field(body, "prompt");
  if (!prompt) bad("prompt", "is required");
  // A string, a list of token ids, or a one-element list of either (batches of several prompts
  // are not supported: send one request per prompt).
  const json* p = prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
  } else if (p->is_array()) {
    r.prompt_ids = get_id_list(*p, "prompt");
  } else {
    bad("prompt", "must be a string or a list of token ids");
  }
  if (!r.prompt_text && r.prompt_ids.empty()) bad("prompt", "must not be empty");
  r.echo = get_bool(body, "echo").value_or(false);
  if (auto v = get_int(body, "logprobs", 0, kMaxTopLogprobs)) {
    r.logprobs = true;
    r.top_logprobs = int(*v);
  }
  return r;
}

TokenizeRequest parse_tokenize_request(const json& body) {
  TokenizeRequest r;
  r.model = get_string(body, "model").value_or("");
  r.prompt = get_string(body, "prompt");
  if (const json* v = field(body, "messages")) {
    if (!v->is_array()) bad("messages", "must be a list");
    r.messages = nlohmann::ordered_json::parse(v->dump());
  }
  if (!r.prompt && r.messages.is_null()) bad("prompt", "or 'messages' is required");
  r.add_special_tokens = get_bool(body, "add_special_tokens").value_or(r.messages.is_null());
  r.add_generation_prompt = get_bool(body, "add_generation_prompt").value_or(true);
  return r;
}

DetokenizeRequest parse_detokenize_request(const json& body) {
  DetokenizeRequest r;
  r.model = get_string(body, "model").value_or("");
  const json* tokens = field(body, "tokens");
  if (!tokens || !tokens->is_array()) bad("tokens", "must be a list of token ids");
  r.tokens = get_id_list(*tokens, "tokens");
  return r;
}

}  // namespace duet::server
