// Byte-level BPE tokenizers in Hugging Face's tokenizer.json format (DeepSeek-V3/R1/V2).
//
// Supported subset (anything else is refused with an error naming the field):
//  * model: BPE with vocab and merges ("a b" strings or ["a","b"] pairs), ignore_merges,
//    no dropout, no continuing_subword_prefix / end_of_word_suffix;
//  * normalizer: null or an empty Sequence;
//  * pre_tokenizer: Split rules (every behavior, invert) and a final ByteLevel;
//  * decoder: ByteLevel;
//  * added_tokens without lstrip / rstrip / single_word.
// Pipeline: added tokens are cut out first (non-normalized ones, then normalized ones, as
// tokenizers does in two passes), the rest is pre-tokenized and each piece BPE-encoded.
// post_processor is not applied: BOS comes from tokenizer_config.json's add_bos_token, which is
// what transformers 5.x does for these models.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace duet {

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(const std::string& model_dir);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  std::string token_bytes(int32_t id) const override;
  bool is_special(int32_t id) const override { return special_ids_.count(id) > 0; }
  std::optional<int32_t> token_to_id(std::string_view token_text) const override;
  int64_t vocab_size() const override { return vocab_size_; }

 private:
  void load_model(const nlohmann::json& model, const std::string& path);
  void load_added_tokens(const nlohmann::json& list, const std::string& path);
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;

  BpeModel bpe_;
  std::unique_ptr<PreTokenizer> pre_;
  AddedTokenMatcher unnormalized_added_, normalized_added_;
  std::unordered_map<std::string, int32_t> vocab_;  // file form, e.g. "Ġthe"
  std::unordered_map<std::string, int32_t> added_by_content_;
  std::unordered_map<int32_t, std::string> added_by_id_;
  std::unordered_set<int32_t> special_ids_;
  std::vector<std::string> decoded_;  // id -> bytes as the ByteLevel decoder yields them
  int64_t vocab_size_ = 0;
};

}  // namespace duet
