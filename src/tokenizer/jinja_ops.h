// Python operator semantics for template expressions (arithmetic, comparison, slicing).
#pragma once

#include <string>

#include "tokenizer/jinja_value.h"

namespace duet::jinja {

// ==, !=, <, >, <=, >=, in, not in.
bool compare_values(const std::string& op, const Value& a, const Value& b, int line);
// + - * / // % ** ~ ; max_bytes bounds strings and lists built by + and *.
Value binary_op(const std::string& op, const Value& a, const Value& b, int line, size_t max_bytes);
Value unary_op(const std::string& op, const Value& v, int line);
// obj[start:stop:step] on strings (by code point) and lists; None means omitted.
Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step,
                  int line);
// Python's `x in container`.
bool contains(const Value& container, const Value& x, int line);

}  // namespace duet::jinja
