#include "tokenizer/jinja_methods.h"

#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {

std::vector<Value> py_split(const std::string& s, const Value& sep, int64_t maxsplit, int line) {
  std::vector<Value> out;
  if (sep.is_none() || sep.is_undefined()) {
    std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        // Python keeps the remainder verbatim after skipping its leading whitespace.
        out.emplace_back(utf8_encode(std::u32string_view(u).substr(i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      out.emplace_back(utf8_encode(std::u32string_view(u).substr(i, j - i)));
      i = j;
    }
    return out;
  }
  if (!sep.is_string()) eval_fail(line, "must be str or None, not " + type_name(sep));
  const std::string& d = sep.str();
  if (d.empty()) eval_fail(line, "empty separator");
  size_t pos = 0;
  while (true) {
    size_t f = s.find(d, pos);
    if (f == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
      out.emplace_back(s.substr(pos));
      break;
    }
    out.emplace_back(s.substr(pos, f - pos));
    pos = f + d.size();
  }
  return out;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count) {
  std::string out;
  int64_t n = 0;
  if (old.empty()) {
    std::u32string u = utf8_decode(s);
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      if (i < u.size()) utf8_append(out, u[i]);
    }
    return out;
  }
  size_t pos = 0;
  while (true) {
    size_t f = s.find(old, pos);
    if (f == std::string::npos || (count >= 0 && n >= count)) break;
    out.append(s, pos, f - pos);
    out += repl;
    pos = f + old.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s) {
  std::vector<std::string> out;
  std::u32string u = utf8_decode(s);
  std::u32string cur;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
               c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      cur.push_back(c);
      continue;
    }
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
    out.push_back(utf8_encode(cur));
    cur.clear();
  }
  if (!cur.empty()) out.push_back(utf8_encode(cur));
  return out;
}

namespace {

int64_t int_arg(const Value& v, const char* what, int line) {
  if (!v.is_int() && !v.is_bool()) eval_fail(line, std::string(what) + " must be an integer");
  return v.as_int();
}

std::string str_arg(const Value& v, const char* what, int line) {
  if (!v.is_string()) eval_fail(line, std::string(what) + " must be str, not " + type_name(v));
  return v.str();
}

// str.format with "{}", "{0}", "{name}" and "{{"/"}}"; format specs are outside the subset.
std::string py_format(const std::string& fmt, CallArgs& a, int line) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}')
        ++i;
      else
        eval_fail(line, "Single '}' encountered in format string");
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) eval_fail(line, "Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos)
      eval_fail(line, "unsupported construct: str.format field '{" + field + "}'");
    Value v;
    if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
      size_t idx = field.empty() ? auto_idx++ : std::stoul(field.substr(0, 6));
      if (idx >= a.pos.size()) eval_fail(line, "Replacement index out of range for format()");
      v = a.pos[idx];
    } else {
      bool found = false;
      for (auto& [k, x] : a.kw)
        if (k == field) v = x, found = true;
      if (!found) eval_fail(line, "KeyError: '" + field + "' in format()");
    }
    out += to_str(v);
    i = close;
  }
  return out;
}

