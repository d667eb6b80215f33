// Tree-walking evaluator for parsed templates. Every resource a template can consume is bounded
// (output size, nesting depth, loop iterations) so that untrusted templates cannot hang or crash
// the server; exceeding a bound is a duet::Error like any other template error.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace duet::jinja {

struct Limits {
  size_t max_output_bytes = size_t{256} << 20;
  int max_call_depth = 64;         // macro recursion
  int64_t max_steps = 50'000'000;  // loop iterations plus statements executed
  int64_t max_range = 1'000'000;   // elements range() may produce
};

// Helpers shared by the evaluator, filters and methods.
[[noreturn]] void eval_fail(int line, const std::string& msg);
// obj.name (Jinja's environment.getattr) and obj[key] (environment.getitem).
Value get_attr(const Value& obj, const std::string& name, int line);
Value get_item(const Value& obj, const Value& key, int line);
// Python iteration: list items, dict keys, string characters; Undefined iterates as empty.
std::vector<Value> iterate(const Value& v, int line);
Value py_len(const Value& v, int line);
// Positional/keyword argument binding with Python's error messages.
class Args {
 public:
  Args(CallArgs& a, std::string fn, int line) : a_(a), fn_(std::move(fn)), line_(line) {}
  // The index-th positional or keyword `name`; `def` if neither was given.
  Value get(size_t index, const char* name, Value def = Value());
  // Errors on arguments that no get() consumed.
  void done();
  int line() const { return line_; }
  size_t npos() const { return a_.pos.size(); }

 private:
  CallArgs& a_;
  std::string fn_;
  int line_;
  size_t used_pos_ = 0;
  std::vector<std::string> used_kw_;
};

class Evaluator;
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);
Value apply_filter(Evaluator& ev, const std::string& name, const Value& subject, CallArgs& args,
                   int line);
bool apply_test(Evaluator& ev, const std::string& name, const Value& subject, CallArgs& args,
                int line);
// Globals transformers installs: range, dict, namespace, raise_exception, strftime_now.
void add_globals(Evaluator& ev, DictData& globals);

class Evaluator {
 public:
  Evaluator(const Limits& limits, const DictData& globals);
  std::string render(const Body& body);
  Value eval(const Expr& e);
  void step(int line);
  const Limits& limits() const { return limits_; }
  // Output-size guard for values a template builds (string repetition, joins).
  void check_size(size_t n, int line) const;

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Frame = std::unordered_map<std::string, Value>;
  Flow exec(const Body& body);
  Flow exec_stmt(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void exec_set(const Stmt& s);
  void assign(const std::vector<std::string>& names, const Value& v, int line);
  Value lookup(const std::string& name) const;
  Value call_macro(const Stmt& m, CallArgs& args, const Stmt* caller_block);
  std::string capture(const Body& body);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_call(const Expr& e);
  CallArgs eval_args(const Expr& e, size_t first);
  Value apply_filter_chain(const Expr& chain, Value subject);
  void write(const std::string& s, int line);

  Limits limits_;
  std::vector<Frame> frames_;  // frames_[0] holds the globals and context variables
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
};

}  // namespace duet::jinja
