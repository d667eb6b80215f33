// Internal to the parser: token cursor helpers and the expression grammar, shared by the
// statement parser (jinja_parser.cpp) and the expression parser (jinja_parse_expr.cpp).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"

namespace duet::jinja {

inline const char* tok_name(Tok t) {
  switch (t) {
    case Tok::kText:
      return "template data";
    case Tok::kVarBegin:
      return "'{{'";
    case Tok::kVarEnd:
      return "'}}'";
    case Tok::kBlockBegin:
      return "'{%'";
    case Tok::kBlockEnd:
      return "'%}'";
    case Tok::kName:
      return "name";
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    case Tok::kOp:
      return "operator";
    case Tok::kEof:
      return "end of template";
  }
  return "token";
}

class ExprParser {
 public:
  explicit ExprParser(const std::vector<Token>& toks) : t_(toks) {}

 protected:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  std::string describe(const Token& t) const {
    if (t.type == Tok::kName || t.type == Tok::kOp) return std::string("'") + t.text + "'";
    return tok_name(t.type);
  }
  [[noreturn]] void error(const std::string& msg) const {
    fail("chat template line ", cur().line, ": ", msg);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) error(std::string("expected a name, got ") + describe(cur()));
    std::string n = cur().text;
    next();
    return n;
  }
  void expect(Tok t) {
    if (cur().type != t) error(std::string("expected ") + tok_name(t) + ", got " + describe(cur()));
    next();
  }

  struct DepthGuard {
    explicit DepthGuard(ExprParser* p) : p(p) {
      if (++p->depth_ > kMaxParseDepth) p->error("template nested too deeply");
    }
    ~DepthGuard() { --p->depth_; }
    ExprParser* p;
  };

  ExprPtr node(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // Expression grammar, lowest precedence first (jinja2/parser.py).
  bool at_tuple_end(const std::vector<std::string>& extra) const;
  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra,
                      bool explicit_parens = false);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr target, int line);
  void parse_call_args(Expr* e);
  ExprPtr parse_call(ExprPtr callee);
  std::string parse_dotted_name();
  ExprPtr parse_filter(ExprPtr subject);
  ExprPtr parse_test(ExprPtr subject);
  ExprPtr parse_filter_expr(ExprPtr e);

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace duet::jinja
