#include "tokenizer/hf_tokenizer.h"

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace duet {
namespace {

using json = nlohmann::json;

// A merge is "left right" (older files) or ["left", "right"] (tokenizers >= 0.20).
std::pair<std::string, std::string> parse_merge(const json& m, const std::string& path, size_t i) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
        s.find(' ', sp + 1) != std::string::npos)
      fail(path, ": model.merges[", i, "] is not of the form \"left right\": ", m.dump());
    return {s.substr(0, sp), s.substr(sp + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  fail(path, ": model.merges[", i, "] must be \"left right\" or [\"left\", \"right\"]: ", m.dump());
}

void check_normalizer(const json& n, const std::string& path) {
  if (n.is_null()) return;
  if (n.is_object() && n.value("type", "") == "Sequence" && n.contains("normalizers") &&
      n["normalizers"].is_array() && n["normalizers"].empty())
    return;
  fail(path, ": normalizer ", n.dump().substr(0, 200),
       " is not supported (only null or an empty Sequence)");
}

}  // namespace

HfTokenizer::HfTokenizer(const std::string& model_dir) {
  const std::string path = path_join(model_dir, "tokenizer.json");
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(path, ": top level must be a JSON object");
  try {
    check_normalizer(j.value("normalizer", json()), path);
    const json& dec = j.value("decoder", json());
    if (!dec.is_object() || dec.value("type", "") != "ByteLevel")
      fail(path, ": decoder must be ByteLevel, got ", dec.dump().substr(0, 200));
    if (!j.contains("model") || !j["model"].is_object()) fail(path, ": missing 'model' object");
    load_model(j["model"], path);
    pre_ = std::make_unique<PreTokenizer>(j.value("pre_tokenizer", json()), path);
    load_added_tokens(j.value("added_tokens", json::array()), path);
  } catch (const json::exception& e) {
    fail(path, ": unexpected structure: ", e.what());
  }
  load_config(model_dir);
  resolve_bos();
}

void HfTokenizer::load_model(const json& model, const std::string& path) {
  if (model.value("type", "") != "BPE")
    fail(path, ": model.type must be \"BPE\", got ", model.value("type", json()).dump());
  if (!model.value("dropout", json()).is_null() && model["dropout"].get<double>() != 0.0)
    fail(path, ": model.dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = model.value(key, json());
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
      fail(path, ": model.", key, " is not supported");
  }
  const json& vocab = model.value("vocab", json());
  if (!vocab.is_object()) fail(path, ": model.vocab must be an object");
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX)
      fail(path, ": model.vocab[\"", it.key(), "\"] must be a non-negative integer id");
    const auto id = it.value().get<int32_t>();
    vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  std::vector<std::string> tokens(max_id + 1);
  for (const auto& [text, id] : vocab_) {
    // Entries outside the byte alphabet (special tokens kept in the vocab) can never come out
    // of byte-level BPE; they only matter for decoding.
    if (auto bytes = byte_level::decode(text)) tokens[id] = std::move(*bytes);
  }
  bpe_.set_tokens(std::move(tokens));
  bpe_.set_whole_piece_lookup(model.value("ignore_merges", false));
  const json& unk = model.value("unk_token", json());
  if (unk.is_string()) {
    auto it = vocab_.find(unk.get<std::string>());
    if (it == vocab_.end()) fail(path, ": model.unk_token ", unk.dump(), " is not in the vocab");
    bpe_.set_unknown_id(it->second);
  }
  const json& merges = model.value("merges", json::array());
  if (!merges.is_array()) fail(path, ": model.merges must be an array");
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto [left, right] = parse_merge(merges[i], path, i);
    auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end())
      fail(path, ": model.merges[", i,
           "] uses a token that is not in the vocab: ", merges[i].dump());
    bpe_.add_merge(l->second, r->second, static_cast<int32_t>(i), m->second);
  }
  vocab_size_ = max_id + 1;
}

void HfTokenizer::load_added_tokens(const json& list, const std::string& path) {
  if (!list.is_array()) fail(path, ": added_tokens must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string() || t["id"].get<int64_t>() < 0)
      fail(path, ": added_tokens[", i, "] needs an integer 'id' and a string 'content'");
    const auto id = t["id"].get<int32_t>();
    const std::string content = t["content"].get<std::string>();
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      if (t.value(flag, false))
        fail(path, ": added_tokens[", i, "] (", content, ") sets ", flag,
             "=true, which is not supported");
    }
    (t.value("normalized", false) ? normalized_added_ : unnormalized_added_).add(content, id);
    added_by_content_.emplace(content, id);
    added_by_id_[id] = content;
    if (t.value("special", false)) special_ids_.insert(id);
    vocab_size_ = std::max<int64_t>(vocab_size_, int64_t{id} + 1);
  }
  decoded_.assign(vocab_size_, std::string());
  for (const auto& [text, id] : vocab_) decoded_[id] = byte_level::token_to_bytes(text);
  for (const auto& [id, text] : added_by_id_) decoded_[id] = byte_level::token_to_bytes(text);
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::make_valid(text);
    text = repaired;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  if (add_special_tokens && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
  unnormalized_added_.split(text, [&](std::string_view seg, int32_t id) {
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    normalized_added_.split(seg, [&](std::string_view seg2, int32_t id2) {
      if (id2 >= 0)
        out.push_back(id2);
      else
        encode_plain(seg2, out);
    });
  });
  return out;
}

void HfTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  pre_->split(text, [&](std::string_view piece) { bpe_.encode(piece, out); });
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    // Unknown ids are skipped, as tokenizers' decode does.
    if (id < 0 || id >= vocab_size_) continue;
    if (skip_special_tokens && is_special(id)) continue;
    bytes += decoded_[id];
  }
  return utf8::is_valid(bytes) ? bytes : utf8::make_valid(bytes);
}

std::string HfTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return "";
  return decoded_[id];
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token_text) const {
  const std::string key(token_text);
  if (auto it = added_by_content_.find(key); it != added_by_content_.end()) return it->second;
  if (auto it = vocab_.find(key); it != vocab_.end()) return it->second;
  return std::nullopt;
}

}  // namespace duet
