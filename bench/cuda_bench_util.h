// Shared pieces of the CUDA benchmark programs: random device tensors, a timing loop, the
// printed table, and MlaParams with the DeepSeek MLA dims.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"

namespace duet::bench {

struct Bench {
  std::unique_ptr<Backend> be = make_cuda_backend();
  std::vector<DeviceBuffer> bufs;
  uint64_t state = 88172645463325252ull;

  // Random bf16 in [-scale, scale): [rows, cols].
  Tensor random(int64_t rows, int64_t cols, float scale = 1.0f) {
    std::vector<uint16_t> h(static_cast<size_t>(rows * cols));
    for (auto& v : h) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      v = f32_to_bf16(scale * (static_cast<float>(state >> 40) / 8388608.0f - 1.0f));
    }
    bufs.emplace_back(*be, h.size() * 2);
    be->copy_to_device(bufs.back().get(), h.data(), h.size() * 2);
    return Tensor::matrix(bufs.back().get(), DType::kBF16, rows, cols);
  }
  // f32 [rows, cols] holding v.
  Tensor floats(const std::vector<float>& v, int64_t rows, int64_t cols) {
    bufs.emplace_back(*be, std::max<size_t>(v.size(), 1) * 4);
    be->copy_to_device(bufs.back().get(), v.data(), v.size() * 4);
    return Tensor::matrix(bufs.back().get(), DType::kF32, rows, cols);
  }
  Tensor ints(const std::vector<int32_t>& v, int64_t rows, int64_t cols) {
    bufs.emplace_back(*be, std::max<size_t>(v.size(), 1) * 4);
    be->copy_to_device(bufs.back().get(), v.data(), v.size() * 4);
    return Tensor::matrix(bufs.back().get(), DType::kI32, rows, cols);
  }
  Tensor zeros(int64_t rows, int64_t cols, DType dt) {
    bufs.emplace_back(*be, static_cast<size_t>(rows * cols) * dtype_size(dt));
    Tensor t = Tensor::matrix(bufs.back().get(), dt, rows, cols);
    be->fill_zero(t);
    return t;
  }
  // Median over 5 runs of the mean time of `iters` calls, in microseconds.
  double time_us(const std::function<void()>& f, int iters = 10) {
    for (int i = 0; i < 3; ++i) f();
    be->synchronize();
    std::vector<double> runs;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) f();
      be->synchronize();
      runs.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
          iters);
    }
    std::sort(runs.begin(), runs.end());
    return runs[2];
  }
};

struct Row {
  std::string what;
  double us;
  std::string rate;
};

inline void print(const std::vector<Row>& rows) {
  std::printf("\n| benchmark | time (us) | rate |\n|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %.1f | %s |\n", r.what.c_str(), r.us, r.rate.c_str());
}

// "0,4,5" -> {0, 4, 5}
inline std::vector<int> parse_ints(const std::string& list) {
  std::vector<int> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(std::stoi(item));
  return out;
}

inline std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

// MlaParams with the DeepSeek MLA dims (qk 128 + 64, v 128, rank 512) and random q, cache and
// kv_b: pos [T], q_start [S + 1], kv_len / decode [S], table [S, nb]; cache_rows rows of
// cache. The host vectors must outlive the params (host_* point into them).
inline MlaParams mla_params(Bench& b, int64_t H, const std::vector<int32_t>& pos,
                            const std::vector<int32_t>& q_start, const std::vector<int32_t>& kv_len,
                            const std::vector<int32_t>& decode, const std::vector<int32_t>& table,
                            int64_t nb, int64_t cache_rows) {
  const int64_t dn = 128, dr = 64, dv = 128, r = 512;
  const int64_t T = static_cast<int64_t>(pos.size()), S = static_cast<int64_t>(kv_len.size());
  MlaParams p;
  p.q = b.random(T, H * (dn + dr));
  p.positions = b.ints(pos, 1, T);
  p.out = b.zeros(T, H * dv, DType::kBF16);
  p.q_start = b.ints(q_start, 1, S + 1);
  p.kv_len = b.ints(kv_len, 1, S);
  p.decode = b.ints(decode, 1, S);
  p.block_table = b.ints(table, S, nb);
  p.num_seqs = S;
  p.host_q_start = q_start.data();
  p.host_kv_len = kv_len.data();
  p.host_decode = decode.data();
  p.cache = b.random(cache_rows, r + dr);
  p.kv_b = b.random(H * (dn + dv), r, 0.05f);
  p.heads = H;
  p.nope_dim = dn;
  p.rope_dim = dr;
  p.v_dim = dv;
  p.kv_rank = r;
  p.scale = 0.0722f;
  return p;
}

}  // namespace duet::bench
