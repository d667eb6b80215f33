#include "loader/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace duet {

using json = nlohmann::json;

Checkpoint Checkpoint::open(const std::string& dir, const std::string& prefix) {
  Checkpoint ck;
  ck.dir_ = dir;
  ck.prefix_ = prefix;
  const std::string index_path = path_join(dir, "model.safetensors.index.json");
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_file;
  auto open_file = [&](const std::string& file) -> std::shared_ptr<SafetensorsFile> {
    auto it = by_file.find(file);
    if (it != by_file.end()) return it->second;
    const std::string path = path_join(dir, file);
    if (!file_exists(path))
      fail(index_path, ": weight_map names '", file, "', which does not exist");
    std::shared_ptr<SafetensorsFile> f = SafetensorsFile::open(path);
    by_file[file] = f;
    ck.files_.push_back(f);
    return f;
  };
  if (file_exists(index_path)) {
    json index;
    try {
      index = json::parse(read_file(index_path));
    } catch (const json::exception& e) {
      fail(index_path, ": invalid JSON: ", e.what());
    }
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object()) fail(index_path, ": missing 'weight_map' object");
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        fail(index_path, ": weight_map['", it.key(), "'] is not a file name");
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == "..")
        fail(index_path, ": weight_map file '", file, "' is not a plain file name");
      auto f = open_file(file);
      const TensorInfo* t = f->find(it.key());
      if (!t) fail(index_path, ": weight_map puts '", it.key(), "' in ", file, ", which lacks it");
      ck.entries_[it.key()] = Entry{f.get(), t};
    }
  } else {
    const std::string single = path_join(dir, "model.safetensors");
    if (!file_exists(single)) fail(dir, ": no model.safetensors or model.safetensors.index.json");
    auto f = open_file("model.safetensors");
    for (const auto& t : f->tensors()) ck.entries_[t.name] = Entry{f.get(), &t};
  }
  return ck;
}

bool Checkpoint::has(const std::string& name) const {
  return entries_.count(prefix_ + name) > 0;
}

const Checkpoint::Entry& Checkpoint::entry(const std::string& name) const {
  auto it = entries_.find(prefix_ + name);
  if (it == entries_.end()) fail(dir_, ": missing tensor '", prefix_ + name, "'");
  return it->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return *entry(name).info;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) out.push_back(k);
  return out;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& [k, e] : entries_) n += e.info->end - e.info->begin;
  return n;
}

void convert_floats(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (st == dt) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(st));
    return;
  }
  const auto* s8 = static_cast<const uint8_t*>(src);
  auto load = [&](int64_t i) -> float {
    if (st == DType::kF32) {
      float f;
      std::memcpy(&f, s8 + 4 * i, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, s8 + 2 * i, 2);
    return st == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
  };
  if (dt == DType::kF32) {
    auto* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = load(i);
  } else if (dt == DType::kBF16) {
    auto* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(load(i));
  } else {
    fail("cannot convert ", dtype_name(st), " to ", dtype_name(dt));
  }
}

void Checkpoint::read(const std::string& name, const std::vector<int64_t>& expected_shape,
                      DType dtype, void* dst) const {
  const Entry& e = entry(name);
  const TensorInfo& t = *e.info;
  const std::string where = e.file->path() + ": tensor '" + t.name + "'";
  if (t.dtype == DType::kF8E4M3 || t.dtype_name == "I32" || t.dtype_name == "U8")
    fail(where, " has dtype ", t.dtype_name, ": quantised checkpoint: not supported yet ",
         "(convert it to bf16 first)");
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16)
    fail(where, " has dtype ", t.dtype_name, "; expected BF16, F16 or F32");
  if (t.shape != expected_shape)
    fail(where, " has shape ", shape_str(t.shape), " but the config implies ",
         shape_str(expected_shape));
  convert_floats(e.file->data(t), t.dtype, dst, dtype, t.numel());
}

}  // namespace duet
