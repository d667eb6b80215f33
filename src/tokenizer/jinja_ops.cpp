#include "tokenizer/jinja_ops.h"

#include <cmath>

#include "common/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {
namespace {

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b, int line) {
  eval_fail(line, "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" +
                      type_name(b) + "'");
}

void check_defined(const Value& v, int line) {
  if (v.is_undefined()) eval_fail(line, std::get<Undefined>(v.v).name);
}

Value repeat(const Value& seq, int64_t n, int line, size_t max_bytes) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<uint64_t>(n) > max_bytes / s.size())
      eval_fail(line, "string repetition exceeds the size limit");
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.list().items;
  if (!items.empty() && static_cast<uint64_t>(n) > (max_bytes / 16) / items.size())
    eval_fail(line, "list repetition exceeds the size limit");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return make_list(std::move(out), seq.list().tuple);
}

double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

}  // namespace

bool contains(const Value& c, const Value& x, int line) {
  if (c.is_string()) {
    if (!x.is_string())
      eval_fail(line, "'in <string>' requires string as left operand, not " + type_name(x));
    return c.str().find(x.str()) != std::string::npos;
  }
  if (c.is_list()) {
    for (const auto& it : c.list().items)
      if (equal(it, x)) return true;
    return false;
  }
  if (c.is_dict()) return x.is_string() && c.dict().find(x.str()) != nullptr;
  if (c.is_undefined()) return false;  // Undefined iterates as empty
  eval_fail(line, "argument of type '" + type_name(c) + "' is not iterable");
}

bool compare_values(const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "==") return equal(a, b);
  if (op == "!=") return !equal(a, b);
  if (op == "in") return contains(b, a, line);
  if (op == "not in") return !contains(b, a, line);
  try {
    if (op == "<") return less(a, b);
    if (op == ">") return less(b, a);
    if (op == "<=") return less(a, b) || equal(a, b);
    if (op == ">=") return less(b, a) || equal(a, b);
  } catch (const Error& e) {
    eval_fail(line, e.what());
  }
  eval_fail(line, "unknown comparison " + op);
}

Value binary_op(const std::string& op, const Value& a, const Value& b, int line, size_t max_bytes) {
  if (op == "~") {
    std::string s = to_str(a) + to_str(b);
    if (s.size() > max_bytes) eval_fail(line, "string exceeds the size limit");
    return Value(std::move(s));
  }
  check_defined(a, line);
  check_defined(b, line);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) eval_fail(line, "integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      if (a.str().size() + b.str().size() > max_bytes)
        eval_fail(line, "string exceeds the size limit");
      return Value(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
      std::vector<Value> out = a.list().items;
      out.insert(out.end(), b.list().items.begin(), b.list().items.end());
      return make_list(std::move(out), a.list().tuple);
    }
    if (a.is_string() || b.is_string()) {
      eval_fail(line, "can only concatenate str (not \"" + type_name(a.is_string() ? b : a) +
                          "\") to str");
    }
    type_error("+", a, b, line);
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) eval_fail(line, "integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.as_double() - b.as_double());
    type_error("-", a, b, line);
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) eval_fail(line, "integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool()))
      return repeat(a, b.as_int(), line, max_bytes);
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool()))
      return repeat(b, a.as_int(), line, max_bytes);
    type_error("*", a, b, line);
  }
  if (!nums) {
    if (op == "%" && a.is_string())
      eval_fail(line, "unsupported construct: printf-style string formatting with %");
    type_error(op, a, b, line);
  }
  if (op == "/") {
    if (b.as_double() == 0) eval_fail(line, "division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0) eval_fail(line, "integer division or modulo by zero");
    if (ints) {
      int64_t x = a.as_int(), y = b.as_int();
      if (x == INT64_MIN && y == -1) eval_fail(line, "integer overflow");
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return op == "//" ? Value(q) : Value(r);
    }
    double x = a.as_double(), y = b.as_double();
    if (op == "%") return Value(py_fmod(x, y));
    return Value(std::floor(x / y));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), r = 1;
      for (int64_t i = 0; i < e; ++i) {
        if (__builtin_mul_overflow(r, base, &r)) eval_fail(line, "integer overflow");
        if (r == 0 || r == 1) break;  // 0 and 1 are fixed points (-1 is settled below)
      }
      if (base == -1) r = (e % 2) ? -1 : 1;
      return Value(r);
    }
    if (a.as_double() == 0 && b.as_double() < 0)
      eval_fail(line, "0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  eval_fail(line, "unknown operator " + op);
}

Value unary_op(const std::string& op, const Value& v, int line) {
  check_defined(v, line);
  if (!v.is_number())
    eval_fail(line, "bad operand type for unary " + op + ": '" + type_name(v) + "'");
  if (op == "+") return v.is_float() ? v : Value(v.as_int());
  if (v.is_float()) return Value(-v.as_double());
  if (v.as_int() == INT64_MIN) eval_fail(line, "integer overflow");
  return Value(-v.as_int());
}

Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step,
                  int line) {
  auto idx = [&](const Value& v, int64_t def) -> int64_t {
    if (v.is_none()) return def;
    if (!v.is_int() && !v.is_bool()) eval_fail(line, "slice indices must be integers or None");
    return v.as_int();
  };
  int64_t st = idx(step, 1);
  if (st == 0) eval_fail(line, "slice step cannot be zero");
  std::u32string chars;
  int64_t len;
  if (obj.is_string()) {
    chars = utf8_decode(obj.str());
    len = static_cast<int64_t>(chars.size());
  } else if (obj.is_list()) {
    len = static_cast<int64_t>(obj.list().items.size());
  } else if (obj.is_undefined()) {
    eval_fail(line, std::get<Undefined>(obj.v).name);
  } else {
    eval_fail(line, std::string("'") + type_name(obj) + "' object is not subscriptable");
  }
  // PySlice_AdjustIndices.
  auto adjust = [&](int64_t i, bool is_start) {
    (void)is_start;
    if (i < 0) {
      i += len;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= len) {
      i = st < 0 ? len - 1 : len;
    }
    return i;
  };
  int64_t b = start.is_none() ? (st < 0 ? len - 1 : 0) : adjust(idx(start, 0), true);
  int64_t e = stop.is_none() ? (st < 0 ? -1 : len) : adjust(idx(stop, 0), false);
  std::vector<int64_t> picks;
  if (st > 0) {
    for (int64_t i = b; i < e; i += st) picks.push_back(i);
  } else {
    for (int64_t i = b; i > e; i += st) picks.push_back(i);
  }
  if (obj.is_string()) {
    std::u32string out;
    for (int64_t i : picks) out.push_back(chars[i]);
    return Value(utf8_encode(out));
  }
  std::vector<Value> out;
  for (int64_t i : picks) out.push_back(obj.list().items[i]);
  return make_list(std::move(out), obj.list().tuple);
}

}  // namespace duet::jinja
