// Tokenizer encode throughput on one thread, over a deterministic ~10 MB mixed-language text.
// The text is written to a file so bench/tokenizer_bench_hf.py times Hugging Face `tokenizers`
// on exactly the same bytes (see docs/PERFORMANCE.md, "Tokenizer").
//
// usage: tokenizer_bench [MODEL_DIR] [TEXT_OUT]   (defaults: the DeepSeek-V3 test tokenizer,
//        /tmp/duet_tokenizer_bench.txt)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

struct Rng {  // splitmix64: tiny and identical on every platform
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return next() % n; }
};

const char* kEnglish[] = {
    "the",     "of",      "and",        "to",         "in",         "is",    "was",       "for",
    "that",    "with",    "model",      "expert",     "attention",  "token", "inference", "server",
    "memory",  "latency", "throughput", "language",   "people",     "world", "between",   "however",
    "because", "through", "different",  "government", "information"};
const char* kSyllables[] = {"ka", "ri",  "to",  "men", "sul", "pra", "ex", "ion", "ter", "qua",
                            "lo", "zin", "vor", "ash", "el",  "tri", "um", "ght", "str", "ble"};
const char* kRussian[] = {"привет", "мир",     "модель", "данные",  "время",
                          "работа", "система", "вопрос", "человек", "сегодня"};
const char* kCode[] = {"def f(x):\n    return x + 1\n",
                       "for (int i = 0; i < n; ++i) {\n",
                       "    auto it = map.find(key);\n",
                       "}\n",
                       "if err != nil {\n\treturn err\n}\n",
                       "x = np.zeros((4, 4), dtype=np.float32)\n",
                       "<div class=\"row\">\n"};
const char* kEmoji[] = {"😀", "👍🏽", "🚀", "❤️", "👨‍👩‍👧"};

std::string make_text(size_t target_bytes) {
  Rng rng{42};
  std::string t;
  t.reserve(target_bytes + 1024);
  while (t.size() < target_bytes) {
    const size_t kind = rng.below(100);
    if (kind < 55) {  // English prose with made-up words, so not every piece is a cache hit
      for (size_t w = 0, n = 5 + rng.below(15); w < n; ++w) {
        if (rng.below(4) == 0) {
          for (size_t k = 0, m = 1 + rng.below(4); k < m; ++k) t += kSyllables[rng.below(20)];
        } else {
          t += kEnglish[rng.below(std::size(kEnglish))];
        }
        t += rng.below(12) == 0 ? ", " : " ";
      }
      t += ". ";
    } else if (kind < 70) {  // Chinese from the common CJK block
      for (size_t k = 0, n = 10 + rng.below(40); k < n; ++k)
        duet::utf8::append_code_point(t, 0x4E00 + static_cast<uint32_t>(rng.below(3000)));
      t += rng.below(2) ? "。" : "，";
    } else if (kind < 80) {
      for (size_t k = 0, n = 4 + rng.below(10); k < n; ++k) {
        t += kRussian[rng.below(std::size(kRussian))];
        t += ' ';
      }
    } else if (kind < 90) {
      t += kCode[rng.below(std::size(kCode))];
    } else if (kind < 95) {
      t += std::to_string(rng.next() % 100000000) + " ";
    } else {
      t += kEmoji[rng.below(std::size(kEmoji))];
      t += ' ';
    }
    if (rng.below(8) == 0) t += '\n';
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string model =
        argc > 1 ? argv[1] : DUET_SOURCE_DIR "/tests/data/tokenizers/deepseek-v3";
    const std::string out = argc > 2 ? argv[2] : "/tmp/duet_tokenizer_bench.txt";
    const std::string text = make_text(10 * 1000 * 1000);
    duet::write_file(out, text);
    auto tok = duet::Tokenizer::load(model);
    if (!tok) duet::fail(model, ": no tokenizer files");
    // Lines keep their '\n', so both modes give the same ids for this text.
    std::vector<std::string_view> lines;
    for (size_t pos = 0; pos < text.size();) {
      const size_t nl = text.find('\n', pos);
      const size_t end = nl == std::string::npos ? text.size() : nl + 1;
      lines.emplace_back(text.data() + pos, end - pos);
      pos = end;
    }
    for (const bool by_line : {false, true}) {
      double best = 1e30;
      size_t n_ids = 0;
      for (int run = 0; run < 3; ++run) {
        const auto t0 = std::chrono::steady_clock::now();
        n_ids = 0;
        if (by_line) {
          for (std::string_view line : lines) n_ids += tok->encode(line, false).size();
        } else {
          n_ids = tok->encode(text, false).size();
        }
        const auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
      }
      std::printf("duet encode (%s): %zu bytes -> %zu ids, best of 3: %.3f s, %.2f MB/s\n",
                  by_line ? "per line" : "whole text", text.size(), n_ids, best,
                  text.size() / best / 1e6);
    }
    std::printf("text written to %s\n", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
}
