// Text <-> token ids for the checkpoints duet serves. Two on-disk formats share one interface:
//  * tokenizer.json byte-level BPE (DeepSeek-V3/R1/V2), see hf_tokenizer.h;
//  * tiktoken.model (Kimi K2/K2.5, Moonlight), see tiktoken_tokenizer.h.
//
// Input policy for encode (both formats):
//  * Invalid UTF-8 is repaired before anything else: each ill-formed subsequence becomes U+FFFD
//    (the same maximal-subpart rule decode uses), so regexes only ever see valid UTF-8. The
//    reference libraries take Python str / Rust &str and cannot receive invalid UTF-8 at all.
//  * NUL bytes are ordinary characters.
//  * Long inputs (10 MB and more) are encoded in time linear in their length; pieces that
//    merge quadratically are bounded (short pieces) or use an O(n log n) heap (long ones).
// Decode concatenates token bytes and replaces invalid UTF-8 with U+FFFD the way Hugging Face
// (Rust from_utf8_lossy) and tiktoken (Python errors="replace") do.
//
// Thread safety: a loaded Tokenizer is immutable apart from an internal locked cache; encode
// and decode may be called from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duet {

class Tokenizer {
 public:
  virtual ~Tokenizer();
  // Loads DIR/tokenizer.json or DIR/tiktoken.model (+ DIR/tokenizer_config.json). Returns
  // nullptr when the directory has no tokenizer files; throws duet::Error naming the file on bad
  // files. tokenizer.json wins when both exist.
  static std::unique_ptr<Tokenizer> load(const std::string& model_dir);

  // Plain-text encoding; add_special_tokens adds BOS when tokenizer_config says add_bos_token.
  // Special-token strings in the text become their ids.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const = 0;
  // Raw bytes of one token ("" if unknown).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // Id of a token by its text: special/added token content (e.g. "<|im_end|>"), else the
  // vocabulary entry as the file writes it.
  virtual std::optional<int32_t> token_to_id(std::string_view token_text) const = 0;
  virtual int64_t vocab_size() const = 0;  // highest id + 1

  int32_t bos_id() const { return bos_id_; }  // -1 if none
  bool add_bos() const { return add_bos_; }
  std::string bos_token() const { return bos_token_; }  // "" if none
  std::string eos_token() const { return eos_token_; }  // "" if none
  const nlohmann::json& tokenizer_config() const { return config_; }

 protected:
  // Reads tokenizer_config.json (optional) into config_, bos/eos strings and add_bos_.
  void load_config(const std::string& model_dir);
  // Resolves bos_id_ from bos_token_; call once the vocabulary is loaded.
  void resolve_bos();

  nlohmann::json config_ = nlohmann::json::object();
  std::string bos_token_, eos_token_;
  bool add_bos_ = false;
  int32_t bos_id_ = -1;
};

// Streaming detokenizer: feed ids one at a time, get text that is safe to emit. Never emits a
// partial UTF-8 sequence and emits every byte exactly once; the concatenation of everything
// push() and flush() return equals tokenizer.decode(all ids). Bytes that can no longer become
// valid UTF-8 are emitted as U+FFFD right away; flush() returns what is left (an incomplete
// sequence at the end becomes U+FFFD, as Hugging Face decode does).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens);
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence held back
};

}  // namespace duet
