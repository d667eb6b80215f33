#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "common/error.h"

namespace duet {
namespace {

// The GPT-2 pattern that ByteLevel applies when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior parse_behavior(const nlohmann::json& v, const std::string& path) {
  const std::string b = v.is_string() ? v.get<std::string>() : "";
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  fail(path, ": pre_tokenizer Split behavior '", v.dump(), "' is not supported");
}

}  // namespace

PreTokenizer::PreTokenizer(const nlohmann::json& spec, const std::string& path) {
  if (spec.is_null()) fail(path, ": pre_tokenizer is null; only byte-level BPE is supported");
  if (spec.value("type", "") == "Sequence") {
    const auto& list = spec.value("pretokenizers", nlohmann::json::array());
    if (!list.is_array()) fail(path, ": pre_tokenizer Sequence needs a 'pretokenizers' array");
    for (size_t i = 0; i < list.size(); ++i) add(list[i], path, i + 1 == list.size());
  } else {
    add(spec, path, true);
  }
  if (!byte_level_)
    fail(path, ": pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
}

void PreTokenizer::add(const nlohmann::json& spec, const std::string& path, bool last) {
  if (!spec.is_object()) fail(path, ": pre_tokenizer entries must be objects");
  const std::string type = spec.value("type", "");
  if (type == "Split") {
    const auto& pat = spec.value("pattern", nlohmann::json::object());
    SplitRule rule;
    const std::string what = path + ": pre_tokenizer Split pattern";
    if (pat.contains("Regex") && pat["Regex"].is_string()) {
      rule.regex = std::make_unique<Regex>(pat["Regex"].get<std::string>(), false, what);
    } else if (pat.contains("String") && pat["String"].is_string()) {
      rule.regex = std::make_unique<Regex>(pat["String"].get<std::string>(), true, what);
    } else {
      fail(path, ": pre_tokenizer Split needs a pattern {\"Regex\": ...} or {\"String\": ...}");
    }
    rule.behavior = parse_behavior(spec.value("behavior", nlohmann::json()), path);
    rule.invert = spec.value("invert", false);
    rules_.push_back(std::move(rule));
  } else if (type == "Digits") {
    // Hugging Face splits on char::is_numeric (Unicode N*): each digit alone, or digit runs.
    SplitRule rule;
    const bool individual = spec.value("individual_digits", false);
    rule.regex = std::make_unique<Regex>(individual ? R"(\p{N})" : R"(\p{N}+)", false,
                                         path + ": Digits pattern");
    rules_.push_back(std::move(rule));
  } else if (type == "ByteLevel") {
    // The byte mapping itself happens inside the BPE model (it works on raw bytes), so a Split
    // after ByteLevel would see different text than in Hugging Face; refuse that order.
    if (!last) fail(path, ": pre_tokenizer ByteLevel must be the last step");
    if (spec.value("add_prefix_space", false))
      fail(path, ": pre_tokenizer ByteLevel add_prefix_space=true is not supported");
    if (spec.value("use_regex", true)) {
      SplitRule rule;
      rule.regex = std::make_unique<Regex>(kGpt2Pattern, false, path + ": ByteLevel regex");
      rules_.push_back(std::move(rule));
    }
    byte_level_ = true;
  } else {
    fail(path, ": pre_tokenizer type '", type,
         "' is not supported (supported: Sequence, Split, Digits, ByteLevel)");
  }
}

std::vector<std::pair<size_t, size_t>> PreTokenizer::split_general(const SplitRule& r,
                                                                   std::string_view text) {
  struct Part {
    size_t start, end;
    bool is_match;
  };
  std::vector<Part> parts;
  size_t prev = 0;
  r.regex->for_each_match(text, [&](size_t s, size_t e) {
    if (s > prev) parts.push_back({prev, s, r.invert});
    parts.push_back({s, e, !r.invert});
    prev = e;
  });
  if (prev < text.size()) parts.push_back({prev, text.size(), r.invert});

  std::vector<Part> out;
  bool previous_match = false;
  switch (r.behavior) {
    case SplitBehavior::kIsolated:
      out = parts;
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts)
        if (!p.is_match) out.push_back(p);
      break;
    case SplitBehavior::kContiguous:
      for (const Part& p : parts) {
        if (p.is_match == previous_match && !out.empty())
          out.back().end = p.end;
        else
          out.push_back(p);
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !out.empty())
          out.back().end = p.end;
        else
          out.push_back(p);
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty())
          out.back().start = it->start;
        else
          out.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  std::vector<std::pair<size_t, size_t>> result;
  for (const Part& p : out)
    if (p.end > p.start) result.emplace_back(p.start, p.end);
  return result;
}

}  // namespace duet
