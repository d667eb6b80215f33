#include <algorithm>

#include "tokenizer/jinja_parse_expr.h"

namespace duet::jinja {

bool ExprParser::at_tuple_end(const std::vector<std::string>& extra) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || cur().type == Tok::kEof)
    return true;
  if (is_op(")")) return true;
  return cur().type == Tok::kName &&
         std::find(extra.begin(), extra.end(), cur().text) != extra.end();
}

ExprPtr ExprParser::parse_tuple(bool with_condexpr, const std::vector<std::string>& extra,
                                bool explicit_parens) {
  int line = cur().line;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (at_tuple_end(extra)) break;
    items.push_back(parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) error(std::string("expected an expression, got ") + describe(cur()));
  }
  auto e = node(ExprKind::kTuple, line);
  e->args = std::move(items);
  return e;
}

ExprPtr ExprParser::parse_expression(bool with_condexpr) {
  DepthGuard g(this);
  if (!with_condexpr) return parse_or();
  ExprPtr e = parse_or();
  while (is_name("if")) {
    int line = cur().line;
    next();
    auto c = node(ExprKind::kCondExpr, line);
    ExprPtr cond = parse_or();
    ExprPtr other;
    if (is_name("else")) {
      next();
      other = parse_expression(true);
    }
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(cond));
    c->args.push_back(std::move(other));
    e = std::move(c);
  }
  return e;
}

ExprPtr ExprParser::binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
  auto e = node(ExprKind::kBinary, line);
  e->name = op;
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

ExprPtr ExprParser::parse_or() {
  ExprPtr e = parse_and();
  while (is_name("or")) {
    int line = cur().line;
    next();
    e = binary("or", std::move(e), parse_and(), line);
  }
  return e;
}

ExprPtr ExprParser::parse_and() {
  ExprPtr e = parse_not();
  while (is_name("and")) {
    int line = cur().line;
    next();
    e = binary("and", std::move(e), parse_not(), line);
  }
  return e;
}

ExprPtr ExprParser::parse_not() {
  if (is_name("not")) {
    DepthGuard g(this);
    auto e = node(ExprKind::kUnary, cur().line);
    next();
    e->name = "not";
    e->args.push_back(parse_not());
    return e;
  }
  return parse_compare();
}

ExprPtr ExprParser::parse_compare() {
  int line = cur().line;
  ExprPtr first = parse_math1();
  auto e = node(ExprKind::kCompare, line);
  e->args.push_back(std::move(first));
  while (true) {
    std::string op;
    if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
      op = cur().text;
      next();
    } else if (is_name("in")) {
      op = "in";
      next();
    } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
      op = "not in";
      next();
      next();
    } else {
      break;
    }
    e->ops.push_back(op);
    e->args.push_back(parse_math1());
  }
  if (e->ops.empty()) return std::move(e->args[0]);
  return e;
}

ExprPtr ExprParser::parse_math1() {
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    std::string op = cur().text;
    int line = cur().line;
    next();
    e = binary(op, std::move(e), parse_concat(), line);
  }
  return e;
}

ExprPtr ExprParser::parse_concat() {
  ExprPtr e = parse_math2();
  while (is_op("~")) {
    int line = cur().line;
    next();
    e = binary("~", std::move(e), parse_math2(), line);
  }
  return e;
}

ExprPtr ExprParser::parse_math2() {
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    std::string op = cur().text;
    int line = cur().line;
    next();
    e = binary(op, std::move(e), parse_pow(), line);
  }
  return e;
}

ExprPtr ExprParser::parse_pow() {
  ExprPtr e = parse_unary(true);
  while (is_op("**")) {
    int line = cur().line;
    next();
    e = binary("**", std::move(e), parse_unary(true), line);
  }
  return e;
}

