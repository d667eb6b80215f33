#include "tokenizer/tokenizer.h"

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/utf8.h"

namespace duet {
namespace {

// tokenizer_config.json writes special tokens either as plain strings or as
// {"__type": "AddedToken", "content": ...} objects.
std::string token_string(const nlohmann::json& v, const std::string& path, const char* key) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail(path, ": '", key, "' must be a string or an object with a string 'content'");
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& model_dir) {
  const std::string json_path = path_join(model_dir, "tokenizer.json");
  const std::string tiktoken_path = path_join(model_dir, "tiktoken.model");
  if (file_exists(json_path)) return std::make_unique<HfTokenizer>(model_dir);
  if (file_exists(tiktoken_path)) return std::make_unique<TiktokenTokenizer>(model_dir);
  return nullptr;
}

void Tokenizer::load_config(const std::string& model_dir) {
  const std::string path = path_join(model_dir, "tokenizer_config.json");
  if (!file_exists(path)) return;
  try {
    config_ = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  if (!config_.is_object()) fail(path, ": top level must be a JSON object");
  if (config_.contains("bos_token"))
    bos_token_ = token_string(config_["bos_token"], path, "bos_token");
  if (config_.contains("eos_token"))
    eos_token_ = token_string(config_["eos_token"], path, "eos_token");
  if (config_.contains("add_bos_token")) {
    const auto& v = config_["add_bos_token"];
    if (!v.is_boolean() && !v.is_null()) fail(path, ": 'add_bos_token' must be true or false");
    add_bos_ = v.is_boolean() && v.get<bool>();
  }
}

void Tokenizer::resolve_bos() {
  if (bos_token_.empty()) return;
  if (auto id = token_to_id(bos_token_)) bos_id_ = *id;
}

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return "";
  pending_ += tokenizer_.token_bytes(id);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    bool truncated = false;
    const size_t n = utf8::sequence_length(pending_, i, &truncated);
    if (n > 0) {
      out.append(pending_, i, n);
      i += n;
    } else if (truncated) {
      break;  // a valid prefix cut short: later tokens may complete it
    } else {
      out.append(utf8::kReplacement);
      i += utf8::invalid_length(pending_, i);
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string IncrementalDetokenizer::flush() {
  std::string out = utf8::make_valid(pending_);
  pending_.clear();
  return out;
}

}  // namespace duet
