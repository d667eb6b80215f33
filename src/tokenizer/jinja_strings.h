// Unicode helpers with Python str semantics: templates index, slice, strip and case-map strings
// by code point, exactly as Python does, so a UTF-8 byte view would render differently.
#pragma once

#include <string>
#include <string_view>

namespace duet::jinja {

// Decodes UTF-8 into code points. Invalid bytes map to U+DC80..U+DCFF (Python's
// "surrogateescape") and encode back to the same byte, so no input is ever lost or rejected.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t cp);

// Python str.isspace() for one code point.
bool py_isspace(char32_t cp);
// str.strip/lstrip/rstrip. chars == nullptr strips whitespace; otherwise any of those code points.
std::string py_strip(std::string_view s, const std::u32string* chars, bool left, bool right);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()
// Jinja's |title filter (splits words at "-", whitespace and opening brackets).
std::string jinja_title(std::string_view s);
// Python's \s in the lexer's regexes (str patterns are Unicode-aware).
bool is_ws_at(std::string_view s, size_t pos, size_t* len);

}  // namespace duet::jinja
