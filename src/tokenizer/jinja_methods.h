// Python methods on str, dict and list values that chat templates call.
#pragma once

#include <string>

#include "tokenizer/jinja_value.h"

namespace duet::jinja {

// A callable bound to obj for a supported method name, or Undefined when there is none.
Value bound_method(const Value& obj, const std::string& name, int line);
// Python str.split(sep=None, maxsplit=-1).
std::vector<Value> py_split(const std::string& s, const Value& sep, int64_t maxsplit, int line);
// Python str.replace(old, new, count=-1), by code point for an empty `old`.
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count);
// Python str.splitlines().
std::vector<std::string> py_splitlines(const std::string& s);

}  // namespace duet::jinja
