// Compares duet's tokenizers with the reference libraries' output committed under
// tests/data/tokenizers (written by tools/reference/make_tokenizer_golden.py): Hugging Face
// `tokenizers` for DeepSeek-V3's tokenizer.json, tiktoken + Kimi's wrapper for kimi-style.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "tokenizer/tokenizer.h"

namespace duet {
namespace {

using json = nlohmann::json;

std::string fnv1a(const std::vector<int32_t>& ids) {
  uint64_t h = 0xCBF29CE484222325ull;
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) text.push_back(',');
    text.append(std::to_string(ids[i]));
  }
  for (unsigned char c : text) h = (h ^ c) * 0x100000001B3ull;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<int32_t> ids_of(const json& j) {
  return j.get<std::vector<int32_t>>();
}

std::string show(const std::string& s) {
  return json(s).dump().substr(0, 200);
}

void check_golden(const std::string& dir, const std::string& golden) {
  auto tok = Tokenizer::load(dir);
  ASSERT_NE(tok, nullptr) << dir;
  std::ifstream in(golden);
  ASSERT_TRUE(in) << "cannot open " << golden;
  std::string line;
  int n = 0, encodes = 0, decodes = 0, repeats = 0, failures = 0;
  while (std::getline(in, line)) {
    ++n;
    const json j = json::parse(line);
    if (failures > 20) break;  // enough to diagnose; keep the log readable
    if (j.contains("text")) {
      const std::string text = j["text"];
      const bool special = j.value("add_special_tokens", false);
      const auto ids = tok->encode(text, special);
      const bool ok = ids == ids_of(j["ids"]);
      EXPECT_TRUE(ok) << golden << ":" << n << " encode " << show(text) << "\n  got  "
                      << json(ids).dump().substr(0, 300) << "\n  want "
                      << j["ids"].dump().substr(0, 300);
      failures += !ok;
      if (!special) {
        EXPECT_EQ(tok->decode(ids, false), j["decoded"].get<std::string>()) << golden << ":" << n;
        EXPECT_EQ(tok->decode(ids, false), text) << golden << ":" << n << " round trip";
      }
      ++encodes;
    } else if (j.contains("decode_ids")) {
      const auto got = tok->decode(ids_of(j["decode_ids"]), j["skip_special_tokens"]);
      const bool ok = got == j["decoded"].get<std::string>();
      EXPECT_TRUE(ok) << golden << ":" << n << " decode " << j["decode_ids"].dump() << "\n  got  "
                      << show(got) << "\n  want " << show(j["decoded"]);
      failures += !ok;
      ++decodes;
    } else {
      const json& r = j["repeat"];
      std::string text = r["prefix"];
      for (int64_t i = 0, c = r["count"]; i < c; ++i) text += r["unit"].get<std::string>();
      text += r["suffix"].get<std::string>();
      const auto ids = tok->encode(text, false);
      ASSERT_FALSE(ids.empty());
      const std::vector<int32_t> head(ids.begin(), ids.begin() + std::min<size_t>(16, ids.size()));
      const std::vector<int32_t> tail(ids.end() - std::min<size_t>(16, ids.size()), ids.end());
      EXPECT_EQ(static_cast<int64_t>(ids.size()), j["num_ids"].get<int64_t>())
          << golden << ":" << n;
      EXPECT_EQ(head, ids_of(j["ids_head"])) << golden << ":" << n;
      EXPECT_EQ(tail, ids_of(j["ids_tail"])) << golden << ":" << n;
      EXPECT_EQ(fnv1a(ids), j["ids_fnv1a"].get<std::string>()) << golden << ":" << n;
      EXPECT_EQ(tok->decode(ids, false), text) << golden << ":" << n;
      ++repeats;
    }
  }
  EXPECT_GE(encodes, 2000) << golden;
  EXPECT_GE(decodes, 100) << golden;
  EXPECT_GE(repeats, 3) << golden;
}

TEST(TokenizerGolden, DeepSeekV3MatchesHuggingFace) {
  check_golden("tests/data/tokenizers/deepseek-v3",
               "tests/data/tokenizers/deepseek-v3-golden.jsonl");
}

TEST(TokenizerGolden, KimiStyleMatchesTiktoken) {
  check_golden("tests/data/tokenizers/kimi-style", "tests/data/tokenizers/kimi-style-golden.jsonl");
}

TEST(TokenizerGolden, ByteLevelRegexAndPairMergesMatchHuggingFace) {
  // The variant make_tokenizer_golden.py builds: GPT-2 ByteLevel(use_regex) pre-tokenizer and
  // ["a", "b"] merges, covering the tokenizer.json shapes DeepSeek-V3's file does not use.
  json j = json::parse(read_file("tests/data/tokenizers/deepseek-v3/tokenizer.json"));
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  for (auto& m : j["model"]["merges"]) {
    const std::string s = m;
    m = json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("duet_bytelevel_" + std::to_string(reinterpret_cast<uintptr_t>(&j)));
  std::filesystem::create_directories(dir);
  write_file((dir / "tokenizer.json").string(), j.dump());
  auto tok = Tokenizer::load(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_NE(tok, nullptr);
  std::ifstream in("tests/data/tokenizers/bytelevel-regex-golden.jsonl");
  std::string line;
  int n = 0, failures = 0;
  while (std::getline(in, line) && failures < 20) {
    const json g = json::parse(line);
    const auto ids = tok->encode(g["text"].get<std::string>(), false);
    const bool ok = ids == ids_of(g["ids"]);
    EXPECT_TRUE(ok) << "line " << n + 1 << ": " << show(g["text"]);
    failures += !ok;
    ++n;
  }
  EXPECT_GE(n, 500);
}

}  // namespace
}  // namespace duet
