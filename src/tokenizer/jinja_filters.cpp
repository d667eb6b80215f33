// Jinja's built-in filters (as of Jinja2 3.1) that chat templates use, plus transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_methods.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {
namespace {

const char* kFilters[] = {"abs",    "attr",       "batch",    "capitalize", "center",   "count",
                          "d",      "default",    "dictsort", "e",          "escape",   "first",
                          "float",  "indent",     "int",      "items",      "join",     "last",
                          "length", "list",       "lower",    "map",        "max",      "min",
                          "reject", "rejectattr", "replace",  "reverse",    "round",    "safe",
                          "select", "selectattr", "sort",     "string",     "sum",      "title",
                          "tojson", "trim",       "unique",   "upper",      "wordcount"};

// Jinja's make_attrgetter: "a.b.0" looks up each part with getitem, digits as integers.
Value get_path(const Value& v, const Value& attr, int line) {
  if (!attr.is_string()) return get_item(v, attr, line);
  Value cur = v;
  const std::string& path = attr.str();
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits =
        !part.empty() && part.size() < 18 &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = get_item(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part), line);
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

// Sort key with Jinja's case_sensitive=False default: strings compare lowercased.
Value sort_key(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value(py_lower(v.str())) : v;
}

std::vector<Value> sorted(std::vector<Value> items, bool reverse, bool cs, const Value& attr,
                          int line) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items)
    keyed.emplace_back(sort_key(attr.is_none() ? v : get_path(v, attr, line), cs), v);
  try {
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      return reverse ? less(b.first, a.first) : less(a.first, b.first);
    });
  } catch (const Error& e) {
    eval_fail(line, e.what());
  }
  std::vector<Value> out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return out;
}

Value tojson(const Value& v, Args& a) {
  JsonDumpOptions opt;
  opt.ensure_ascii = truthy(a.get(0, "ensure_ascii", Value(false)));
  Value indent = a.get(1, "indent", Value(None{}));
  Value seps = a.get(2, "separators", Value(None{}));
  opt.sort_keys = truthy(a.get(3, "sort_keys", Value(false)));
  a.done();
  if (!indent.is_none()) {
    opt.has_indent = true;
    if (indent.is_string()) {
      opt.indent = indent.str();
    } else if (indent.is_int() || indent.is_bool()) {
      opt.indent = std::string(std::clamp<int64_t>(indent.as_int(), 0, 256), ' ');
    } else {
      eval_fail(a.line(), "tojson: indent must be an int or a string");
    }
    opt.item_sep = ",";
  }
  if (!seps.is_none()) {
    if (!seps.is_list() || seps.list().items.size() != 2 || !seps.list().items[0].is_string() ||
        !seps.list().items[1].is_string())
      eval_fail(a.line(), "tojson: separators must be a pair of strings");
    opt.item_sep = seps.list().items[0].str();
    opt.key_sep = seps.list().items[1].str();
  }
  try {
    return Value(dump_json(v, opt));
  } catch (const Error& e) {
    eval_fail(a.line(), std::string("tojson: ") + e.what());
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string indent_filter(const std::string& s0, const Value& width, bool first, bool blank) {
  std::string ind = width.is_string()
                        ? width.str()
                        : std::string(std::clamp<int64_t>(width.as_int(), 0, 256), ' ');
  std::vector<std::string> lines = py_splitlines(s0 + "\n");
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind) + lines[i];
  }
  return first ? ind + rv : rv;
}

Value round_filter(const Value& v, int64_t precision, const std::string& method, int line) {
  if (!v.is_number()) eval_fail(line, "round: value must be a number");
  if (method != "common" && method != "ceil" && method != "floor")
    eval_fail(line, "method must be common, ceil or floor");
  if (method == "common" && !v.is_float()) return Value(v.as_int());
  double x = v.as_double();
  if (method == "common") {
    if (precision < 0 || precision > 20 || !std::isfinite(x))
      return Value(precision == 0 ? std::nearbyint(x) : x);
    // Python's round() rounds the exact binary value half-to-even, as printf does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), x);
    return Value(std::strtod(buf, nullptr));
  }
  double m = std::pow(10.0, static_cast<double>(precision));
  return Value((method == "ceil" ? std::ceil(x * m) : std::floor(x * m)) / m);
}

}  // namespace