bool affix_match(const std::string& s, const Value& x, bool prefix, int line) {
  auto one = [&](const Value& p) {
    std::string t = str_arg(p, prefix ? "startswith arg" : "endswith arg", line);
    if (t.size() > s.size()) return false;
    return prefix ? s.compare(0, t.size(), t) == 0
                  : s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (x.is_list()) {
    for (const auto& p : x.list().items)
      if (one(p)) return true;
    return false;
  }
  return one(x);
}

int64_t cp_index(const std::string& s, size_t byte_pos) {
  return static_cast<int64_t>(utf8_decode(std::string_view(s).substr(0, byte_pos)).size());
}

template <typename Pred>
Value str_predicate(const std::string& s, Pred p) {
  std::u32string u = utf8_decode(s);
  if (u.empty()) return Value(false);
  for (char32_t c : u)
    if (!p(c)) return Value(false);
  return Value(true);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& ca, int line) {
  Args a(ca, "str." + name, line);
  Value r;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Value chars = a.get(0, "chars", Value(None{}));
    std::u32string set;
    if (!chars.is_none()) set = utf8_decode(str_arg(chars, "strip arg", line));
    r = Value(py_strip(s, chars.is_none() ? nullptr : &set, name != "rstrip", name != "lstrip"));
  } else if (name == "split" || name == "rsplit") {
    Value sep = a.get(0, "sep", Value(None{}));
    int64_t maxsplit = int_arg(a.get(1, "maxsplit", Value(-1)), "maxsplit", line);
    if (name == "rsplit" && maxsplit >= 0)
      eval_fail(line, "unsupported construct: str.rsplit with maxsplit");
    r = make_list(py_split(s, sep, maxsplit, line));
  } else if (name == "splitlines") {
    std::vector<Value> v;
    for (auto& l : py_splitlines(s)) v.emplace_back(l);
    r = make_list(std::move(v));
  } else if (name == "startswith" || name == "endswith") {
    r = Value(affix_match(s, a.get(0, "prefix"), name == "startswith", line));
  } else if (name == "replace") {
    std::string o = str_arg(a.get(0, "old"), "replace arg", line);
    std::string n = str_arg(a.get(1, "new"), "replace arg", line);
    r = Value(py_replace(s, o, n, int_arg(a.get(2, "count", Value(-1)), "count", line)));
  } else if (name == "upper") {
    r = Value(py_upper(s));
  } else if (name == "lower") {
    r = Value(py_lower(s));
  } else if (name == "title") {
    r = Value(py_title(s));
  } else if (name == "capitalize") {
    r = Value(py_capitalize(s));
  } else if (name == "find" || name == "rfind" || name == "count") {
    std::string sub = str_arg(a.get(0, "sub"), name.c_str(), line);
    if (name == "count") {
      int64_t n = 0;
      if (sub.empty()) {
        n = static_cast<int64_t>(utf8_decode(s).size()) + 1;
      } else {
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      }
      r = Value(n);
    } else {
      size_t p = name == "find" ? s.find(sub) : s.rfind(sub);
      r = Value(p == std::string::npos ? int64_t{-1} : cp_index(s, p));
    }
  } else if (name == "removeprefix" || name == "removesuffix") {
    std::string x = str_arg(a.get(0, "affix"), name.c_str(), line);
    bool pre = name == "removeprefix";
    if (affix_match(s, Value(x), pre, line)) {
      r = Value(pre ? s.substr(x.size()) : s.substr(0, s.size() - x.size()));
    } else {
      r = Value(s);
    }
  } else if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& v : iterate(a.get(0, "iterable"), line)) {
      if (!first) out += s;
      first = false;
      out += str_arg(v, "sequence item", line);
    }
    r = Value(std::move(out));
  } else if (name == "format") {
    return Value(py_format(s, ca, line));
  } else if (name == "isdigit") {
    r = str_predicate(s, [](char32_t c) { return c >= '0' && c <= '9'; });
  } else if (name == "isalpha") {
    r = str_predicate(s, [](char32_t c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; });
  } else if (name == "isalnum") {
    r = str_predicate(s, [](char32_t c) {
      return ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9');
    });
  } else if (name == "isspace") {
    r = str_predicate(s, py_isspace);
  } else if (name == "islower" || name == "isupper") {
    bool want_lower = name == "islower";
    bool any = false, ok = true;
    for (char32_t c : utf8_decode(s)) {
      std::string one = utf8_encode(std::u32string(1, c));
      bool is_up = py_lower(one) != one, is_lo = py_upper(one) != one;
      any |= want_lower ? is_lo : is_up;
      ok &= want_lower ? !is_up : !is_lo;
    }
    r = Value(any && ok);
  } else if (name == "center") {
    int64_t width = int_arg(a.get(0, "width"), "width", line);
    std::u32string u = utf8_decode(s);
    int64_t n = static_cast<int64_t>(u.size());
    if (width > (1 << 24)) eval_fail(line, "center width too large");
    if (width <= n) {
      r = Value(s);
    } else {
      int64_t marg = width - n, left = marg / 2 + (marg & width & 1);
      r = Value(std::string(left, ' ') + s + std::string(marg - left, ' '));
    }
  } else {
    return Value(Undefined{});
  }
  a.done();
  return r;
}

Value dict_method(const Value& d, const std::string& name, CallArgs& ca, int line) {
  Args a(ca, "dict." + name, line);
  Value r;
  if (name == "items" || name == "keys" || name == "values") {
    std::vector<Value> out;
    for (const auto& [k, v] : d.dict().items) {
      if (name == "items")
        out.push_back(make_list({Value(k), v}, true));
      else
        out.push_back(name == "keys" ? Value(k) : v);
    }
    r = make_list(std::move(out));
  } else {  // get
    Value key = a.get(0, "key");
    Value def = a.get(1, "default", Value(None{}));
    const Value* v = key.is_string() ? d.dict().find(key.str()) : nullptr;
    r = v ? *v : def;
  }
  a.done();
  return r;
}

}  // namespace

Value bound_method(const Value& obj, const std::string& name, int line) {
  static const char* kStr[] = {
      "strip",    "lstrip",  "rstrip",       "split",        "rsplit",  "splitlines", "startswith",
      "endswith", "replace", "upper",        "lower",        "title",   "capitalize", "find",
      "rfind",    "count",   "removeprefix", "removesuffix", "join",    "format",     "isdigit",
      "isalpha",  "isalnum", "isspace",      "islower",      "isupper", "center"};
  auto in = [&](const auto& arr) {
    for (const char* x : arr)
      if (name == x) return true;
    return false;
  };
  if (obj.is_string() && in(kStr)) {
    std::string s = obj.str();
    return make_callable("str." + name,
                         [s, name, line](CallArgs& a) { return string_method(s, name, a, line); });
  }
  if (obj.is_dict() && (name == "items" || name == "keys" || name == "values" || name == "get")) {
    return make_callable(
        "dict." + name, [obj, name, line](CallArgs& a) { return dict_method(obj, name, a, line); });
  }
  if (obj.is_list() && (name == "index" || name == "count")) {
    return make_callable("list." + name, [obj, name, line](CallArgs& ca) {
      Args a(ca, "list." + name, line);
      Value x = a.get(0, "value");
      a.done();
      const auto& items = obj.list().items;
      int64_t n = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!equal(items[i], x)) continue;
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++n;
      }
      if (name == "index") eval_fail(line, repr(x) + " is not in list");
      return Value(n);
    });
  }
  return Value(Undefined{});
}

}  // namespace duet::jinja
