// PCRE2 (UTF + UCP + JIT) wrapper for the pre-tokenizer patterns of tokenizer.json and tiktoken.
//
// Subjects must be valid UTF-8: the tokenizers repair their input before splitting, so matching
// runs with PCRE2_NO_UTF_CHECK (PCRE2 would otherwise re-validate the whole subject on every
// call, which is quadratic over a long text).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace duet {

class Regex {
 public:
  // `what` names the pattern's origin (file and field) in error messages. `literal` matches the
  // pattern text as a plain string (tokenizer.json's {"String": ...} split patterns).
  Regex(const std::string& pattern, bool literal, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match in s at or after `start`; false when none.
  bool find(std::string_view s, size_t start, size_t* match_start, size_t* match_end) const;

  // Calls f(match_start, match_end) for every match left to right, like Rust's find_iter: after
  // an empty match the search resumes one code point later.
  template <typename F>
  void for_each_match(std::string_view s, F&& f) const {
    size_t pos = 0, ms, me;
    while (pos <= s.size() && find(s, pos, &ms, &me)) {
      f(ms, me);
      if (me > ms) {
        pos = me;
      } else {
        pos = me + 1;
        while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) ++pos;
      }
    }
  }

 private:
  void* code_;  // pcre2_code_8*
  std::string what_;
};

// Rewrites a pattern written for Onig / Rust regex into PCRE2 syntax with the same meaning:
// \p{Han} means Script=Han there (PCRE2 >= 10.40 reads it as Script_Extensions, which adds
// 。、「」 and more), and \s / \S mean the Unicode White_Space property (PCRE2's UCP \s omits
// U+0085). Escapes are parsed pairwise, so "\\s" (an escaped backslash, then s) is untouched.
std::string rewrite_pattern_for_pcre2(const std::string& pattern);

}  // namespace duet
