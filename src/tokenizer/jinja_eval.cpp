#include "tokenizer/jinja_eval.h"

#include "common/error.h"
#include "tokenizer/jinja_ops.h"

namespace duet::jinja {

void eval_fail(int line, const std::string& msg) {
  fail("chat template line ", line, ": ", msg);
}

Evaluator::Evaluator(const Limits& limits, const DictData& globals) : limits_(limits) {
  frames_.emplace_back();
  for (const auto& [k, v] : globals.items) frames_[0][k] = v;
}

void Evaluator::step(int line) {
  if (++steps_ > limits_.max_steps) eval_fail(line, "template exceeded the step limit");
}

void Evaluator::check_size(size_t n, int line) const {
  if (n > limits_.max_output_bytes) eval_fail(line, "template output exceeds the size limit");
}

void Evaluator::write(const std::string& s, int line) {
  check_size(out_->size() + s.size(), line);
  out_->append(s);
}

std::string Evaluator::render(const Body& body) {
  std::string out;
  out_ = &out;
  exec(body);
  out_ = nullptr;
  return out;
}

std::string Evaluator::capture(const Body& body) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

Value Evaluator::lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto f = it->find(name);
    if (f != it->end()) return f->second;
  }
  return Value(Undefined{std::string("'") + name + "' is undefined"});
}

