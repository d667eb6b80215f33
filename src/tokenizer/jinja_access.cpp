// Attribute/item access, iteration, argument binding, and the Python methods of str, dict and
// list that templates call (message.content.strip(), tool.get('x'), ...).
#include <algorithm>

#include "common/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_methods.h"
#include "tokenizer/jinja_strings.h"

namespace duet::jinja {

Value Args::get(size_t index, const char* name, Value def) {
  for (const auto& [k, v] : a_.kw) {
    if (k == name) {
      used_kw_.push_back(k);
      return v;
    }
  }
  if (index < a_.pos.size()) {
    used_pos_ = std::max(used_pos_, index + 1);
    return a_.pos[index];
  }
  return def;
}

void Args::done() {
  if (a_.pos.size() > used_pos_) {
    eval_fail(line_, fn_ + "() takes at most " + std::to_string(used_pos_) +
                         " positional arguments (" + std::to_string(a_.pos.size()) + " given)");
  }
  for (const auto& [k, v] : a_.kw) {
    if (std::find(used_kw_.begin(), used_kw_.end(), k) == used_kw_.end())
      eval_fail(line_, fn_ + "() got an unexpected keyword argument '" + k + "'");
  }
}

std::vector<Value> iterate(const Value& v, int line) {
  if (v.is_list()) return v.list().items;
  if (v.is_dict()) {
    std::vector<Value> keys;
    for (const auto& [k, x] : v.dict().items) keys.emplace_back(k);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    for (char32_t c : utf8_decode(v.str())) chars.emplace_back(utf8_encode(std::u32string(1, c)));
    return chars;
  }
  if (v.is_undefined()) return {};
  eval_fail(line, std::string("'") + type_name(v) + "' object is not iterable");
}

Value py_len(const Value& v, int line) {
  if (v.is_string()) return Value(static_cast<int64_t>(utf8_decode(v.str()).size()));
  if (v.is_list()) return Value(static_cast<int64_t>(v.list().items.size()));
  if (v.is_dict()) return Value(static_cast<int64_t>(v.dict().items.size()));
  if (v.is_undefined()) return Value(0);
  eval_fail(line, "object of type '" + type_name(v) + "' has no len()");
}

namespace {

Value missing_attr(const Value& obj, const std::string& name) {
  return Value(Undefined{str_cat("'", type_name(obj), " object' has no attribute '", name, "'")});
}

// Python methods that exist but are outside the subset (or forbidden by the immutable sandbox):
// calling one is an error that names it, never a silent Undefined.
bool is_unsupported_method(const Value& obj, const std::string& name) {
  static const char* kStr[] = {
      "casefold",     "encode",    "expandtabs",  "format_map", "index", "isascii",   "isdecimal",
      "isidentifier", "isnumeric", "isprintable", "istitle",    "ljust", "maketrans", "partition",
      "rindex",       "rjust",     "rpartition",  "translate",  "zfill"};
  static const char* kList[] = {"append", "clear",  "copy",    "extend", "insert",
                                "pop",    "remove", "reverse", "sort"};
  static const char* kDict[] = {"clear",   "copy",       "fromkeys", "pop",
                                "popitem", "setdefault", "update"};
  auto in = [&](const auto& arr) {
    return std::find(std::begin(arr), std::end(arr), name) != std::end(arr);
  };
  if (obj.is_string()) return in(kStr);
  if (obj.is_list()) return in(kList);
  if (obj.is_dict()) return in(kDict);
  return false;
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) eval_fail(line, std::get<Undefined>(obj.v).name);
  if (obj.is_namespace()) {
    const Value* v = std::get<NamespacePtr>(obj.v)->attrs.find(name);
    return v ? *v : missing_attr(obj, name);
  }
  Value method = bound_method(obj, name, line);
  if (!method.is_undefined()) return method;
  if (is_unsupported_method(obj, name)) {
    std::string what = type_name(obj) + "." + name;
    std::string why =
        obj.is_string() ? "" : " (lists and dicts are immutable in transformers' sandbox)";
    return make_callable(what, [what, why, line](CallArgs&) -> Value {
      eval_fail(line, "unsupported construct: method " + what + "()" + why);
    });
  }
  if (obj.is_dict()) {
    const Value* v = obj.dict().find(name);
    return v ? *v : missing_attr(obj, name);
  }
  return missing_attr(obj, name);
}

Value get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) eval_fail(line, std::get<Undefined>(obj.v).name);
  if (obj.is_dict()) {
    if (key.is_string()) {
      const Value* v = obj.dict().find(key.str());
      if (v) return *v;
      // Jinja falls back to getattr for string keys, so d['items'] misses reach methods.
      Value m = bound_method(obj, key.str(), line);
      if (!m.is_undefined()) return m;
    }
    return Value(Undefined{"'dict object' has no attribute '" +
                           (key.is_string() ? key.str() : repr(key)) + "'"});
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      int64_t n = static_cast<int64_t>(obj.list().items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n)
        return Value(
            Undefined{type_name(obj) + " object has no element " + std::to_string(key.as_int())});
      return obj.list().items[i];
    }
    std::u32string u = utf8_decode(obj.str());
    int64_t n = static_cast<int64_t>(u.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n)
      return Value(Undefined{"str object has no element " + std::to_string(key.as_int())});
    return Value(utf8_encode(std::u32string(1, u[i])));
  }
  if (key.is_string()) return get_attr(obj, key.str(), line);
  return Value(Undefined{type_name(obj) + " object has no element " + repr(key)});
}

}  // namespace duet::jinja
