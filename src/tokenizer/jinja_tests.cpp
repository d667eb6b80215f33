// Jinja's tests ({% if x is defined %}) and the globals transformers' environment provides.
#include <algorithm>
#include <ctime>

#include "common/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {
namespace {

const char* kTests[] = {"defined",  "undefined", "none",   "boolean", "false",       "true",
                        "integer",  "float",     "number", "string",  "mapping",     "iterable",
                        "sequence", "callable",  "odd",    "even",    "divisibleby", "eq",
                        "equalto",  "==",        "ne",     "!=",      "lt",          "lessthan",
                        "<",        "le",        "<=",     "gt",      "greaterthan", ">",
                        "ge",       ">=",        "in",     "sameas",  "lower",       "upper",
                        "escaped"};

int64_t int_subject(const Value& v, const std::string& test, int line) {
  if (!v.is_int() && !v.is_bool()) {
    eval_fail(line, "test '" + test + "' needs an integer, got " + type_name(v));
  }
  return v.as_int();
}

}  // namespace

bool is_known_test(const std::string& name) {
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

bool apply_test(Evaluator& ev, const std::string& name, const Value& v, CallArgs& ca, int line) {
  (void)ev;
  Args a(ca, name, line);
  bool r;
  if (name == "defined")
    r = !v.is_undefined();
  else if (name == "undefined")
    r = v.is_undefined();
  else if (name == "none")
    r = v.is_none();
  else if (name == "boolean")
    r = v.is_bool();
  else if (name == "false")
    r = v.is_bool() && !std::get<bool>(v.v);
  else if (name == "true")
    r = v.is_bool() && std::get<bool>(v.v);
  else if (name == "integer")
    r = v.is_int();
  else if (name == "float")
    r = v.is_float();
  else if (name == "number")
    r = v.is_number();
  else if (name == "string")
    r = v.is_string();
  else if (name == "mapping")
    r = v.is_dict();
  else if (name == "iterable")
    r = v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  else if (name == "sequence")
    r = v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  else if (name == "callable")
    r = v.is_callable();
  else if (name == "odd")
    r = (int_subject(v, name, line) % 2) != 0;
  else if (name == "even")
    r = (int_subject(v, name, line) % 2) == 0;
  else if (name == "divisibleby") {
    Value n = a.get(0, "num");
    int64_t d = int_subject(n, name, line);
    if (d == 0) eval_fail(line, "integer division or modulo by zero");
    int64_t x = int_subject(v, name, line);
    r = (d == -1) || x % d == 0;
  } else if (name == "lower" || name == "upper") {
    std::string s = to_str(v);
    r = name == "lower" ? py_lower(s) == s : py_upper(s) == s;
    // Python's islower()/isupper() also need at least one cased character.
    r = r && py_lower(s) != py_upper(s);
  } else if (name == "escaped") {
    r = false;
  } else {
    static const std::pair<const char*, const char*> kCmp[] = {
        {"eq", "=="}, {"equalto", "=="}, {"==", "=="},      {"ne", "!="},
        {"!=", "!="}, {"lt", "<"},       {"lessthan", "<"}, {"<", "<"},
        {"le", "<="}, {"<=", "<="},      {"gt", ">"},       {"greaterthan", ">"},
        {">", ">"},   {"ge", ">="},      {">=", ">="},      {"in", "in"}};
    Value other = a.get(0, name == "in" ? "seq" : "other");
    if (name == "sameas") {
      // Python identity: small ints, interned strings, None and bools compare by value here.
      r = ((v.is_none() || v.is_bool() || v.is_int() || v.is_string()) &&
           v.v.index() == other.v.index() && equal(v, other)) ||
          (v.is_list() && other.is_list() && &v.list() == &other.list()) ||
          (v.is_dict() && other.is_dict() && &v.dict() == &other.dict()) ||
          (v.is_namespace() && other.is_namespace() &&
           std::get<NamespacePtr>(v.v) == std::get<NamespacePtr>(other.v));
    } else {
      const char* op = nullptr;
      for (const auto& [n, o] : kCmp)
        if (name == n) op = o;
      if (!op) eval_fail(line, "unsupported test '" + name + "'");
      r = compare_values(op, v, other, line);
    }
  }
  a.done();
  return r;
}

void add_globals(Evaluator& ev, DictData& g) {
  g.set("raise_exception", make_callable("raise_exception", [](CallArgs& a) -> Value {
          // transformers raises jinja2.TemplateError(message): the message is all the user sees.
          throw Error(a.pos.empty() ? std::string() : to_str(a.pos[0]));
        }));
  g.set("strftime_now", make_callable("strftime_now", [](CallArgs& a) -> Value {
          std::string fmt = a.pos.empty() ? std::string() : to_str(a.pos[0]);
          std::time_t t = std::time(nullptr);
          std::tm tm{};
          localtime_r(&t, &tm);
          char buf[512];
          size_t n = fmt.size() > 200 ? 0 : std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
          return Value(std::string(buf, n));
        }));
  const int64_t max_range = ev.limits().max_range;
  g.set("range", make_callable("range", [max_range](CallArgs& ca) -> Value {
          Args a(ca, "range", 0);
          if (ca.pos.empty() || ca.pos.size() > 3) eval_fail(0, "range expected 1 to 3 arguments");
          for (const auto& p : ca.pos)
            if (!p.is_int() && !p.is_bool()) eval_fail(0, "range() arguments must be integers");
          int64_t start = 0, stop, step = 1;
          if (ca.pos.size() == 1) {
            stop = ca.pos[0].as_int();
          } else {
            start = ca.pos[0].as_int();
            stop = ca.pos[1].as_int();
            if (ca.pos.size() == 3) step = ca.pos[2].as_int();
          }
          if (step == 0) eval_fail(0, "range() arg 3 must not be zero");
          std::vector<Value> out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
            if (static_cast<int64_t>(out.size()) >= max_range)
              eval_fail(0, "range() exceeds the template's size limit");
            out.emplace_back(i);
            if (__builtin_add_overflow(i, step, &i)) break;
          }
          return make_list(std::move(out));
        }));
  g.set("dict", make_callable("dict", [](CallArgs& a) -> Value {
          DictData d;
          if (!a.pos.empty()) {
            if (a.pos.size() > 1 || !a.pos[0].is_dict())
              eval_fail(
                  0, "unsupported construct: dict() with positional arguments other than one dict");
            d = a.pos[0].dict();
          }
          for (auto& [k, v] : a.kw) d.set(k, v);
          return make_dict(std::move(d));
        }));
  g.set("namespace", make_callable("namespace", [](CallArgs& a) -> Value {
          auto ns = std::make_shared<NamespaceData>();
          for (const auto& p : a.pos) {
            if (!p.is_dict()) eval_fail(0, "namespace() positional argument must be a dict");
            for (const auto& [k, v] : p.dict().items) ns->attrs.set(k, v);
          }
          for (auto& [k, v] : a.kw) ns->attrs.set(k, v);
          return Value(NamespacePtr(std::move(ns)));
        }));
}

}  // namespace duet::jinja
