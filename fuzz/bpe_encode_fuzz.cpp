// libFuzzer target: encodes arbitrary bytes with the DeepSeek-V3 tokenizer (the first input byte
// picks DeepSeek-V3 or the kimi-style tiktoken tokenizer) and checks that decode(encode(x))
// gives x back for valid UTF-8, and U+FFFD-repaired x otherwise. Also streams the ids through
// IncrementalDetokenizer and compares with decode.
//
// The tokenizer files are found under $DUET_SOURCE_DIR (else the source directory this was
// built from): tests/data/tokenizers/.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

std::string source_dir() {
  const char* env = std::getenv("DUET_SOURCE_DIR");
  return env && *env ? env : DUET_SOURCE_DIR;
}

const duet::Tokenizer& load(const char* name) {
  auto tok = duet::Tokenizer::load(source_dir() + "/tests/data/tokenizers/" + name);
  if (!tok) {
    std::fprintf(stderr, "no tokenizer files for %s under %s\n", name, source_dir().c_str());
    std::abort();
  }
  return *tok.release();  // lives for the whole fuzzing run
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const duet::Tokenizer& deepseek = load("deepseek-v3");
  static const duet::Tokenizer& kimi = load("kimi-style");
  if (size == 0) return 0;
  const duet::Tokenizer& tok = (data[0] & 1) ? kimi : deepseek;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto ids = tok.encode(input, false);
  const std::string want = duet::utf8::make_valid(input);
  const std::string got = tok.decode(ids, false);
  if (got != want) {
    std::fprintf(stderr, "round trip mismatch: %zu input bytes, %zu ids\n", input.size(),
                 ids.size());
    std::abort();
  }
  duet::IncrementalDetokenizer detok(tok, false);
  std::string streamed;
  for (int32_t id : ids) streamed += detok.push(id);
  streamed += detok.flush();
  if (streamed != got) {
    std::fprintf(stderr, "incremental detokenizer differs from decode\n");
    std::abort();
  }
  return 0;
}