bool is_known_filter(const std::string& name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

Value apply_filter(Evaluator& ev, const std::string& name, const Value& v, CallArgs& ca, int line) {
  Args a(ca, name, line);
  Value r;
  auto need_str = [&]() { return to_str(v); };
  if (name == "tojson") return tojson(v, a);
  if (name == "safe" || name == "string") {
    r = Value(need_str());
  } else if (name == "e" || name == "escape") {
    r = Value(html_escape(need_str()));
  } else if (name == "length" || name == "count") {
    r = py_len(v, line);
  } else if (name == "trim") {
    Value chars = a.get(0, "chars", Value(None{}));
    std::u32string set = chars.is_string() ? utf8_decode(chars.str()) : std::u32string();
    r = Value(py_strip(need_str(), chars.is_string() ? &set : nullptr, true, true));
  } else if (name == "upper") {
    r = Value(py_upper(need_str()));
  } else if (name == "lower") {
    r = Value(py_lower(need_str()));
  } else if (name == "title") {
    r = Value(jinja_title(need_str()));
  } else if (name == "capitalize") {
    r = Value(py_capitalize(need_str()));
  } else if (name == "replace") {
    Value o = a.get(0, "old"), n = a.get(1, "new"), c = a.get(2, "count", Value(None{}));
    r = Value(py_replace(need_str(), to_str(o), to_str(n), c.is_none() ? -1 : c.as_int()));
  } else if (name == "default" || name == "d") {
    Value def = a.get(0, "default_value", Value(std::string()));
    bool boolean = truthy(a.get(1, "boolean", Value(false)));
    r = (v.is_undefined() || (boolean && !truthy(v))) ? def : v;
  } else if (name == "first" || name == "last") {
    std::vector<Value> items = iterate(v, line);
    if (items.empty()) {
      r = Value(Undefined{"No " + name + " item, sequence was empty."});
    } else {
      r = name == "first" ? items.front() : items.back();
    }
  } else if (name == "join") {
    Value d = a.get(0, "d", Value(std::string())), attr = a.get(1, "attribute", Value(None{}));
    std::string sep = to_str(d), out;
    bool first = true;
    for (const Value& x : iterate(v, line)) {
      if (!first) out += sep;
      first = false;
      out += to_str(attr.is_none() ? x : get_path(x, attr, line));
      ev.check_size(out.size(), line);
    }
    r = Value(std::move(out));
  } else if (name == "list") {
    r = make_list(iterate(v, line));
  } else if (name == "items") {
    std::vector<Value> out;
    if (v.is_dict()) {
      for (const auto& [k, x] : v.dict().items) out.push_back(make_list({Value(k), x}, true));
    } else if (!v.is_undefined()) {
      eval_fail(line, "Can only get item pairs from a mapping.");
    }
    r = make_list(std::move(out));
  } else if (name == "dictsort") {
    bool cs = truthy(a.get(0, "case_sensitive", Value(false)));
    Value by = a.get(1, "by", Value("key"));
    bool rev = truthy(a.get(2, "reverse", Value(false)));
    if (!v.is_dict()) eval_fail(line, "dictsort: value must be a dict");
    std::vector<std::pair<Value, Value>> keyed;
    int pos = to_str(by) == "value" ? 1 : 0;
    for (const auto& [k, x] : v.dict().items)
      keyed.emplace_back(sort_key(pos ? x : Value(k), cs), make_list({Value(k), x}, true));
    try {
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& p, const auto& q) {
        return rev ? less(q.first, p.first) : less(p.first, q.first);
      });
    } catch (const Error& e) {
      eval_fail(line, e.what());
    }
    std::vector<Value> out;
    for (auto& kv : keyed) out.push_back(kv.second);
    r = make_list(std::move(out));
  } else if (name == "int") {
    Value def = a.get(0, "default", Value(0));
    Value base = a.get(1, "base", Value(10));
    if (v.is_int() || v.is_bool()) {
      r = Value(v.as_int());
    } else if (v.is_float()) {
      double d = v.as_double();
      r = (std::isfinite(d) && std::fabs(d) < 9.2e18) ? Value(static_cast<int64_t>(d)) : def;
    } else if (v.is_string()) {
      std::string s = py_strip(v.str(), nullptr, true, true);
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(s.c_str(), &end, static_cast<int>(base.as_int()));
      if (!s.empty() && end && *end == 0 && errno == 0) {
        r = Value(static_cast<int64_t>(x));
      } else {
        double d = std::strtod(s.c_str(), &end);
        bool ok = !s.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18;
        r = ok ? Value(static_cast<int64_t>(d)) : def;
      }
    } else {
      r = def;
    }
  } else if (name == "float") {
    Value def = a.get(0, "default", Value(0.0));
    if (v.is_number()) {
      r = Value(v.as_double());
    } else if (v.is_string()) {
      std::string s = py_strip(v.str(), nullptr, true, true);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      r = (!s.empty() && end && *end == 0) ? Value(d) : def;
    } else {
      r = def;
    }
  } else if (name == "abs") {
    r = (v.is_int() || v.is_bool()) ? unary_op(v.as_int() < 0 ? "-" : "+", v, line)
        : v.is_float()              ? Value(std::fabs(v.as_double()))
                                    : (eval_fail(line, "bad operand type for abs()"), Value());
  } else if (name == "round") {
    int64_t precision = a.get(0, "precision", Value(0)).as_int();
    r = round_filter(v, precision, to_str(a.get(1, "method", Value("common"))), line);
  } else if (name == "map") {
    Value attr = a.get(99, "attribute", Value(None{}));
    std::vector<Value> out;
    if (!attr.is_none()) {
      Value def = a.get(100, "default", Value(Undefined{}));
      for (const Value& x : iterate(v, line)) {
        Value y = get_path(x, attr, line);
        out.push_back(y.is_undefined() && !def.is_undefined() ? def : y);
      }
    } else {
      if (ca.pos.empty()) eval_fail(line, "map requires a filter argument");
      std::string f = to_str(ca.pos[0]);
      if (!is_known_filter(f)) eval_fail(line, "unsupported filter '" + f + "' in map()");
      CallArgs rest{std::vector<Value>(ca.pos.begin() + 1, ca.pos.end()), ca.kw};
      for (const Value& x : iterate(v, line)) {
        CallArgs copy = rest;
        out.push_back(apply_filter(ev, f, x, copy, line));
      }
      return make_list(std::move(out));
    }
    r = make_list(std::move(out));
  } else if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    bool attr_mode = name.size() > 6;
    bool want = name[0] == 's';
    size_t first = attr_mode ? 1 : 0;
    if (attr_mode && ca.pos.empty()) eval_fail(line, name + " requires an attribute name");
    std::vector<Value> out;
    for (const Value& x : iterate(v, line)) {
      Value subject = attr_mode ? get_path(x, ca.pos[0], line) : x;
      bool ok;
      if (ca.pos.size() <= first) {
        ok = truthy(subject);
      } else {
        std::string t = to_str(ca.pos[first]);
        if (!is_known_test(t)) eval_fail(line, "unsupported test '" + t + "' in " + name + "()");
        CallArgs rest{std::vector<Value>(ca.pos.begin() + first + 1, ca.pos.end()), ca.kw};
        ok = apply_test(ev, t, subject, rest, line);
      }
      if (ok == want) out.push_back(x);
    }
    return make_list(std::move(out));
  } else if (name == "unique" || name == "sort" || name == "max" || name == "min") {
    bool sort = name == "sort";
    bool rev = sort && truthy(a.get(0, "reverse", Value(false)));
    bool cs = truthy(a.get(sort ? 1 : 0, "case_sensitive", Value(false)));
    Value attr = a.get(sort ? 2 : 1, "attribute", Value(None{}));
    std::vector<Value> items = iterate(v, line);
    if (name == "unique") {
      std::vector<Value> out, seen;
      for (auto& x : items) {
        Value k = sort_key(attr.is_none() ? x : get_path(x, attr, line), cs);
        if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) {
          seen.push_back(k);
          out.push_back(x);
        }
      }
      r = make_list(std::move(out));
    } else {
      std::vector<Value> s = sorted(items, rev, cs, attr, line);
      if (sort)
        r = make_list(std::move(s));
      else if (s.empty())
        r = Value(Undefined{"No aggregated item, sequence was empty."});
      else
        r = name == "min" ? s.front() : s.back();
      // max() keeps the first of equal maxima, as Python's max() does.
      if (name == "max" && !s.empty()) {
        Value best = s.back();
        Value bk = sort_key(attr.is_none() ? best : get_path(best, attr, line), cs);
        for (auto& x : items) {
          if (equal(sort_key(attr.is_none() ? x : get_path(x, attr, line), cs), bk)) {
            r = x;
            break;
          }
        }
      }
    }
  } else if (name == "reverse") {
    if (v.is_string()) {
      std::u32string u = utf8_decode(v.str());
      std::reverse(u.begin(), u.end());
      r = Value(utf8_encode(u));
    } else {
      std::vector<Value> items = iterate(v, line);
      std::reverse(items.begin(), items.end());
      r = make_list(std::move(items));
    }
  } else if (name == "sum") {
    Value attr = a.get(0, "attribute", Value(None{}));
    Value acc = a.get(1, "start", Value(0));
    for (const Value& x : iterate(v, line))
      acc = binary_op("+", acc, attr.is_none() ? x : get_path(x, attr, line), line,
                      ev.limits().max_output_bytes);
    r = acc;
  } else if (name == "wordcount") {
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(need_str())) {
      bool w = c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') ||
               (c >= 0x80 && !py_isspace(c));
      n += w && !in_word;
      in_word = w;
    }
    r = Value(n);
  } else if (name == "center") {
    Value width = a.get(0, "width", Value(80));
    CallArgs m{{width}, {}};
    r = std::get<CallablePtr>(bound_method(Value(need_str()), "center", line).v)->fn(m);
  } else if (name == "indent") {
    Value width = a.get(0, "width", Value(4));
    bool first = truthy(a.get(1, "first", Value(false)));
    bool blank = truthy(a.get(2, "blank", Value(false)));
    r = Value(indent_filter(need_str(), width, first, blank));
  } else if (name == "attr") {
    // Jinja's attr() is getattr only: dict keys are not attributes, methods are.
    std::string attr = to_str(a.get(0, "name"));
    r = v.is_dict() ? bound_method(v, attr, line) : get_attr(v, attr, line);
  } else if (name == "batch") {
    int64_t n = a.get(0, "linecount").as_int();
    Value fill = a.get(1, "fill_with", Value(None{}));
    if (n <= 0) eval_fail(line, "batch: linecount must be positive");
    std::vector<Value> out, cur;
    for (const Value& x : iterate(v, line)) {
      cur.push_back(x);
      if (static_cast<int64_t>(cur.size()) == n)
        out.push_back(make_list(std::move(cur))), cur.clear();
    }
    if (!cur.empty()) {
      while (!fill.is_none() && static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
      out.push_back(make_list(std::move(cur)));
    }
    r = make_list(std::move(out));
  } else {
    eval_fail(line, "unsupported filter '" + name + "'");
  }
  a.done();
  return r;
}

}  // namespace duet::jinja
