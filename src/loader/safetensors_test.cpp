#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file_util.h"
#include "loader/checkpoint.h"
#include "loader/safetensors.h"
#include "loader/safetensors_writer.h"

namespace duet {
namespace {

namespace fs = std::filesystem;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("duet_loader_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a raw file: 8-byte length, header text, then `data_bytes` zero bytes.
  std::string raw(const std::string& name, const std::string& header, size_t data_bytes,
                  int64_t declared_len = -1) {
    std::string s(8, '\0');
    uint64_t n = declared_len >= 0 ? static_cast<uint64_t>(declared_len) : header.size();
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
    s += header;
    s += std::string(data_bytes, '\0');
    write_file(path(name), s);
    return path(name);
  }

  // Expects opening `file` to fail with a message containing every fragment.
  void expect_error(const std::string& file, const std::vector<std::string>& fragments) {
    try {
      SafetensorsFile::open(file);
      FAIL() << "expected an error for " << file;
    } catch (const Error& e) {
      for (const auto& f : fragments)
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }

  fs::path dir_;
};

TEST_F(LoaderTest, RoundTripsThroughWriterWithConversions) {
  std::vector<TensorSpec> specs = {{"a", DType::kF32, {2, 3}},
                                   {"b", DType::kBF16, {4}},
                                   {"scalar", DType::kF32, {}},
                                   {"empty", DType::kBF16, {0, 5}}};
  write_checkpoint(
      dir_.string(), specs,
      [&](size_t i, uint8_t* dst) {
        if (i == 0) {
          auto* f = reinterpret_cast<float*>(dst);
          for (int k = 0; k < 6; ++k) f[k] = 0.5f * static_cast<float>(k);
        } else if (i == 1) {
          auto* h = reinterpret_cast<uint16_t*>(dst);
          for (int k = 0; k < 4; ++k) h[k] = f32_to_bf16(static_cast<float>(k) - 1.5f);
        } else if (i == 2) {
          *reinterpret_cast<float*>(dst) = 7.0f;
        }
      },
      1 << 20);
  Checkpoint ck = Checkpoint::open(dir_.string());
  std::vector<float> a(6);
  ck.read("a", {2, 3}, DType::kF32, a.data());
  EXPECT_EQ(a[5], 2.5f);
  std::vector<float> b(4);
  ck.read("b", {4}, DType::kF32, b.data());
  EXPECT_EQ(b[0], -1.5f);
  std::vector<uint16_t> a16(6);
  ck.read("a", {2, 3}, DType::kBF16, a16.data());
  EXPECT_EQ(bf16_to_f32(a16[3]), 1.5f);
  float s = 0;
  ck.read("scalar", {}, DType::kF32, &s);
  EXPECT_EQ(s, 7.0f);
  EXPECT_TRUE(ck.has("empty"));
}

TEST_F(LoaderTest, ShardsGoThroughWeightMap) {
  std::vector<TensorSpec> specs;
  for (int i = 0; i < 5; ++i) specs.push_back({"t" + std::to_string(i), DType::kF32, {256}});
  write_checkpoint(
      dir_.string(), specs,
      [&](size_t i, uint8_t* dst) {
        auto* f = reinterpret_cast<float*>(dst);
        for (int k = 0; k < 256; ++k) f[k] = static_cast<float>(i);
      },
      2048);  // two tensors per shard
  EXPECT_TRUE(file_exists(path("model.safetensors.index.json")));
  EXPECT_TRUE(file_exists(path("model-00003-of-00003.safetensors")));
  Checkpoint ck = Checkpoint::open(dir_.string());
  std::vector<float> v(256);
  ck.read("t4", {256}, DType::kF32, v.data());
  EXPECT_EQ(v[100], 4.0f);
}

TEST_F(LoaderTest, PrefixIsAddedToNames) {
  write_checkpoint(
      dir_.string(), {{"language_model.x", DType::kF32, {1}}},
      [](size_t, uint8_t* d) { *reinterpret_cast<float*>(d) = 3; }, 1 << 20);
  Checkpoint ck = Checkpoint::open(dir_.string(), "language_model.");
  EXPECT_TRUE(ck.has("x"));
  EXPECT_FALSE(ck.has("language_model.x"));
}

TEST_F(LoaderTest, TruncatedFile) {
  expect_error(raw("t.safetensors", "", 0, 0).substr(0), {});
}

TEST_F(LoaderTest, FileShorterThanLengthField) {
  write_file(path("short.safetensors"), std::string(5, '\0'));
  expect_error(path("short.safetensors"), {"short.safetensors", "truncated"});
}

TEST_F(LoaderTest, HeaderLengthPastEof) {
  expect_error(raw("h.safetensors", "{}", 0, 4096), {"h.safetensors", "past the end"});
}

TEST_F(LoaderTest, InvalidJsonHeader) {
  expect_error(raw("j.safetensors", "{\"a\": [1,", 0), {"j.safetensors", "invalid JSON"});
}

TEST_F(LoaderTest, OffsetsOutOfRange) {
  expect_error(
      raw("o.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
      {"o.safetensors", "'w'", "past the end"});
}

TEST_F(LoaderTest, OverlappingOffsets) {
  expect_error(raw("ov.safetensors",
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12),
               {"ov.safetensors", "overlaps"});
}

TEST_F(LoaderTest, BytesNotMatchingShape) {
  expect_error(
      raw("s.safetensors", R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8),
      {"s.safetensors", "'w'", "needs 6"});
}

TEST_F(LoaderTest, HolesInBuffer) {
  expect_error(
      raw("hole.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
      {"hole.safetensors", "belong to no tensor"});
}

TEST_F(LoaderTest, BadFieldTypes) {
  expect_error(raw("d.safetensors", R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})", 4),
               {"unknown dtype 'Q9'"});
  expect_error(
      raw("e.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
      {"'w'", "non-integer"});
  expect_error(raw("f.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
               {"data_offsets"});
  expect_error(raw("g.safetensors", R"([1,2])", 0), {"header does not start"});
  // A number too large for a double is a JSON error too (found by the fuzzer).
  expect_error(raw("n.safetensors", R"({"w": 9e111122})", 0), {"n.safetensors", "invalid JSON"});
}

TEST_F(LoaderTest, MissingTensorAndWrongShape) {
  write_checkpoint(
      dir_.string(), {{"w", DType::kF32, {2, 2}}},
      [](size_t, uint8_t* d) { std::fill(d, d + 16, 0); }, 1 << 20);
  Checkpoint ck = Checkpoint::open(dir_.string());
  float buf[4];
  try {
    ck.read("missing.weight", {2, 2}, DType::kF32, buf);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'missing.weight'"), std::string::npos);
  }
  try {
    ck.read("w", {4}, DType::kF32, buf);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [2,2] but the config implies [4]"),
              std::string::npos);
  }
}

TEST_F(LoaderTest, QuantisedTensorsAreRefused) {
  write_checkpoint(
      dir_.string(), {{"w", DType::kF8E4M3, {4}}},
      [](size_t, uint8_t* d) { std::fill(d, d + 4, 0); }, 1 << 20);
  Checkpoint ck = Checkpoint::open(dir_.string());
  float buf[4];
  try {
    ck.read("w", {4}, DType::kF32, buf);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantised checkpoint: not supported yet"),
              std::string::npos);
  }
}

TEST_F(LoaderTest, IndexNamingMissingShard) {
  write_file(path("model.safetensors.index.json"),
             R"({"weight_map": {"w": "model-00001-of-00002.safetensors"}})");
  EXPECT_THROW(Checkpoint::open(dir_.string()), Error);
  write_file(path("model.safetensors.index.json"), "{not json");
  EXPECT_THROW(Checkpoint::open(dir_.string()), Error);
}

TEST_F(LoaderTest, EmptyDirectory) {
  EXPECT_THROW(Checkpoint::open(dir_.string()), Error);
}

}  // namespace
}  // namespace duet
