// Values of the Jinja interpreter used for chat templates. They follow Python's semantics
// (truthiness, equality, str()/repr() formatting) because the oracle is Jinja2 running on Python.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace duet::jinja {

struct Value;
struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};
// Lists and dicts are shared and never mutated after construction: transformers renders with
// ImmutableSandboxedEnvironment, which forbids list.append, dict.update and the like.
struct ListData {
  std::vector<Value> items;
  bool tuple = false;  // only changes how it prints: (a, b) instead of [a, b]
};
// Insertion-ordered like a Python dict. Keys are strings (JSON objects, dict literals).
struct DictData {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};
// namespace(...) objects are the one mutable thing a template can touch ({% set ns.x = ... %}).
struct NamespaceData {
  DictData attrs;
};
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};
struct CallableData {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using NamespacePtr = std::shared_ptr<NamespaceData>;
using CallablePtr = std::shared_ptr<const CallableData>;

struct Value {
  std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr, DictPtr, NamespacePtr,
               CallablePtr>
      v;

  Value() = default;
  Value(Undefined u) : v(std::move(u)) {}
  Value(None) : v(None{}) {}
  Value(bool b) : v(b) {}
  Value(int64_t i) : v(i) {}
  Value(int i) : v(int64_t{i}) {}
  Value(double d) : v(d) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(ListPtr l) : v(std::move(l)) {}
  Value(DictPtr d) : v(std::move(d)) {}
  Value(NamespacePtr n) : v(std::move(n)) {}
  Value(CallablePtr c) : v(std::move(c)) {}

  bool is_undefined() const { return std::holds_alternative<Undefined>(v); }
  bool is_none() const { return std::holds_alternative<None>(v); }
  bool is_bool() const { return std::holds_alternative<bool>(v); }
  bool is_int() const { return std::holds_alternative<int64_t>(v); }
  bool is_float() const { return std::holds_alternative<double>(v); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_list() const { return std::holds_alternative<ListPtr>(v); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(v); }
  bool is_namespace() const { return std::holds_alternative<NamespacePtr>(v); }
  bool is_callable() const { return std::holds_alternative<CallablePtr>(v); }

  const std::string& str() const { return std::get<std::string>(v); }
  const ListData& list() const { return *std::get<ListPtr>(v); }
  const DictData& dict() const { return *std::get<DictPtr>(v); }
  // Python's int(True) == 1: bools take part in arithmetic and comparisons as ints.
  // Anything else is a template error (duet::Error), e.g. "x | indent(none)".
  int64_t as_int() const {
    if (is_int()) return std::get<int64_t>(v);
    if (is_bool()) return int64_t{std::get<bool>(v)};
    not_a_number("an integer");
  }
  double as_double() const { return is_float() ? std::get<double>(v) : double(as_int()); }
  [[noreturn]] void not_a_number(const char* what) const;
};

Value make_list(std::vector<Value> items, bool tuple = false);
Value make_dict(DictData d);
Value make_callable(std::string name, std::function<Value(CallArgs&)> fn);

// Python's type name, for error messages ("'int' object is not iterable").
std::string type_name(const Value& v);
bool truthy(const Value& v);
// Python ==.
bool equal(const Value& a, const Value& b);
// Python <; throws duet::Error for types Python cannot order.
bool less(const Value& a, const Value& b);
// str(v) as Jinja renders it ({{ v }}); Undefined renders empty.
std::string to_str(const Value& v);
// repr(v): how Python prints values nested in lists and dicts.
std::string repr(const Value& v);
// Python float repr: shortest round-trip digits, exponent outside [1e-4, 1e16).
std::string format_float(double d);

// JSON <-> Value. Object key order is kept (inputs are ordered_json for that reason).
Value from_json(const nlohmann::ordered_json& j);
// json.dumps(x, ensure_ascii=False, indent, separators, sort_keys) as transformers' tojson.
// indent: empty optional = None; otherwise the indent string (int indents become spaces).
struct JsonDumpOptions {
  bool has_indent = false;
  std::string indent;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
std::string dump_json(const Value& v, const JsonDumpOptions& opt);

}  // namespace duet::jinja
