// Behaviour the golden files cannot pin down: streaming detokenization, invalid UTF-8, NUL
// bytes, very long inputs, Kimi's long-run splitting, and errors for bad files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace duet {
namespace {

const Tokenizer& deepseek() {
  static auto tok = Tokenizer::load("tests/data/tokenizers/deepseek-v3");
  return *tok;
}
const Tokenizer& kimi() {
  static auto tok = Tokenizer::load("tests/data/tokenizers/kimi-style");
  return *tok;
}
std::vector<const Tokenizer*> both() {
  return {&deepseek(), &kimi()};
}

std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  IncrementalDetokenizer detok(tok, skip);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = detok.push(id);
    EXPECT_TRUE(utf8::is_valid(piece)) << "push emitted invalid UTF-8";
    out += piece;
  }
  return out + detok.flush();
}

TEST(Tokenizer, Metadata) {
  EXPECT_EQ(deepseek().vocab_size(), 128815);
  EXPECT_TRUE(deepseek().add_bos());
  EXPECT_EQ(deepseek().bos_id(), 0);
  EXPECT_EQ(deepseek().eos_token(), "<｜end▁of▁sentence｜>");
  EXPECT_EQ(deepseek().token_to_id("<｜User｜>"), 128803);
  EXPECT_EQ(deepseek().token_to_id("Ġthe"), 270);
  EXPECT_TRUE(deepseek().is_special(0));
  EXPECT_FALSE(deepseek().is_special(128803));  // added but special:false in tokenizer.json
  EXPECT_EQ(deepseek().encode("hi", true).front(), 0);
  EXPECT_EQ(kimi().vocab_size(), 128256);
  EXPECT_FALSE(kimi().add_bos());
  EXPECT_EQ(kimi().token_to_id("<|im_end|>"), 128002);
  EXPECT_EQ(kimi().token_to_id("<|reserved_token_128005|>"), 128005);
  EXPECT_EQ(kimi().encode("hi", true), kimi().encode("hi", false));
  EXPECT_EQ(kimi().token_bytes(128000), "[BOS]");
  EXPECT_EQ(Tokenizer::load("tests/data"), nullptr);
}

TEST(IncrementalDetokenizer, SplitsInsideMultiByteCharacters) {
  // Single-byte tokens force every multi-byte character to arrive in pieces.
  for (const Tokenizer* tok : both()) {
    const std::string text = "é中😀👨‍👩‍👧 ok";
    std::vector<int32_t> ids;
    std::string emitted;
    IncrementalDetokenizer detok(*tok, false);
    for (unsigned char c : text) {
      const std::string bytes(1, static_cast<char>(c));
      int32_t id = -1;
      for (int32_t i = 0; i < 300 && id < 0; ++i)
        if (tok->token_bytes(i) == bytes) id = i;
      ASSERT_GE(id, 0);
      const std::string piece = detok.push(id);
      EXPECT_TRUE(utf8::is_valid(piece));
      emitted += piece;
      // Nothing is held back beyond the current incomplete character.
      EXPECT_EQ(emitted, text.substr(0, emitted.size()));
    }
    EXPECT_EQ(emitted + detok.flush(), text);
  }
}

TEST(IncrementalDetokenizer, EveryPrefixOfRandomIdStreamsMatchesDecode) {
  std::mt19937 rng(5);
  for (const Tokenizer* tok : both()) {
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int32_t> ids;
      const int n = 1 + rng() % 12;
      for (int i = 0; i < n; ++i) ids.push_back(rng() % tok->vocab_size());
      for (size_t len = 0; len <= ids.size(); ++len) {
        const std::vector<int32_t> prefix(ids.begin(), ids.begin() + len);
        const bool skip = trial % 2;
        ASSERT_EQ(stream(*tok, prefix, skip), tok->decode(prefix, skip));
      }
    }
  }
}

TEST(IncrementalDetokenizer, InvalidBytesBecomeReplacementOnce) {
  for (const Tokenizer* tok : both()) {
    // 0xE4 0xB8 starts 中 but 'x' breaks it: one U+FFFD, then x.
    auto id_of_bytes = [&](const std::string& b) {
      for (int32_t i = 0; i < 300; ++i)
        if (tok->token_bytes(i) == b) return i;
      return -1;
    };
    const std::vector<int32_t> ids = {id_of_bytes("\xE4"), id_of_bytes("\xB8"), id_of_bytes("x")};
    EXPECT_EQ(tok->decode(ids, false), "\xEF\xBF\xBDx");
    EXPECT_EQ(stream(*tok, ids, false), "\xEF\xBF\xBDx");
    EXPECT_EQ(stream(*tok, {ids[0], ids[1]}, false), "\xEF\xBF\xBD");
  }
}

