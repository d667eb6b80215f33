#include "loader/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace duet {

using json = nlohmann::json;

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                           const TensorFill& fill) {
  // nlohmann's ordered_json keeps insertion order, so the header lists tensors as written.
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& s : specs) {
    header[s.name] = {{"dtype", std::string(dtype_to_safetensors(s.dtype))},
                      {"shape", s.shape},
                      {"data_offsets", {offset, offset + s.bytes()}}};
    offset += s.bytes();
  }
  std::string text = header.dump();
  while (text.size() % 8) text.push_back(' ');
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail(path, ": cannot open for writing: ", std::strerror(errno));
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
  std::vector<uint8_t> buf;
  for (size_t i = 0; ok && i < specs.size(); ++i) {
    buf.resize(specs[i].bytes());
    if (!buf.empty()) fill(i, buf.data());
    ok = std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
  }
  if (!ok || std::fflush(f.get()) != 0) fail(path, ": write failed: ", std::strerror(errno));
  return 8 + text.size() + offset;
}

void write_checkpoint(const std::string& dir, const std::vector<TensorSpec>& specs,
                      const TensorFill& fill, uint64_t max_shard_bytes,
                      const std::function<void(uint64_t, uint64_t)>& progress) {
  // Greedy sharding in the given order.
  std::vector<std::vector<size_t>> shards(1);
  uint64_t cur = 0, total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t b = specs[i].bytes();
    if (cur > 0 && cur + b > max_shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(i);
    cur += b;
    total += b;
  }
  uint64_t done = 0;
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    if (shards.size() == 1) {
      std::snprintf(name, sizeof name, "model.safetensors");
    } else {
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    }
    std::vector<TensorSpec> sub;
    for (size_t i : shards[s]) {
      sub.push_back(specs[i]);
      weight_map[specs[i].name] = name;
    }
    write_safetensors(path_join(dir, name), sub, [&](size_t k, uint8_t* dst) {
      fill(shards[s][k], dst);
      done += specs[shards[s][k]].bytes();
      if (progress) progress(done, total);
    });
  }
  if (shards.size() > 1) {
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file(path_join(dir, "model.safetensors.index.json"), index.dump(2) + "\n");
  }
}

}  // namespace duet
