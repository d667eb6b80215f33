#include "loader/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace duet {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we.
static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(shape[i]));
  }
  s.push_back(']');
  return s;
}

// Bytes per element of every dtype safetensors defines (sub-byte types are refused).
static int64_t header_dtype_size(const std::string& d) {
  static const std::map<std::string, int64_t> sizes = {
      {"BOOL", 1},    {"U8", 1},          {"I8", 1},          {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"F8_E8M0", 1}, {"F8_E4M3FNUZ", 1}, {"F8_E5M2FNUZ", 1}, {"I16", 2},     {"U16", 2},
      {"F16", 2},     {"BF16", 2},        {"I32", 4},         {"U32", 4},     {"F32", 4},
      {"I64", 8},     {"U64", 8},         {"F64", 8},         {"C64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

std::vector<TensorInfo> parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                 const std::string& path) {
  json j;
  try {
    j = json::parse(header.begin(), header.end());
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON header: ", e.what());
  }
  if (!j.is_object()) fail(path, ": header is not a JSON object");
  std::vector<TensorInfo> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const json& v = it.value();
    const std::string where = path + ": tensor '" + name + "'";
    if (!v.is_object()) fail(where, ": entry is not an object");
    TensorInfo t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail(where, ": missing or non-string 'dtype'");
    t.dtype_name = dt->get<std::string>();
    t.dtype = dtype_from_safetensors(t.dtype_name);
    const int64_t esize = header_dtype_size(t.dtype_name);
    if (esize == 0) fail(where, ": unknown dtype '", t.dtype_name, "'");
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail(where, ": missing or non-array 'shape'");
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) fail(where, ": shape ", sh->dump(), " has a non-integer dim");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t{1} << 40)) fail(where, ": shape dim ", dim, " is implausibly large");
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / dim)
        fail(where, ": shape ", sh->dump(), " overflows");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(where, ": 'data_offsets' must be two non-negative integers");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end) fail(where, ": data_offsets [", t.begin, ",", t.end, "] are reversed");
    if (t.end > data_size)
      fail(where, ": data_offsets [", t.begin, ",", t.end, "] run past the end of the data (",
           data_size, " bytes; truncated file?)");
    const uint64_t expect = numel * static_cast<uint64_t>(esize);
    if (t.end - t.begin != expect)
      fail(where, ": holds ", t.end - t.begin, " bytes but shape ", shape_str(t.shape), " x ",
           t.dtype_name, " needs ", expect);
    out.push_back(std::move(t));
  }
  // Tensors must tile the buffer: sorted by offset, no overlap, no holes.
  std::vector<const TensorInfo*> order;
  for (const auto& t : out) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const TensorInfo* t : order) {
    if (t->begin < pos)
      fail(path, ": tensor '", t->name, "' overlaps the tensor before it (offset ", t->begin, " < ",
           pos, ")");
    if (t->begin > pos)
      fail(path, ": bytes ", pos, "..", t->begin, " before tensor '", t->name,
           "' belong to no tensor");
    pos = t->end;
  }
  if (pos != data_size)
    fail(path, ": the last ", data_size - pos, " bytes of the file belong to no tensor");
  return out;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, ": cannot stat: ", std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path, ": truncated file (", size, " bytes; a safetensors file starts with an 8-byte ",
         "header length)");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail(path, ": mmap failed: ", std::strerror(errno));
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes) fail(path, ": header length ", n, " exceeds the 100 MB limit");
  if (n > size - 8)
    fail(path, ": header length ", n, " runs past the end of the file (", size, " bytes)");
  if (n == 0 || bytes[8] != '{') fail(path, ": header does not start with '{'");
  std::string_view header(reinterpret_cast<const char*>(bytes + 8), n);
  f->data_ = bytes + 8 + n;
  f->tensors_ = parse_safetensors_header(header, size - 8 - n, path);
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->by_name_[f->tensors_[i].name] = i;
  // Weights are read once, in order: tell the kernel so it reads ahead.
  madvise(map, size, MADV_SEQUENTIAL);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace duet