Evaluator::Flow Evaluator::exec(const Body& body) {
  for (const auto& s : body) {
    Flow f = exec_stmt(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

void Evaluator::assign(const std::vector<std::string>& names, const Value& v, int line) {
  if (names.size() == 1) {
    frames_.back()[names[0]] = v;
    return;
  }
  std::vector<Value> items = iterate(v, line);
  if (items.size() != names.size()) {
    eval_fail(line, "cannot unpack " + std::to_string(items.size()) + " values into " +
                        std::to_string(names.size()) + " names");
  }
  for (size_t i = 0; i < names.size(); ++i) frames_.back()[names[i]] = items[i];
}

void Evaluator::exec_set(const Stmt& s) {
  Value v = eval(*s.exprs[0]);
  if (!s.attr_target) {
    assign(s.names, v, s.line);
    return;
  }
  Value target = lookup(s.names[0]);
  if (!target.is_namespace()) {
    eval_fail(s.line, "cannot assign attribute on non-namespace object '" + s.names[0] + "'");
  }
  std::get<NamespacePtr>(target.v)->attrs.set(s.names[1], std::move(v));
}

Evaluator::Flow Evaluator::exec_stmt(const Stmt& s) {
  step(s.line);
  switch (s.kind) {
    case StmtKind::kText:
      write(s.text, s.line);
      return Flow::kNormal;
    case StmtKind::kOutput:
      write(to_str(eval(*s.exprs[0])), s.line);
      return Flow::kNormal;
    case StmtKind::kIf:
      for (size_t i = 0; i < s.bodies.size(); ++i) {
        if (i >= s.exprs.size() || truthy(eval(*s.exprs[i]))) return exec(s.bodies[i]);
      }
      return Flow::kNormal;
    case StmtKind::kFor:
      return exec_for(s);
    case StmtKind::kSet:
      exec_set(s);
      return Flow::kNormal;
    case StmtKind::kSetBlock: {
      Value v(capture(s.bodies[0]));
      if (!s.exprs.empty()) v = apply_filter_chain(*s.exprs[0], v);
      assign(s.names, v, s.line);
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock:
      write(to_str(apply_filter_chain(*s.exprs[0], Value(capture(s.bodies[0])))), s.line);
      return Flow::kNormal;
    case StmtKind::kMacro: {
      const Stmt* m = &s;
      frames_.back()[s.names[0]] =
          make_callable(s.names[0], [this, m](CallArgs& a) { return call_macro(*m, a, nullptr); });
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      const Expr& call = *s.exprs[0];
      Value callee = eval(*call.args[0]);
      CallArgs args = eval_args(call, 1);
      const Stmt* block = &s;
      args.kw.emplace_back("caller", make_callable("caller", [this, block](CallArgs& a) {
                             return call_macro(*block, a, block);
                           }));
      if (!callee.is_callable())
        eval_fail(s.line, std::string("'") + type_name(callee) + "' is not callable");
      write(to_str(std::get<CallablePtr>(callee.v)->fn(args)), s.line);
      return Flow::kNormal;
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kGeneration:
      return exec(s.bodies[0]);
  }
  return Flow::kNormal;
}

Evaluator::Flow Evaluator::exec_for(const Stmt& s) {
  Value seq = eval(*s.exprs[0]);
  std::vector<Value> items = iterate(seq, s.line);
  if (s.exprs[1]) {
    // The loop filter runs before the loop, so loop.index/length count only kept items.
    std::vector<Value> kept;
    for (auto& it : items) {
      frames_.emplace_back();
      assign(s.names, it, s.line);
      bool keep = truthy(eval(*s.exprs[1]));
      frames_.pop_back();
      if (keep) kept.push_back(std::move(it));
    }
    items = std::move(kept);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    step(s.line);
    DictData loop;
    loop.set("index", Value(i + 1));
    loop.set("index0", Value(i));
    loop.set("revindex", Value(n - i));
    loop.set("revindex0", Value(n - i - 1));
    loop.set("first", Value(i == 0));
    loop.set("last", Value(i == n - 1));
    loop.set("length", Value(n));
    loop.set("depth", Value(1));
    loop.set("depth0", Value(0));
    loop.set("previtem", i > 0 ? items[i - 1] : Value(Undefined{"there is no previous item"}));
    loop.set("nextitem", i + 1 < n ? items[i + 1] : Value(Undefined{"there is no next item"}));
    loop.set("cycle", make_callable("cycle", [i, line = s.line](CallArgs& a) {
               if (a.pos.empty()) eval_fail(line, "no items for cycling given");
               return a.pos[static_cast<size_t>(i) % a.pos.size()];
             }));
    frames_.emplace_back();
    frames_.back()["loop"] = make_dict(std::move(loop));
    Flow f;
    try {
      assign(s.names, items[i], s.line);
      f = exec(s.bodies[0]);
    } catch (...) {
      frames_.pop_back();
      throw;
    }
    frames_.pop_back();
    if (f == Flow::kBreak) break;
  }
  if (n == 0) return exec(s.bodies[1]);
  return Flow::kNormal;
}

Value Evaluator::call_macro(const Stmt& m, CallArgs& args, const Stmt* caller_block) {
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    eval_fail(m.line, "macro recursion too deep");
  }
  // Macros see the template's globals and their own arguments, not the caller's locals.
  std::vector<Frame> saved;
  saved.swap(frames_);
  frames_.push_back(saved[0]);
  frames_.emplace_back();
  std::string result;
  try {
    size_t first = caller_block ? 1 : 1;  // names[0] is the macro name or "caller"
    size_t nparams = m.names.size() - first;
    if (args.pos.size() > nparams)
      eval_fail(m.line,
                "macro '" + m.names[0] + "' takes " + std::to_string(nparams) + " arguments");
    size_t default_base = caller_block ? 1 : 0;  // call blocks keep the call expression first
    for (size_t i = 0; i < nparams; ++i) {
      const std::string& p = m.names[first + i];
      Value v;
      bool found = false;
      if (i < args.pos.size()) {
        v = args.pos[i];
        found = true;
      }
      for (auto& [k, kv] : args.kw) {
        if (k == p) {
          v = kv;
          found = true;
        }
      }
      if (!found) {
        const ExprPtr& d = m.exprs[default_base + i];
        v = d ? eval(*d) : Value(Undefined{"parameter '" + p + "' was not provided"});
      }
      frames_.back()[p] = v;
    }
    for (auto& [k, kv] : args.kw) {
      if (k == "caller" && !caller_block) {
        frames_.back()["caller"] = kv;
        continue;
      }
      bool known = false;
      for (size_t i = first; i < m.names.size(); ++i) known |= m.names[i] == k;
      if (!known)
        eval_fail(m.line, "macro '" + m.names[0] + "' got an unexpected argument '" + k + "'");
    }
    result = capture(m.bodies[0]);
  } catch (...) {
    frames_.swap(saved);
    --call_depth_;
    throw;
  }
  saved[0] = frames_[0];
  frames_.swap(saved);
  --call_depth_;
  return Value(std::move(result));
}

CallArgs Evaluator::eval_args(const Expr& e, size_t first) {
  CallArgs a;
  for (size_t i = first; i < e.args.size(); ++i) a.pos.push_back(eval(*e.args[i]));
  for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
  return a;
}

Value Evaluator::apply_filter_chain(const Expr& chain, Value subject) {
  // Filter chains of filter blocks have a null innermost subject that stands for the body.
  Value inner = chain.args[0] ? apply_filter_chain(*chain.args[0], subject) : subject;
  CallArgs a = eval_args(chain, 1);
  return apply_filter(*this, chain.name, inner, a, chain.line);
}

Value Evaluator::eval_call(const Expr& e) {
  Value callee = eval(*e.args[0]);
  CallArgs a = eval_args(e, 1);
  if (callee.is_undefined()) eval_fail(e.line, std::get<Undefined>(callee.v).name);
  if (!callee.is_callable())
    eval_fail(e.line, std::string("'") + type_name(callee) + "' object is not callable");
  try {
    return std::get<CallablePtr>(callee.v)->fn(a);
  } catch (const Error& err) {
    // Globals like range() do not know the call site; give their errors this call's line.
    static const std::string kNoLine = "chat template line 0: ";
    std::string msg = err.what();
    if (msg.rfind(kNoLine, 0) == 0) eval_fail(e.line, msg.substr(kNoLine.size()));
    throw;
  }
}

Value Evaluator::eval_compare(const Expr& e) {
  Value left = eval(*e.args[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.args[i + 1]);
    if (!compare_values(e.ops[i], left, right, e.line)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Evaluator::eval_binary(const Expr& e) {
  if (e.name == "and") {
    Value a = eval(*e.args[0]);
    return truthy(a) ? eval(*e.args[1]) : a;
  }
  if (e.name == "or") {
    Value a = eval(*e.args[0]);
    return truthy(a) ? a : eval(*e.args[1]);
  }
  Value a = eval(*e.args[0]);
  Value b = eval(*e.args[1]);
  return binary_op(e.name, a, b, e.line, limits_.max_output_bytes);
}

Value Evaluator::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.value;
    case ExprKind::kName:
      return lookup(e.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const auto& x : e.args) items.push_back(eval(*x));
      return make_list(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      DictData d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i]);
        if (!k.is_string()) eval_fail(e.line, "unsupported construct: non-string dict key");
        d.set(k.str(), eval(*e.args[i + 1]));
      }
      return make_dict(std::move(d));
    }
    case ExprKind::kGetAttr:
      return get_attr(eval(*e.args[0]), e.name, e.line);
    case ExprKind::kGetItem:
      return get_item(eval(*e.args[0]), eval(*e.args[1]), e.line);
    case ExprKind::kSlice: {
      Value parts[3];
      for (int i = 0; i < 3; ++i) parts[i] = e.args[i + 1] ? eval(*e.args[i + 1]) : Value(None{});
      return slice_value(eval(*e.args[0]), parts[0], parts[1], parts[2], e.line);
    }
    case ExprKind::kCall:
      return eval_call(e);
    case ExprKind::kFilter: {
      Value subject = eval(*e.args[0]);
      CallArgs a = eval_args(e, 1);
      return apply_filter(*this, e.name, subject, a, e.line);
    }
    case ExprKind::kTest: {
      Value subject = eval(*e.args[0]);
      CallArgs a = eval_args(e, 1);
      return Value(apply_test(*this, e.name, subject, a, e.line) != e.negate);
    }
    case ExprKind::kUnary: {
      Value v = eval(*e.args[0]);
      if (e.name == "not") return Value(!truthy(v));
      return unary_op(e.name, v, e.line);
    }
    case ExprKind::kBinary:
      return eval_binary(e);
    case ExprKind::kCompare:
      return eval_compare(e);
    case ExprKind::kCondExpr:
      if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
      return e.args[2] ? eval(*e.args[2]) : Value(Undefined{"conditional expression had no else"});
  }
  return Value();
}

}  // namespace duet::jinja
