// Jinja lexer with transformers' environment settings (trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False). Mirrors jinja2/lexer.py rule by rule, because whitespace
// handling is where hand-written template engines usually diverge from Jinja2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duet::jinja {

enum class Tok {
  kText,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof
};

struct Token {
  Tok type;
  std::string text;  // data, name, operator, or the unescaped string literal
  int line;
  int64_t int_value = 0;
  double float_value = 0;
};

// Throws duet::Error "chat template line N: ..." on malformed input (unclosed tags, comments,
// strings, unbalanced brackets).
std::vector<Token> lex(const std::string& source);

}  // namespace duet::jinja
