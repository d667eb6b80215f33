// UTF-8 helpers shared by the tokenizers: validation, lossy repair and code point stepping.
//
// Repair policy (used by encode and decode alike): every "maximal subpart" of an ill-formed
// sequence becomes one U+FFFD, the Unicode-recommended practice that Rust's
// String::from_utf8_lossy (Hugging Face tokenizers) and Python's errors="replace" (tiktoken) both
// follow, so our decode output equals theirs byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace duet::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes at i are ill-formed.
// When the sequence is cut short by the end of s, returns 0 and sets *truncated.
size_t sequence_length(std::string_view s, size_t i, bool* truncated = nullptr);

// Length of the ill-formed "maximal subpart" at s[i] (>= 1): the bytes that one U+FFFD replaces.
size_t invalid_length(std::string_view s, size_t i);

bool is_valid(std::string_view s);

// s with every ill-formed subsequence replaced by U+FFFD (a copy only when s is invalid).
std::string make_valid(std::string_view s);

// Decodes the code point of the valid sequence at s[i] and advances i past it.
uint32_t next_code_point(std::string_view s, size_t& i);

// Python's str.isspace() (bidirectional class WS, B or S, or category Zs); Kimi's long-run
// splitting is defined with it, and it differs from regex \s (it includes U+001C..U+001F).
bool python_isspace(uint32_t cp);

void append_code_point(std::string& out, uint32_t cp);

}  // namespace duet::utf8
