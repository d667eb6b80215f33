#include "tokenizer/jinja_lexer.h"

#include <cstring>

#include "common/error.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {
namespace {

[[noreturn]] void lex_fail(int line, const std::string& msg) {
  fail("chat template line ", line, ": ", msg);
}

// Jinja splits the source on \r\n, \r and \n, drops one trailing newline
// (keep_trailing_newline=False) and joins with \n.
std::string normalize_newlines(const std::string& src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int count_lines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

size_t skip_ws(const std::string& s, size_t pos) {
  size_t len;
  while (pos < s.size() && is_ws_at(s, pos, &len)) pos += len;
  return pos;
}

bool all_ws(const std::string& s, size_t from) {
  if (from >= s.size()) return false;  // whitespace_re is \s+: an empty tail does not match
  return skip_ws(s, from) == s.size();
}

// Applies "{%-" (strip all whitespace before) or lstrip_blocks (strip the blanks that start the
// tag's line) to the text that precedes a tag, as OptionalLStrip does in jinja2/lexer.py.
std::string strip_before(std::string text, char sign, bool is_variable, bool line_starting) {
  if (sign == '-') return py_strip(text, nullptr, false, true);
  if (sign != '+' && !is_variable) {
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting) && all_ws(text, l_pos)) text.resize(l_pos);
  }
  return text;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Jinja decodes string literals with Python's "unicode-escape" codec.
std::string unescape(const std::string& s, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char c = s[++i];
    switch (c) {
      case '\n':
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
      case 'u':
      case 'U': {
        int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (int k = 0; k < n; ++k) {
          int d = i + 1 + k < s.size() ? hex_digit(s[i + 1 + k]) : -1;
          if (d < 0) lex_fail(line, std::string("truncated \\") + c + " escape in string literal");
          cp = cp * 16 + d;
        }
        if (cp > 0x10FFFF) lex_fail(line, "illegal Unicode character in string literal");
        i += n;
        utf8_append(out, cp);
        break;
      }
      case 'N':
        lex_fail(line, "unsupported construct: \\N{...} escape in string literal");
      default:
        if (c >= '0' && c <= '7') {
          char32_t cp = c - '0';
          for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
            cp = cp * 8 + (s[++i] - '0');
          utf8_append(out, cp);
        } else {
          out.push_back('\\');
          out.push_back(c);
        }
    }
  }
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(normalize_newlines(src)) {}

  std::vector<Token> run() {
    size_t pos = 0;
    while (pos < s_.size()) {
      size_t p = find_tag(pos);
      if (p == std::string::npos) {
        emit(Tok::kText, s_.substr(pos));
        break;
      }
      char kind = s_[p + 1];
      char sign = (p + 2 < s_.size() && (s_[p + 2] == '-' || s_[p + 2] == '+')) ? s_[p + 2] : 0;
      std::string raw_text = s_.substr(pos, p - pos);
      std::string text = strip_before(raw_text, sign, kind == '{', line_starting_);
      emit(Tok::kText, text);
      line_ += count_lines(raw_text);
      pos = p + 2 + (sign ? 1 : 0);
      size_t raw_end;
      if (kind == '%' && match_raw_begin(pos, &raw_end)) {
        pos = lex_raw(pos, raw_end);
      } else if (kind == '#') {
        pos = lex_comment(pos);
      } else {
        pos = lex_tag(pos, kind == '%');
      }
    }
    tokens_.push_back(Token{Tok::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string::npos && p + 1 < s_.size();
         p = s_.find('{', p + 1)) {
      char c = s_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
    }
    return std::string::npos;
  }

  void emit(Tok t, std::string text) {
    if (t == Tok::kText && text.empty()) return;
    tokens_.push_back(Token{t, std::move(text), line_});
  }

  // Matches a block end at pos: "+%}", "-%}" + whitespace, or "%}" + one optional newline
  // (trim_blocks). Returns the position after it, or npos.
  size_t match_block_end(size_t pos) const {
    if (s_.compare(pos, 3, "+%}") == 0) return pos + 3;
    if (s_.compare(pos, 3, "-%}") == 0) return skip_ws(s_, pos + 3);
    if (s_.compare(pos, 2, "%}") == 0)
      return pos + 2 + (pos + 2 < s_.size() && s_[pos + 2] == '\n');
    return std::string::npos;
  }

  void after_close(size_t start, size_t end) {
    line_ += count_lines(std::string_view(s_).substr(start, end - start));
    line_starting_ = end > start && s_[end - 1] == '\n';
  }

  // "{%" already consumed; raw begin is \s*raw\s*(-%}\s*|%}) with no trim_blocks newline.
  bool match_raw_begin(size_t pos, size_t* end) const {
    size_t p = skip_ws(s_, pos);
    if (s_.compare(p, 3, "raw") != 0) return false;
    p = skip_ws(s_, p + 3);
    if (s_.compare(p, 3, "-%}") == 0) {
      *end = skip_ws(s_, p + 3);
      return true;
    }
    if (s_.compare(p, 2, "%}") == 0) {
      *end = p + 2;
      return true;
    }
    return false;
  }

  size_t lex_raw(size_t begin, size_t pos) {
    after_close(begin, pos);
    for (size_t p = s_.find("{%", pos); p != std::string::npos; p = s_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) ? s_[q] : 0;
      q = skip_ws(s_, q + (sign ? 1 : 0));
      if (s_.compare(q, 6, "endraw") != 0) continue;
      size_t end = match_block_end(skip_ws(s_, q + 6));
      if (end == std::string::npos) continue;
      std::string body = s_.substr(pos, p - pos);
      emit(Tok::kText, strip_before(body, sign, false, false));
      line_ += count_lines(body);
      after_close(p, end);
      return end;
    }
    lex_fail(line_, "missing end of raw directive ({% endraw %})");
  }

