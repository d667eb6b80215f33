#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include <memory>

#include "common/error.h"

namespace duet {
namespace {

// One match-data block and JIT stack per thread: encode is const and may run on many threads at
// once, and allocating these per call would dominate the cost of short pieces.
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  // Long runs (megabytes of one character class) need more than the default 32 KiB JIT stack.
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  ThreadMatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~ThreadMatchState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, const std::string& what) : what_(what) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  const std::string text = literal ? pattern : rewrite_pattern_for_pcre2(pattern);
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), options, &err,
                        &offset, nullptr);
  if (!code_) {
    fail(what, ": regex does not compile at offset ", offset, ": ", pcre2_message(err),
         " (pattern: ", pattern, ")");
  }
  // JIT is an optimisation only: a pattern the JIT cannot handle still runs in the interpreter.
  pcre2_jit_compile(static_cast<pcre2_code*>(code_), PCRE2_JIT_COMPLETE);
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::find(std::string_view s, size_t start, size_t* match_start, size_t* match_end) const {
  ThreadMatchState& st = thread_state();
  const int rc =
      pcre2_match(static_cast<const pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(s.data()),
                  s.size(), start, PCRE2_NO_UTF_CHECK, st.data, st.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) fail(what_, ": regex match failed: ", pcre2_message(rc));
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
  *match_start = ov[0];
  *match_end = ov[1];
  return true;
}

std::string rewrite_pattern_for_pcre2(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    const char c = pattern[i + 1];
    if (c == 's') {
      out += "\\p{White_Space}";
    } else if (c == 'S') {
      out += "\\P{White_Space}";
    } else if ((c == 'p' || c == 'P') && pattern.compare(i + 2, 5, "{Han}") == 0) {
      out += c == 'p' ? "\\p{sc=Han}" : "\\P{sc=Han}";
      i += 5;
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
    ++i;
  }
  return out;
}

}  // namespace duet
