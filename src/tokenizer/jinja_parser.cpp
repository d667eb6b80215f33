#include "tokenizer/jinja_parser.h"

#include <algorithm>

#include "common/error.h"

namespace duet::jinja {
namespace {

const char* tok_name(Tok t) {
  switch (t) {
    case Tok::kText: return "template data";
    case Tok::kVarBegin: return "'{{'";
    case Tok::kVarEnd: return "'}}'";
    case Tok::kBlockBegin: return "'{%'";
    case Tok::kBlockEnd: return "'%}'";
    case Tok::kName: return "name";
    case Tok::kString: return "string";
    case Tok::kInt: return "integer";
    case Tok::kFloat: return "float";
    case Tok::kOp: return "operator";
    case Tok::kEof: return "end of template";
  }
  return "token";
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& toks) : t_(toks) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, &end);
    return b;
  }

 private:
  // ---- token helpers ----
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
    if (cur().type != Tok::kName) error("expected a name, got " + describe(cur()));
    std::string n = cur().text;
    next();
    return n;
  }
  void expect(Tok t) {
    if (cur().type != t) error(std::string("expected ") + tok_name(t) + ", got " + describe(cur()));
    next();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p(p) {
      if (++p->depth_ > kMaxParseDepth) p->error("template nested too deeply");
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  ExprPtr node(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // ---- statements ----
  Body parse_body(const std::vector<std::string>& end_tags, std::string* end_found) {
    DepthGuard g(this);
    Body body;
    while (true) {
      const Token& tk = cur();
      if (tk.type == Tok::kEof) {
        if (!end_tags.empty()) error("unexpected end of template, expected '" + end_tags[0] + "'");
        return body;
      }
      if (tk.type == Tok::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->line = tk.line;
        s->text = tk.text;
        body.push_back(std::move(s));
        next();
      } else if (tk.type == Tok::kVarBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = tk.line;
        next();
        s->exprs.push_back(parse_tuple(true, {}));
        expect(Tok::kVarEnd);
        body.push_back(std::move(s));
      } else if (tk.type == Tok::kBlockBegin) {
        next();
        if (cur().type != Tok::kName) error("expected a tag name after '{%', got " + describe(cur()));
        if (std::find(end_tags.begin(), end_tags.end(), cur().text) != end_tags.end()) {
          *end_found = cur().text;
          next();
          return body;
        }
        body.push_back(parse_statement());
      } else {
        error("unexpected " + describe(tk));
      }
    }
  }

  // Parses up to and including the block's end tag; returns which end tag closed it.
  Body parse_block_body(const std::vector<std::string>& ends, std::string* which) {
    Body b = parse_body(ends, which);
    return b;
  }

  StmtPtr new_stmt(StmtKind k, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->line = line;
    return s;
  }

  StmtPtr parse_statement() {
    int line = cur().line;
    std::string tag = cur().text;
    next();
    if (tag == "if") return parse_if(line);
    if (tag == "for") return parse_for(line);
    if (tag == "set") return parse_set(line);
    if (tag == "macro") return parse_macro(line);
    if (tag == "call") return parse_call_block(line);
    if (tag == "filter") return parse_filter_block(line);
    if (tag == "generation") {
      auto s = new_stmt(StmtKind::kGeneration, line);
      expect(Tok::kBlockEnd);
      std::string end;
      s->bodies.push_back(parse_block_body({"endgeneration"}, &end));
      expect(Tok::kBlockEnd);
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) error(std::string("'") + tag + "' outside of a loop");
      auto s = new_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
      expect(Tok::kBlockEnd);
      return s;
    }
    static const char* kKnown[] = {"include", "extends", "block", "import", "from", "with",
                                   "autoescape", "trans", "pluralize", "do", "print"};
    for (const char* k : kKnown) {
      if (tag == k) fail("chat template line ", line, ": unsupported construct: {% ", tag, " %}");
    }
    fail("chat template line ", line, ": unknown tag '", tag, "'");
  }

  StmtPtr parse_if(int line) {
    auto s = new_stmt(StmtKind::kIf, line);
    s->exprs.push_back(parse_tuple(false, {}));
    expect(Tok::kBlockEnd);
    while (true) {
      std::string end;
      s->bodies.push_back(parse_block_body({"elif", "else", "endif"}, &end));
      if (end == "elif") {
        s->exprs.push_back(parse_tuple(false, {}));
        expect(Tok::kBlockEnd);
      } else if (end == "else") {
        expect(Tok::kBlockEnd);
        s->bodies.push_back(parse_block_body({"endif"}, &end));
        expect(Tok::kBlockEnd);
        return s;
      } else {
        expect(Tok::kBlockEnd);
        return s;
      }
    }
  }

  std::vector<std::string> parse_target_names(const char* end_name) {
    std::vector<std::string> names;
    bool paren = is_op("(");
    if (paren) next();
    while (true) {
      names.push_back(expect_name());
      if (!is_op(",")) break;
      next();
      if ((end_name && is_name(end_name)) || is_op(")") || is_op("=")) break;
    }
    if (paren) expect_op(")");
    return names;
  }

  StmtPtr parse_for(int line) {
    auto s = new_stmt(StmtKind::kFor, line);
    s->names = parse_target_names("in");
    if (!is_name("in")) error("expected 'in' in for loop, got " + describe(cur()));
    next();
    s->exprs.push_back(parse_tuple(false, {"recursive", "if"}));
    if (is_name("if")) {
      next();
      s->exprs.push_back(parse_expression(true));
    } else {
      s->exprs.push_back(nullptr);
    }
    if (is_name("recursive")) error("unsupported construct: recursive for loop");
    expect(Tok::kBlockEnd);
    std::string end;
    ++loop_depth_;
    s->bodies.push_back(parse_block_body({"endfor", "else"}, &end));
    --loop_depth_;
    if (end == "else") {
      expect(Tok::kBlockEnd);
      // Jinja's for-else body is outside the loop: break/continue there are errors.
      int saved = loop_depth_;
      loop_depth_ = 0;
      s->bodies.push_back(parse_block_body({"endfor"}, &end));
      loop_depth_ = saved;
    } else {
      s->bodies.emplace_back();
    }
    expect(Tok::kBlockEnd);
    return s;
  }

  StmtPtr parse_set(int line) {
    auto s = new_stmt(StmtKind::kSet, line);
    if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == ".") {
      s->attr_target = true;
      s->names.push_back(expect_name());
      next();
      s->names.push_back(expect_name());
    } else {
      s->names = parse_target_names(nullptr);
    }
    if (is_op("=")) {
      next();
      s->exprs.push_back(parse_tuple(true, {}));
      expect(Tok::kBlockEnd);
      return s;
    }
    if (s->attr_target || s->names.size() != 1) error("expected '=' in set");
    s->kind = StmtKind::kSetBlock;
    if (is_op("|")) s->exprs.push_back(parse_filter_chain());
    expect(Tok::kBlockEnd);
    std::string end;
    s->bodies.push_back(parse_block_body({"endset"}, &end));
    expect(Tok::kBlockEnd);
    return s;
  }

  // "| f(a) | g" with no subject: the subject slot (args[0]) of the innermost filter stays null.
  ExprPtr parse_filter_chain() {
    ExprPtr e;
    while (is_op("|")) e = parse_filter(std::move(e));
    return e;
  }

  void parse_params(Stmt* s) {
    expect_op("(");
    while (!is_op(")")) {
      if (s->names.size() > 1) expect_op(",");
      if (is_op(")")) break;
      s->names.push_back(expect_name());
      if (is_op("=")) {
        next();
        s->exprs.push_back(parse_expression(true));
      } else {
        s->exprs.push_back(nullptr);
      }
    }
    next();
  }

  StmtPtr parse_macro(int line) {
    auto s = new_stmt(StmtKind::kMacro, line);
    s->names.push_back(expect_name());
    parse_params(s.get());
    expect(Tok::kBlockEnd);
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->bodies.push_back(parse_block_body({"endmacro"}, &end));
    loop_depth_ = saved;
    expect(Tok::kBlockEnd);
    return s;
  }

  StmtPtr parse_call_block(int line) {
    auto s = new_stmt(StmtKind::kCallBlock, line);
    s->names.push_back("caller");
    if (is_op("(")) parse_params(s.get());
    std::vector<ExprPtr> defaults = std::move(s->exprs);
    s->exprs.clear();
    ExprPtr call = parse_expression(true);
    if (call->kind != ExprKind::kCall) error("expected a call after {% call %}");
    s->exprs.push_back(std::move(call));
    for (auto& d : defaults) s->exprs.push_back(std::move(d));
    expect(Tok::kBlockEnd);
    std::string end;
    s->bodies.push_back(parse_block_body({"endcall"}, &end));
    expect(Tok::kBlockEnd);
    return s;
  }

  StmtPtr parse_filter_block(int line) {
    auto s = new_stmt(StmtKind::kFilterBlock, line);
    ExprPtr e = parse_filter(nullptr);
    while (is_op("|")) e = parse_filter(std::move(e));
    s->exprs.push_back(std::move(e));
    expect(Tok::kBlockEnd);
    std::string end;
    s->bodies.push_back(parse_block_body({"endfilter"}, &end));
    expect(Tok::kBlockEnd);
    return s;
  }

  // ---- expressions ----
  bool at_tuple_end(const std::vector<std::string>& extra) const {
    if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || cur().type == Tok::kEof)
      return true;
    if (is_op(")")) return true;
    return cur().type == Tok::kName &&
           std::find(extra.begin(), extra.end(), cur().text) != extra.end();
  }

  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra,
                      bool explicit_parens = false) {
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
      if (!explicit_parens) error("expected an expression, got " + describe(cur()));
    }
    auto e = node(ExprKind::kTuple, line);
    e->args = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
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

  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
    auto e = node(ExprKind::kBinary, line);
    e->name = op;
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      int line = cur().line;
      next();
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      int line = cur().line;
      next();
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
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

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr first = parse_math1();
    auto e = node(ExprKind::kCompare, line);
    e->args.push_back(std::move(first));
    while (true) {
      std::string op;
      if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" ||
                                     cur().text == "<" || cur().text == ">" ||
                                     cur().text == "<=" || cur().text == ">=")) {
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

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      int line = cur().line;
      next();
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      int line = cur().line;
      next();
      e = binary("**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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
    error("unexpected " + describe(tk) + " in expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
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
          error("expected a name after '.', got " + describe(cur()));
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

  ExprPtr parse_subscript(ExprPtr target, int line) {
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

  void parse_call_args(Expr* e) {
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

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(ExprKind::kCall, cur().line);
    e->args.push_back(std::move(callee));
    parse_call_args(e.get());
    return e;
  }

  std::string parse_dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      next();
      n += "." + expect_name();
    }
    return n;
  }

  ExprPtr parse_filter(ExprPtr subject) {
    DepthGuard g(this);
    auto e = node(ExprKind::kFilter, cur().line);
    if (is_op("|")) next();
    e->name = parse_dotted_name();
    e->args.push_back(std::move(subject));
    if (is_op("(")) parse_call_args(e.get());
    return e;
  }

  ExprPtr parse_test(ExprPtr subject) {
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

  ExprPtr parse_filter_expr(ExprPtr e) {
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

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_all(); }

}  // namespace duet::jinja