ExprPtr ExprParser::parse_unary(bool with_filter) {
  DepthGuard g(this);
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    e = node(ExprKind::kUnary, cur().line);
    e->name = cur().text;
    next();
    e->args.push_back(parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr ExprParser::parse_primary() {
  const Token& tk = cur();
  int line = tk.line;
  if (tk.type == Tok::kName) {
    auto e = node(ExprKind::kLiteral, line);
    if (tk.text == "true" || tk.text == "True") {
      e->value = Value(true);
    } else if (tk.text == "false" || tk.text == "False") {
      e->value = Value(false);
    } else if (tk.text == "none" || tk.text == "None") {
      e->value = Value(None{});
    } else {
      e->kind = ExprKind::kName;
      e->name = tk.text;
    }
    next();
    return e;
  }
  if (tk.type == Tok::kString) {
    std::string s;
    while (cur().type == Tok::kString) {
      s += cur().text;
      next();
    }
    auto e = node(ExprKind::kLiteral, line);
    e->value = Value(std::move(s));
    return e;
  }
  if (tk.type == Tok::kInt || tk.type == Tok::kFloat) {
    auto e = node(ExprKind::kLiteral, line);
    e->value = tk.type == Tok::kInt ? Value(tk.int_value) : Value(tk.float_value);
    next();
    return e;
  }
  if (is_op("(")) {
    next();
    ExprPtr e = parse_tuple(true, {}, true);
    expect_op(")");
    return e;
  }
  if (is_op("[")) {
    next();
    auto e = node(ExprKind::kList, line);
    while (!is_op("]")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("]")) break;
      e->args.push_back(parse_expression(true));
    }
    next();
    return e;
  }
  if (is_op("{")) {
    next();
    auto e = node(ExprKind::kDict, line);
    while (!is_op("}")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("}")) break;
      e->args.push_back(parse_expression(true));
      expect_op(":");
      e->args.push_back(parse_expression(true));
    }
    next();
    return e;
  }
  error(std::string("unexpected ") + describe(tk) + " in expression");
}

ExprPtr ExprParser::parse_postfix(ExprPtr e) {
  while (true) {
    int line = cur().line;
    if (is_op(".")) {
      next();
      if (cur().type == Tok::kName) {
        auto a = node(ExprKind::kGetAttr, line);
        a->name = cur().text;
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (cur().type == Tok::kInt) {
        auto a = node(ExprKind::kGetItem, line);
        a->args.push_back(std::move(e));
        auto idx = node(ExprKind::kLiteral, line);
        idx->value = Value(cur().int_value);
        a->args.push_back(std::move(idx));
        e = std::move(a);
      } else {
        error(std::string("expected a name after '.', got ") + describe(cur()));
      }
      next();
    } else if (is_op("[")) {
      next();
      e = parse_subscript(std::move(e), line);
      expect_op("]");
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr ExprParser::parse_subscript(ExprPtr target, int line) {
  ExprPtr parts[3];
  bool is_slice = false;
  if (!is_op(":")) {
    parts[0] = parse_expression(true);
    if (!is_op(":")) {
      if (is_op(",")) error("unsupported construct: tuple subscript");
      auto a = node(ExprKind::kGetItem, line);
      a->args.push_back(std::move(target));
      a->args.push_back(std::move(parts[0]));
      return a;
    }
  }
  is_slice = true;
  next();  // first ':'
  if (!is_op("]") && !is_op(":")) parts[1] = parse_expression(true);
  if (is_op(":")) {
    next();
    if (!is_op("]")) parts[2] = parse_expression(true);
  }
  auto a = node(ExprKind::kSlice, line);
  a->args.push_back(std::move(target));
  for (auto& p : parts) a->args.push_back(std::move(p));
  (void)is_slice;
  return a;
}

void ExprParser::parse_call_args(Expr* e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (is_op("*") || is_op("**")) error("unsupported construct: *args/**kwargs in a call");
    if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
      std::string key = cur().text;
      next();
      next();
      e->kwargs.emplace_back(key, parse_expression(true));
    } else {
      if (!e->kwargs.empty()) error("positional argument follows keyword argument");
      e->args.push_back(parse_expression(true));
    }
  }
  next();
}

ExprPtr ExprParser::parse_call(ExprPtr callee) {
  auto e = node(ExprKind::kCall, cur().line);
  e->args.push_back(std::move(callee));
  parse_call_args(e.get());
  return e;
}

std::string ExprParser::parse_dotted_name() {
  std::string n = expect_name();
  while (is_op(".")) {
    next();
    n.append(".").append(expect_name());
  }
  return n;
}

ExprPtr ExprParser::parse_filter(ExprPtr subject) {
  DepthGuard g(this);
  auto e = node(ExprKind::kFilter, cur().line);
  if (is_op("|")) next();
  e->name = parse_dotted_name();
  e->args.push_back(std::move(subject));
  if (is_op("(")) parse_call_args(e.get());
  return e;
}

ExprPtr ExprParser::parse_test(ExprPtr subject) {
  auto e = node(ExprKind::kTest, cur().line);
  next();  // 'is'
  if (is_name("not")) {
    e->negate = true;
    next();
  }
  e->name = parse_dotted_name();
  e->args.push_back(std::move(subject));
  if (is_op("(")) {
    parse_call_args(e.get());
  } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
              cur().type == Tok::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    ExprPtr arg = parse_postfix(parse_primary());
    e->args.push_back(std::move(arg));
  }
  return e;
}

ExprPtr ExprParser::parse_filter_expr(ExprPtr e) {
  while (true) {
    DepthGuard g(this);
    if (is_op("|")) {
      e = parse_filter(std::move(e));
    } else if (is_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

}  // namespace duet::jinja
