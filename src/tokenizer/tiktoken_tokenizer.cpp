#include "tokenizer/tiktoken_tokenizer.h"

#include <charconv>

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/utf8.h"

namespace duet {
namespace {

// Kimi's pat_str with its two Rust-regex-only constructs rewritten for PCRE2:
// [X&&[^\p{Han}]] -> (?:(?!\p{sc=Han})[X]) and \p{Han} -> \p{sc=Han} (Script, not
// Script_Extensions). \s becomes \p{White_Space} in Regex's generic rewrite.
constexpr const char* kKimiPattern =
    R"([\p{sc=Han}]+)"
    R"(|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc=Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*)"
    R"((?:(?!\p{sc=Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc=Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+)"
    R"((?:(?!\p{sc=Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*)"
    R"(|\s*[\r\n]+)"
    R"(|\s+(?!\S))"
    R"(|\s+)";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = base64_value(c)) < 0) {
        return false;
      }
    }
    const uint32_t w = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(w >> 16));
    if (pad < 2) out.push_back(static_cast<char>((w >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(w & 0xFF));
  }
  return true;
}

}  // namespace

std::vector<std::string_view> split_long_runs(std::string_view s, size_t max_run) {
  std::vector<std::string_view> parts;
  size_t run = 0, slice_start = 0;
  bool run_is_space = false;
  if (!s.empty()) {
    size_t j = 0;
    run_is_space = utf8::python_isspace(utf8::next_code_point(s, j));
  }
  for (size_t i = 0; i < s.size();) {
    const size_t here = i;
    const bool is_space = utf8::python_isspace(utf8::next_code_point(s, i));
    if (is_space != run_is_space) {
      run = 1;
      run_is_space = is_space;
    } else if (++run > max_run) {
      parts.push_back(s.substr(slice_start, here - slice_start));
      slice_start = here;
      run = 1;
    }
  }
  parts.push_back(s.substr(slice_start));
  return parts;
}

TiktokenTokenizer::TiktokenTokenizer(const std::string& model_dir) {
  load_ranks(path_join(model_dir, "tiktoken.model"));
  build_pairs();
  pattern_ = std::make_unique<Regex>(kKimiPattern, false, "tiktoken pat_str");
  load_config(model_dir);
  const std::string config_path = path_join(model_dir, "tokenizer_config.json");
  const nlohmann::json& decoder = config_.value("added_tokens_decoder", nlohmann::json::object());
  if (!decoder.is_object()) fail(config_path, ": 'added_tokens_decoder' must be an object");
  for (int i = 0; i < kNumReservedSpecial; ++i) {
    const int32_t id = num_base_ + i;
    std::string name = "<|reserved_token_" + std::to_string(id) + "|>";
    if (auto it = decoder.find(std::to_string(id)); it != decoder.end()) {
      if (!it->is_object() || !it->contains("content") || !(*it)["content"].is_string())
        fail(config_path, ": added_tokens_decoder[\"", id, "\"] needs a string 'content'");
      name = (*it)["content"].get<std::string>();
    }
    special_names_.push_back(name);
    special_by_name_.emplace(name, id);
    specials_.add(name, id);
  }
  // Kimi adds no BOS; bos_id() still names [BOS] for callers that need the id.
  add_bos_ = false;
  resolve_bos();
}

