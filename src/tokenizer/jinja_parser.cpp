#include "tokenizer/jinja_parser.h"

#include <algorithm>

#include "common/error.h"
#include "tokenizer/jinja_parse_expr.h"

namespace duet::jinja {
namespace {

// Statements ({% if %}, {% for %}, ...) on top of the expression grammar.
class Parser : public ExprParser {
 public:
  explicit Parser(const std::vector<Token>& toks) : ExprParser(toks) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, &end);
    return b;
  }

 private:
  Body parse_body(const std::vector<std::string>& end_tags, std::string* end_found) {
    DepthGuard g(this);
    Body body;
    while (true) {
      const Token& tk = cur();
      if (tk.type == Tok::kEof) {
        if (!end_tags.empty())
          error(std::string("unexpected end of template, expected '") + end_tags[0] + "'");
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
        if (cur().type != Tok::kName)
          error(std::string("expected a tag name after '{%', got ") + describe(cur()));
        if (std::find(end_tags.begin(), end_tags.end(), cur().text) != end_tags.end()) {
          *end_found = cur().text;
          next();
          return body;
        }
        body.push_back(parse_statement());
      } else {
        error(std::string("unexpected ") + describe(tk));
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
    static const char* kKnown[] = {"include",    "extends", "block",     "import", "from", "with",
                                   "autoescape", "trans",   "pluralize", "do",     "print"};
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
    if (!is_name("in")) error(std::string("expected 'in' in for loop, got ") + describe(cur()));
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

  int loop_depth_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) {
  return Parser(tokens).parse_all();
}

}  // namespace duet::jinja
