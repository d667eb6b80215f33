#include "golden/golden_fixture.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "loader/safetensors.h"

namespace duet::testing {

float GoldenPrompt::max_abs_logit() const {
  float m = 0;
  for (float v : logits) m = std::max(m, std::abs(v));
  return m;
}

std::vector<std::string> golden_fixture_dirs() {
  std::vector<std::string> dirs;
  const std::filesystem::path root = "tests/data/golden";
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory() && std::filesystem::exists(e.path() / "golden.safetensors"))
      dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string fixture_test_name(const std::string& dir) {
  std::string n = dir.substr(dir.rfind('/') + 1);
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

namespace {
template <typename T>
std::vector<T> read_tensor(const SafetensorsFile& f, const std::string& name) {
  const TensorInfo* t = f.find(name);
  if (!t) return {};
  std::vector<T> v(static_cast<size_t>(t->numel()));
  DUET_CHECK(t->end - t->begin == v.size() * sizeof(T), "golden tensor ", name, " has wrong size");
  std::memcpy(v.data(), f.data(*t), v.size() * sizeof(T));
  return v;
}
}  // namespace

GoldenFixture load_golden(const std::string& dir) {
  GoldenFixture g;
  g.dir = dir;
  g.name = std::filesystem::path(dir).filename().string();
  auto f = SafetensorsFile::open(dir + "/golden.safetensors");
  for (int i = 0;; ++i) {
    const std::string p = "prompt_" + std::to_string(i) + ".";
    if (!f->find(p + "ids")) break;
    GoldenPrompt gp;
    gp.ids = read_tensor<int32_t>(*f, p + "ids");
    gp.logits = read_tensor<float>(*f, p + "logits");
    gp.bf16_err = read_tensor<float>(*f, p + "bf16_err");
    gp.greedy = read_tensor<int32_t>(*f, p + "greedy");
    gp.margin = read_tensor<float>(*f, p + "margin");
    g.prompts.push_back(std::move(gp));
  }
  return g;
}

}  // namespace duet::testing
