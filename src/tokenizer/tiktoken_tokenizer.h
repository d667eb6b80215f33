// tiktoken-format tokenizers as Kimi K2/K2.5 and Moonlight ship them (tokenization_kimi.py):
//  * tiktoken.model: one "base64(token bytes) SP rank" line per token; id = rank;
//  * 256 special ids right after the base vocabulary, named by tokenizer_config.json's
//    added_tokens_decoder, the rest "<|reserved_token_{id}|>";
//  * Kimi's pat_str (rewritten for PCRE2), special-token strings always recognised
//    (allowed_special="all"), whole-piece rank lookup then byte-level BPE by lowest rank;
//  * Kimi's wrapper splitting: <= 400,000-code-point chunks, then runs of more than 25,000
//    consecutive (Python isspace) whitespace or non-whitespace code points are cut.
// No BOS is ever added (Kimi's tokenizer adds none; its chat template has none).
#pragma once

#include <string>
#include <unordered_map>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace duet {

// Kimi's wrapper limits (tokenization_kimi.py), exposed for tests.
inline constexpr size_t kTiktokenMaxEncodeChars = 400000;
inline constexpr size_t kTiktokenMaxRunChars = 25000;

// Kimi's _split_whitespaces_or_nonwhitespaces over code points: the parts the Python generator
// yields, including the single empty part of an empty input. text must be valid UTF-8.
std::vector<std::string_view> split_long_runs(std::string_view text, size_t max_run);

class TiktokenTokenizer final : public Tokenizer {
 public:
  static constexpr int kNumReservedSpecial = 256;

  explicit TiktokenTokenizer(const std::string& model_dir);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  std::string token_bytes(int32_t id) const override;
  bool is_special(int32_t id) const override {
    return id >= num_base_ && id < num_base_ + kNumReservedSpecial;
  }
  std::optional<int32_t> token_to_id(std::string_view token_text) const override;
  int64_t vocab_size() const override { return int64_t{num_base_} + kNumReservedSpecial; }

 private:
  void load_ranks(const std::string& path);
  void build_pairs();
  void encode_substr(std::string_view text, std::vector<int32_t>& out) const;

  BpeModel bpe_;
  std::unique_ptr<Regex> pattern_;
  AddedTokenMatcher specials_;
  std::vector<std::string> special_names_;  // index = id - num_base_
  std::unordered_map<std::string, int32_t> special_by_name_;
  int32_t num_base_ = 0;
};

}  // namespace duet