TEST(Encode, InvalidUtf8IsEncodedAsReplacementCharacter) {
  for (const Tokenizer* tok : both()) {
    const std::string bad =
        "a\xFF"
        "b\xE4\xB8"
        "c\xC0\x80\xED\xA0\x80\xF4\x90\x80\x80";
    const auto ids = tok->encode(bad, false);
    EXPECT_EQ(ids, tok->encode(utf8::make_valid(bad), false));
    EXPECT_EQ(tok->decode(ids, false), utf8::make_valid(bad));
    // Python's bytes.decode("utf-8", "replace") gives 11 U+FFFD here (maximal subparts:
    // FF | E4 B8 | C0 | 80 | ED | A0 | 80 | F4 | 90 | 80 | 80).
    std::string want = "a";
    for (int i = 0; i < 11; ++i) {
      want += "\xEF\xBF\xBD";
      if (i == 0) want += "b";
      if (i == 1) want += "c";
    }
    EXPECT_EQ(utf8::make_valid(bad), want);
    EXPECT_EQ(tok->encode(std::string("\xE4", 1), false), tok->encode("\xEF\xBF\xBD", false));
  }
}

TEST(Encode, NulBytesAreOrdinaryCharacters) {
  for (const Tokenizer* tok : both()) {
    const std::string text("a\0b\0\0 c\0", 8);
    const auto ids = tok->encode(text, false);
    EXPECT_GE(ids.size(), 4u);
    EXPECT_EQ(tok->decode(ids, false), text);
  }
}

TEST(Encode, TenMegabytesIsFastAndRoundTrips) {
  // Mixed content plus pathological runs (one 2 MB word, 2 MB of spaces) to catch any
  // quadratic behaviour; the budget is generous for a shared machine and Debug builds.
  std::string text;
  while (text.size() < 6'000'000) text += "Hello world, 你好世界! Привет 123456 😀\n\t ";
  text += std::string(2'000'000, 'x') + std::string(2'000'000, ' ') + "end";
  for (const Tokenizer* tok : both()) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(text, false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 20.0);
    EXPECT_EQ(tok->decode(ids, false), text);
  }
}

TEST(Kimi, SplitLongRunsMatchesPythonGenerator) {
  auto parts = [](std::string_view s, size_t max) {
    std::vector<std::string> out;
    for (auto p : split_long_runs(s, max)) out.emplace_back(p);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(parts("", 3), V{""});
  EXPECT_EQ(parts("aaa", 3), V{"aaa"});
  EXPECT_EQ(parts("aaaa", 3), (V{"aaa", "a"}));
  EXPECT_EQ(parts("aaaaaaa  b", 3), (V{"aaa", "aaa", "a  b"}));
  EXPECT_EQ(parts("    x", 3), (V{"   ", " x"}));
  // Code points, not bytes; U+001C counts as space for Python's isspace, U+200B does not.
  EXPECT_EQ(parts("中中中中", 3), (V{"中中中", "中"}));
  EXPECT_EQ(parts("\x1c\x1c\x1c\x1c", 3), (V{"\x1c\x1c\x1c", "\x1c"}));
  EXPECT_EQ(parts("\u200b\u200b\u200b\u200b", 3), (V{"\u200b\u200b\u200b", "\u200b"}));
}

TEST(Kimi, LongRunsAndChunksChangeIds) {
  const Tokenizer& tok = kimi();
  // A run of 25,001 letters is cut after 25,000: the ids equal the two halves encoded apart.
  const std::string run(25001, 'a');
  auto ids = tok.encode(run, false);
  auto a = tok.encode(std::string(25000, 'a'), false), b = tok.encode("a", false);
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(ids, a);
  // 400,000-code-point chunks: the cut falls inside "ab " here.
  std::string text;
  for (int i = 0; i < 133334; ++i) text += "ab ";
  ids = tok.encode(text, false);
  a = tok.encode(text.substr(0, 400000), false);
  b = tok.encode(text.substr(400000), false);
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(ids, a);
}

class BadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("duet_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string error_for(const std::string& file, const std::string& content) {
    write_file((dir_ / file).string(), content);
    try {
      Tokenizer::load(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(BadFiles, ClearErrorsNamingTheFile) {
  std::string e = error_for("tokenizer.json", "{not json");
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  e = error_for("tokenizer.json",
                R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "Unigram"}})");
  EXPECT_NE(e.find("model.type"), std::string::npos) << e;
  e = error_for("tokenizer.json",
                R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "ByteLevel"},
                    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})");
  EXPECT_NE(e.find("merges[0]"), std::string::npos) << e;
  e = error_for("tokenizer.json",
                R"({"decoder": {"type": "ByteLevel"}, "normalizer": {"type": "NFC"},
                    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  EXPECT_NE(e.find("normalizer"), std::string::npos) << e;
  e = error_for("tokenizer.json",
                R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "Sequence",
                    "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(["},
                    "behavior": "Isolated"}, {"type": "ByteLevel"}]},
                    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  EXPECT_NE(e.find("regex does not compile"), std::string::npos) << e;
  std::filesystem::remove(dir_ / "tokenizer.json");
  e = error_for("tiktoken.model", "IQ== 0\n!!!! 1\n");
  EXPECT_NE(e.find("tiktoken.model:2"), std::string::npos) << e;
  e = error_for("tiktoken.model", "IQ== 0\nIg== 5\n");
  EXPECT_NE(e.find("contiguous"), std::string::npos) << e;
}

}  // namespace
}  // namespace duet
