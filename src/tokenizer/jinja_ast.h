// Syntax tree of a parsed template. One generic node type per layer keeps the parser and the
// evaluator small; each kind documents which fields it uses.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace duet::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,   // value
  kName,      // name
  kList,      // args = items
  kTuple,     // args = items
  kDict,      // args = key0, value0, key1, value1, ...
  kGetAttr,   // args[0].name
  kGetItem,   // args[0][args[1]]
  kSlice,     // args[0][args[1]:args[2]:args[3]] (null = omitted)
  kCall,      // args[0](args[1..], kwargs)
  kFilter,    // args[0] | name(args[1..], kwargs)
  kTest,      // args[0] is [not: negate] name(args[1..], kwargs)
  kUnary,     // name = "-", "+", "not"; args[0]
  kBinary,    // name = operator ("+", "-", "*", "/", "//", "%", "**", "~", "and", "or"); args[0],
              // args[1]
  kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained like Python)
  kCondExpr,  // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;
  std::string name;
  bool negate = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  kText,    // text
  kOutput,  // {{ exprs[0] }}
  kIf,      // exprs = conditions, bodies = branch bodies (one more than exprs if there is an else)
  kFor,     // names = targets; exprs[0] = iterable, exprs[1] = filter (may be null);
            // bodies[0] = body, bodies[1] = else body
  kSet,     // names = targets (or {ns, attr} when attr_target); exprs[0] = value
  kSetBlock,     // names[0] = target; bodies[0] = captured body; exprs = filters applied (kFilter
                 // chains over a null subject)
  kMacro,        // names[0] = macro name, names[1..] = params; exprs = defaults aligned with params
                 // (null = none); bodies[0]
  kCallBlock,    // exprs[0] = call expression; names = caller params; bodies[0] = caller body
  kFilterBlock,  // exprs[0] = filter chain over a null subject; bodies[0]
  kBreak,
  kContinue,
  kGeneration,  // bodies[0], rendered as is (transformers' {% generation %} extension)
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;
  bool attr_target = false;
  std::vector<std::string> names;
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
};

}  // namespace duet::jinja