  size_t lex_comment(size_t pos) {
    size_t j = s_.find("#}", pos);
    if (j == std::string::npos) lex_fail(line_, "missing end of comment tag");
    size_t end;
    if (j > pos && s_[j - 1] == '-') {
      end = skip_ws(s_, j + 2);
    } else if (j > pos && s_[j - 1] == '+') {
      end = j + 2;
    } else {
      end = j + 2 + (j + 2 < s_.size() && s_[j + 2] == '\n');
    }
    after_close(pos, end);
    return end;
  }

  size_t lex_tag(size_t pos, bool block) {
    emit(block ? Tok::kBlockBegin : Tok::kVarBegin, "");
    std::string balance;
    while (true) {
      size_t p = skip_ws(s_, pos);
      line_ += count_lines(std::string_view(s_).substr(pos, p - pos));
      pos = p;
      if (pos >= s_.size())
        lex_fail(line_, block ? "unexpected end of template, expected '%}'"
                              : "unexpected end of template, expected '}}'");
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (block) {
          end = match_block_end(pos);
        } else if (s_.compare(pos, 3, "-}}") == 0) {
          end = skip_ws(s_, pos + 3);
        } else if (s_.compare(pos, 2, "}}") == 0) {
          end = pos + 2;
        }
        if (end != std::string::npos) {
          emit(block ? Tok::kBlockEnd : Tok::kVarEnd, "");
          after_close(pos, end);
          return end;
        }
      }
      pos = lex_token(pos, balance);
    }
  }

  size_t lex_number(size_t pos) {
    size_t p = pos;
    std::string digits;
    auto take_digits = [&]() {
      size_t start = p;
      while (p < s_.size() && (is_digit(s_[p]) || (s_[p] == '_' && p > start && p + 1 < s_.size() &&
                                                   is_digit(s_[p + 1])))) {
        if (s_[p] != '_') digits.push_back(s_[p]);
        ++p;
      }
    };
    take_digits();
    bool is_float = false;
    if (p + 1 < s_.size() && s_[p] == '.' && is_digit(s_[p + 1])) {
      is_float = true;
      digits.push_back('.');
      ++p;
      take_digits();
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && is_digit(s_[q])) {
        is_float = true;
        digits += 'e';
        digits += s_.substr(p + 1, q - p - 1);
        p = q;
        take_digits();
      }
    }
    Token t{is_float ? Tok::kFloat : Tok::kInt, digits, line_};
    if (is_float) {
      t.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      errno = 0;
      unsigned long long v = std::strtoull(digits.c_str(), nullptr, 10);
      if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
        lex_fail(line_, "integer literal too large: " + digits);
      t.int_value = static_cast<int64_t>(v);
    }
    tokens_.push_back(std::move(t));
    return p;
  }

  size_t lex_token(size_t pos, std::string& balance) {
    char c = s_[pos];
    if (is_digit(c)) {
      if (c == '0' && pos + 1 < s_.size() && std::strchr("bBoOxX", s_[pos + 1]))
        lex_fail(line_, "unsupported construct: binary/octal/hex integer literal");
      return lex_number(pos);
    }
    if (is_name_start(c)) {
      size_t p = pos;
      while (p < s_.size() && (is_name_start(s_[p]) || is_digit(s_[p]))) ++p;
      emit(Tok::kName, s_.substr(pos, p - pos));
      return p;
    }
    if (c == '\'' || c == '"') {
      size_t p = pos + 1;
      while (p < s_.size() && s_[p] != c) p += (s_[p] == '\\') ? 2 : 1;
      if (p >= s_.size()) lex_fail(line_, "unterminated string literal");
      std::string body = s_.substr(pos + 1, p - pos - 1);
      tokens_.push_back(Token{Tok::kString, unescape(body, line_), line_});
      line_ += count_lines(body);
      return p + 1;
    }
    static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kOps2) {
      if (s_.compare(pos, 2, op) == 0) {
        emit(Tok::kOp, op);
        return pos + 2;
      }
    }
    if (std::strchr("+-/*%~[](){}<>=.:|,;", c) == nullptr || c == 0) {
      lex_fail(line_, std::string("unexpected character '") + c + "' in tag");
    }
    if (c == '(' || c == '[' || c == '{') {
      if (balance.size() > 1000) lex_fail(line_, "brackets nested too deeply");
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) lex_fail(line_, std::string("unexpected '") + c + "'");
      if (balance.back() != c)
        lex_fail(line_, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    emit(Tok::kOp, std::string(1, c));
    return pos + 1;
  }

  std::string s_;
  std::vector<Token> tokens_;
  int line_ = 1;
  bool line_starting_ = true;
};

}  // namespace

std::vector<Token> lex(const std::string& source) {
  return Lexer(source).run();
}

}  // namespace duet::jinja
