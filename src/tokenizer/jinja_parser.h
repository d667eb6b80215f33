// Recursive-descent parser for the Jinja subset chat templates use. Precedence and grammar
// follow jinja2/parser.py; anything outside the subset is rejected with the construct's name
// and line instead of being guessed at.
#pragma once

#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace duet::jinja {

// Nesting limit for expressions and blocks, so hostile templates cannot overflow the stack.
inline constexpr int kMaxParseDepth = 200;

Body parse(const std::vector<Token>& tokens);

}  // namespace duet::jinja