void TiktokenTokenizer::load_ranks(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<std::string> tokens;
  std::string bytes;
  size_t line_no = 0, count = 0;
  for (size_t pos = 0; pos < data.size();) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    std::string_view line(data.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;  // tiktoken's loader skips blank lines
    const size_t sp = line.find(' ');
    int64_t rank = -1;
    const std::string_view num = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), rank);
    if (sp == std::string_view::npos || ec != std::errc() || ptr != num.data() + num.size() ||
        rank < 0 || rank >= (int64_t{1} << 30))
      fail(path, ":", line_no, ": expected \"<base64> <rank>\"");
    if (!base64_decode(line.substr(0, sp), bytes) || bytes.empty())
      fail(path, ":", line_no, ": invalid base64 token");
    if (static_cast<size_t>(rank) >= tokens.size()) tokens.resize(rank + 1);
    if (!tokens[rank].empty()) fail(path, ":", line_no, ": rank ", rank, " appears twice");
    tokens[rank] = bytes;
    ++count;
  }
  if (count == 0) fail(path, ": no tokens");
  // Kimi numbers the specials from len(mergeable_ranks); a gap in the ranks would make the two
  // ranges overlap, so require ranks 0..N-1.
  if (tokens.size() != count)
    fail(path, ": ranks are not contiguous from 0 (", count, " tokens, highest rank ",
         tokens.size() - 1, ")");
  num_base_ = static_cast<int32_t>(count);
  bpe_.set_tokens(std::move(tokens));
  for (int32_t id = 0; id < num_base_; ++id) {
    if (bpe_.id_of(bpe_.bytes_of(id)) != id)
      fail(path, ": token of rank ", id, " has the same bytes as rank ",
           bpe_.id_of(bpe_.bytes_of(id)));
  }
  // tiktoken starts BPE from single bytes; every byte that valid UTF-8 can contain needs one.
  for (int b = 0; b < 256; ++b) {
    const bool in_utf8 = b < 0xC0 || (b >= 0xC2 && b <= 0xF4);
    if (in_utf8 && bpe_.byte_id(static_cast<uint8_t>(b)) < 0)
      fail(path, ": no token for the single byte 0x", std::hex, b);
  }
  bpe_.set_whole_piece_lookup(true);
}

void TiktokenTokenizer::build_pairs() {
  // tiktoken merges the adjacent pair whose concatenation has the lowest rank. Enumerating every
  // token's split points into (left, right) parts that are both tokens gives the same choice as
  // a pair table, so the shared BPE engine applies unchanged.
  for (int32_t id = 0; id < num_base_; ++id) {
    const std::string& t = bpe_.bytes_of(id);
    for (size_t k = 1; k < t.size(); ++k) {
      const int32_t l = bpe_.id_of(std::string_view(t).substr(0, k));
      if (l < 0) continue;
      const int32_t r = bpe_.id_of(std::string_view(t).substr(k));
      if (r >= 0) bpe_.add_merge(l, r, id, id);
    }
  }
}

std::vector<int32_t> TiktokenTokenizer::encode(std::string_view text, bool) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::make_valid(text);
    text = repaired;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  // Chunks of at most 400,000 code points, each cut into parts without 25,000-long runs.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos, chars = 0;
    while (end < text.size() && chars < kTiktokenMaxEncodeChars) {
      utf8::next_code_point(text, end);
      ++chars;
    }
    for (std::string_view part : split_long_runs(text.substr(pos, end - pos), kTiktokenMaxRunChars))
      encode_substr(part, out);
    pos = end;
  }
  return out;
}

void TiktokenTokenizer::encode_substr(std::string_view text, std::vector<int32_t>& out) const {
  specials_.split(text, [&](std::string_view seg, int32_t id) {
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    // tiktoken encodes only the matches (find_iter); Kimi's pattern matches every character,
    // so no text falls between matches.
    pattern_->for_each_match(seg,
                             [&](size_t s, size_t e) { bpe_.encode(seg.substr(s, e - s), out); });
  });
}

std::string TiktokenTokenizer::decode(const std::vector<int32_t>& ids,
                                      bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    bytes += token_bytes(id);
  }
  return utf8::is_valid(bytes) ? bytes : utf8::make_valid(bytes);
}

std::string TiktokenTokenizer::token_bytes(int32_t id) const {
  if (is_special(id)) return special_names_[id - num_base_];
  return bpe_.bytes_of(id);
}

std::optional<int32_t> TiktokenTokenizer::token_to_id(std::string_view token_text) const {
  if (auto it = special_by_name_.find(std::string(token_text)); it != special_by_name_.end())
    return it->second;
  const int32_t id = bpe_.id_of(token_text);
  if (id >= 0) return id;
  return std::nullopt;
}

}  // namespace duet
