// Access to the Hugging Face golden fixtures under tests/data/golden/<name>/ (written by
// tools/reference/make_golden.py): per prompt, the ids, fp64 reference logits of every
// position, the fp64 greedy continuation and its top-2 margins.
#pragma once

#include <string>
#include <vector>

namespace duet::testing {

struct GoldenPrompt {
  std::vector<int32_t> ids;
  std::vector<float> logits;    // [ids.size(), vocab]
  std::vector<float> bf16_err;  // [ids.size()] HF bf16 eager max-abs error per position
  std::vector<int32_t> greedy;  // fp64 greedy continuation
  std::vector<float> margin;    // top-1 minus top-2 at each greedy step
  float max_abs_logit() const;
};

struct GoldenFixture {
  std::string name;
  std::string dir;
  std::vector<GoldenPrompt> prompts;
};

// Every fixture directory under tests/data/golden (relative to the source root, the working
// directory of ctest).
std::vector<std::string> golden_fixture_dirs();
// The fixture directory's last component as a test-name suffix ("v2-lite" -> "v2_lite": gtest
// names allow no '-').
std::string fixture_test_name(const std::string& dir);
GoldenFixture load_golden(const std::string& dir);

}  // namespace duet::testing
