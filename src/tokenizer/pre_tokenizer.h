// tokenizer.json pre-tokenization: a chain of regex Split rules, each applied to every piece the
// previous rule produced (Hugging Face semantics: a rule never sees past its piece).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace duet {

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct SplitRule {
  std::unique_ptr<Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};

class PreTokenizer {
 public:
  // Parses tokenizer.json's "pre_tokenizer". Supported: Split, ByteLevel (last, with
  // add_prefix_space false) and Sequence of those. `path` names the file in errors.
  PreTokenizer(const nlohmann::json& spec, const std::string& path);

  // Calls f(piece) for every final piece of text, left to right.
  template <typename F>
  void split(std::string_view text, F&& f) const {
    apply(text, 0, f);
  }

 private:
  template <typename F>
  void apply(std::string_view text, size_t rule, F& f) const {
    if (text.empty()) return;
    if (rule == rules_.size()) {
      f(text);
      return;
    }
    const SplitRule& r = rules_[rule];
    if (r.behavior == SplitBehavior::kIsolated && !r.invert) {
      // Fast path for the common case: stream matches and gaps with no temporary list.
      size_t prev = 0;
      r.regex->for_each_match(text, [&](size_t s, size_t e) {
        if (s > prev) apply(text.substr(prev, s - prev), rule + 1, f);
        apply(text.substr(s, e - s), rule + 1, f);
        prev = e;
      });
      if (prev < text.size()) apply(text.substr(prev), rule + 1, f);
      return;
    }
    for (const auto& [s, e] : split_general(r, text)) apply(text.substr(s, e - s), rule + 1, f);
  }

  // Every behavior and invert, exactly as tokenizers' Split::split folds its matches.
  static std::vector<std::pair<size_t, size_t>> split_general(const SplitRule& r,
                                                              std::string_view text);
  void add(const nlohmann::json& spec, const std::string& path, bool last);

  std::vector<SplitRule> rules_;
  bool byte_level_ = false;
};

}  // namespace duet
