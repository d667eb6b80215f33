// CUDA backend benchmarks through the Backend interface: the two ceilings (device copy, large
// bf16 GEMM), MLA decode attention (absorbed, paged bf16 cache), the routed-expert op, MLA
// prefill attention and token sampling over a DeepSeek-V3-sized vocabulary. Prints one table;
// docs/PERFORMANCE.md records the results.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda_bench_util.h"

namespace duet {
namespace {

using bench::Bench;
using bench::fmt;
using bench::mla_params;
using bench::parse_ints;
using bench::print;
using bench::Row;

void ceilings_decode_experts(Bench& b, std::vector<Row>& rows, bool mla = true) {
  // (1) ceilings: 1 GiB device copy (read + write counted), 8192^3 bf16 GEMM.
  const size_t copy_bytes = size_t{1} << 30;
  DeviceBuffer src(*b.be, copy_bytes), dst(*b.be, copy_bytes);
  b.be->fill_zero(Tensor::matrix(src.get(), DType::kBF16, 1, copy_bytes / 2));
  const double copy_us = b.time_us([&] { b.be->copy_device(dst.get(), src.get(), copy_bytes); });
  const double copy_gbs = 2.0 * copy_bytes / copy_us / 1e3;
  rows.push_back({"device copy 1 GiB", copy_us, fmt("%.0f GB/s (ceiling)", copy_gbs)});
  src.reset();
  dst.reset();
  {
    const int64_t n = 8192;
    Tensor x = b.random(n, n), w = b.random(n, n), y = b.zeros(n, n, DType::kBF16);
    const double us = b.time_us([&] { b.be->gemm(x, w, y); });
    rows.push_back(
        {"gemm bf16 8192^3", us, fmt("%.0f TFLOP/s (ceiling)", 2.0 * n * n * n / us / 1e6)});
  }
  if (!mla) return;
  // (2) MLA decode: batch 64, context 2048, Moonlight (16 heads) and Kimi K2 (64 heads).
  // Then the e2e benchmark's decode shapes (Moonlight, 1024-token contexts), default kernels only.
  struct MlaShape {
    int64_t B, L, H;
  };
  for (const MlaShape sh : {MlaShape{64, 2048, 16}, MlaShape{64, 2048, 64}, MlaShape{1, 1024, 16},
                            MlaShape{32, 1024, 16}, MlaShape{128, 1024, 16}}) {
    const int64_t B = sh.B, L = sh.L, H = sh.H, dr = 64, r = 512;
    const bool headline = L == 2048;
    const int64_t nb = L / kKvBlockSize;
    std::vector<int32_t> table(B * nb), q_start(B + 1), kv_len(B, L), decode(B, 1), pos(B, L - 1);
    std::iota(table.begin(), table.end(), 0);
    // DUET_BENCH_MLA_TABLE=shuffled: the blocks in a random order, as a pool hands them out
    // after a while of serving (default: each sequence's blocks consecutive in memory).
    if (const char* t = std::getenv("DUET_BENCH_MLA_TABLE"); t && std::string(t) == "shuffled")
      std::shuffle(table.begin(), table.end(), std::mt19937(7));
    std::iota(q_start.begin(), q_start.end(), 0);
    const MlaParams p = mla_params(b, H, pos, q_start, kv_len, decode, table, nb, B * L);
    const double us = b.time_us([&] { b.be->mla_attention(p); }, 20);
    const double bytes = static_cast<double>(B * L * (r + dr) * 2);
    const std::string name =
        "mla decode B" + std::to_string(B) + " L" + std::to_string(L) + " H" + std::to_string(H);
    rows.push_back({name + " whole op", us,
                    fmt("%.0f GB/s cache, %.0f%% of copy", bytes / us / 1e3,
                        100 * bytes / us / 1e3 / copy_gbs)});
    // Phases by CUDA events (median of 5 means of 20 calls): the attention kernel with its
    // split combine is what FlashMLA's benchmark times; the two GEMMs are reported beside it.
    // Variants (mla_decode.cu lists them; 3 is the generic kernel): DUET_BENCH_MLA_VARIANTS
    // picks them, by default on the headline shapes the previous defaults (2: mma.sync
    // kernels) and the wgmma kernels with the combine kernel instead of clusters (12).
    const char* list = std::getenv("DUET_BENCH_MLA_VARIANTS");
    const std::vector<int> variants = list       ? parse_ints(list)
                                      : headline ? std::vector<int>{0, 2, 12}
                                                 : std::vector<int>{0};
    for (const int variant : variants) {
      const bool generic = variant == 3;
      std::vector<MlaDecodePhaseTimes> ts;
      for (int i = 0; i < 5; ++i)
        ts.push_back(cuda_mla_decode_phase_times(*b.be, p, 20, generic, generic ? 0 : variant));
      std::sort(ts.begin(), ts.end(),
                [](const auto& x, const auto& y) { return x.attention_us < y.attention_us; });
      const MlaDecodePhaseTimes& t = ts[2];
      const double gbs = bytes / t.attention_us / 1e3;
      const std::string label = generic        ? " kernel-only, generic kernel"
                                : variant == 0 ? " kernel-only"
                                               : " kernel-only, variant " + std::to_string(variant);
      rows.push_back({name + label, t.attention_us,
                      fmt("%.0f GB/s cache, %.0f%% of copy", gbs, 100 * gbs / copy_gbs)});
      if (variant == 0)
        rows.push_back({name + " q absorption + output projection GEMMs",
                        t.absorb_us + t.project_us,
                        fmt("%.1f + %.1f us", t.absorb_us, t.project_us)});
    }
  }
}

// (3) Moonlight routed experts (E 64, H 2048, I 1408, top-6) at 16, 64, 512 tokens/expert and
// decode batches; only_m != 0: that row alone.
void moe_experts_rows(Bench& b, std::vector<Row>& rows, int64_t only_m) {
  {
    const int64_t E = 64, H = 2048, I = 1408, k = 6;
    Tensor gu = b.random(E * 2 * I, H, 0.02f), dn = b.random(E * H, I, 0.02f);
    // m > 0: m tokens per expert, experts dealt round robin; m < 0: a batch of -m tokens,
    // each with k distinct random experts (as a router picks them); -2000 < m <= -1000: a batch
    // of -m - 1000 tokens that all pick expert 0 among their k (skewed routing).
    std::mt19937 rng(5);
    for (int64_t m : {1, 16, 64, 512, -1, -4, -32, -128, -1128, -1682, -4096}) {
      if (only_m != 0 && m != only_m) continue;
      const bool skewed = m <= -1000 && m > -2000;
      const int64_t T = m > 0 ? m * E / k : skewed ? -m - 1000 : -m;
      std::vector<int32_t> ids(T * k);
      std::vector<float> wv(T * k, 0.1f);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<int32_t> pick(E);
        std::iota(pick.begin(), pick.end(), 0);
        if (m < 0) std::shuffle(pick.begin(), pick.end(), rng);
        if (skewed) std::swap(*std::find(pick.begin(), pick.end(), 0), pick[0]);
        for (int64_t j = 0; j < k; ++j)
          ids[t * k + j] = m > 0 ? static_cast<int32_t>((t * k + j) % E) : pick[j];
      }
      ExpertParams p;
      p.x = b.random(T, H);
      p.ids = b.ints(ids, T, k);
      p.weights = b.floats(wv, T, k);
      p.gate_up = Tensor::stacked(gu.data, DType::kBF16, E, 2 * I, H);
      p.down = Tensor::stacked(dn.data, DType::kBF16, E, H, I);
      p.out = b.zeros(T, H, DType::kBF16);
      const double us = b.time_us([&] { b.be->moe_experts(p); });
      // The same data through the other paths, for comparison: up to 128 tokens the cuBLAS
      // pointer-array chunks, above the mma.sync grouped kernel and the counted cuBLAS batches
      // (pointer arrays, strided); the warpgroup-MMA kernel at every size; with
      // DUET_BENCH_MOE_VARIANTS=n also the mma.sync kernel's alternative tiles 1..n; with
      // DUET_BENCH_MOE_PROBES set the wgmma kernel's loads alone and products alone.
      std::vector<std::pair<int, double>> alt;
      const char* variants = std::getenv("DUET_BENCH_MOE_VARIANTS");
      const int n_variants = variants ? std::atoi(variants) : 0;
      const bool probes = std::getenv("DUET_BENCH_MOE_PROBES") != nullptr;
      for (int path = -7; path <= n_variants; ++path) {
        if (path == 0 || (T <= 128 && path < -1 && path > -5) || (T > 128 && path == -1) ||
            (!probes && (path == -6 || path == -7)))
          continue;
        cuda_moe_experts_path(*b.be, path);
        alt.emplace_back(path, b.time_us([&] { b.be->moe_experts(p); }));
        cuda_moe_experts_path(*b.be, 0);
      }
      const std::set<int32_t> distinct(ids.begin(), ids.end());
      const int64_t touched = static_cast<int64_t>(distinct.size());
      const double wbytes = static_cast<double>(touched) * 3 * I * H * 2;
      const double flops = 2.0 * T * k * 3 * I * H;
      const std::string name = m > 0 ? "moe_experts moonlight " + std::to_string(m) +
                                           " tok/expert (T " + std::to_string(T) + ")"
                                     : "moe_experts moonlight batch T " + std::to_string(T) +
                                           (skewed ? " (all on expert 0, " : " (random routing, ") +
                                           std::to_string(touched) + " experts)";
      rows.push_back(
          {name, us, fmt("%.0f GB/s weights, %.0f TFLOP/s", wbytes / us / 1e3, flops / us / 1e6)});
      for (const auto& [path, t] : alt)
        rows.push_back({name + (path == -1   ? ", cuBLAS chunks"
                                : path == -2 ? ", mma.sync grouped kernel"
                                : path == -3 ? ", counted pointer arrays"
                                : path == -4 ? ", counted cuBLAS batches"
                                : path == -5 ? ", wgmma grouped kernel"
                                : path == -6 ? ", wgmma kernel's loads alone"
                                : path == -7 ? ", wgmma kernel's products alone"
                                             : ", variant " + std::to_string(path)),
                        t, fmt("%.0f GB/s weights", wbytes / t / 1e3)});
    }
  }
}

// (4) MLA prefill over sequences of the given lengths (no cached prefix), 16 heads, qk 192,
// v 128, causal: the whole op, and its two phases by CUDA events (latent gather + kv_b
// up-projection; the fused attention, the part comparable with SDPA on given Q, K, V).
void prefill_rows(Bench& b, std::vector<Row>& rows, const std::vector<int32_t>& lens) {
  const int64_t S = static_cast<int64_t>(lens.size()), H = 16, dn = 128, dr = 64, dv = 128;
  int64_t nb = 0;
  for (int32_t n : lens) nb = std::max<int64_t>(nb, (n + kKvBlockSize - 1) / kKvBlockSize);
  std::vector<int32_t> table(S * nb), q_start(S + 1, 0), kv_len(lens), decode(S, 0), pos;
  std::iota(table.begin(), table.end(), 0);
  double flops = 0;
  std::string shape;
  for (int64_t s = 0; s < S; ++s) {
    q_start[s + 1] = q_start[s] + lens[s];
    for (int32_t t = 0; t < lens[s]; ++t) pos.push_back(t);
    flops += H * (static_cast<double>(lens[s]) * lens[s] / 2) * 2 * (dn + dr + dv);
    shape += (s ? "," : "") + std::to_string(lens[s]);
  }
  const MlaParams p = mla_params(b, H, pos, q_start, kv_len, decode, table, nb, S * nb * 64);
  const double us = b.time_us([&] { b.be->mla_attention(p); });
  const std::string name = "mla prefill " + shape + " H16";
  rows.push_back({name + " whole op (incl. kv_b up-projection)", us,
                  fmt("%.0f TFLOP/s attention", flops / us / 1e6)});
  std::vector<MlaPrefillPhaseTimes> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(cuda_mla_prefill_phase_times(*b.be, p, 10));
  std::sort(ts.begin(), ts.end(),
            [](const auto& x, const auto& y) { return x.attention_us < y.attention_us; });
  const MlaPrefillPhaseTimes& t = ts[2];
  rows.push_back({name + " attention only", t.attention_us,
                  fmt("%.0f TFLOP/s; gather + up-projection %.1f us", flops / t.attention_us / 1e6,
                      t.prepare_us)});
}

// DUET_BENCH_ONLY=prefill skips (1)-(3), e.g. to profile the prefill row alone; =mla runs (1)-(2);
// DUET_BENCH_ONLY=moe:M runs the MoE row M of (3) alone (M < 0: a batch of -M tokens);
// =moe the ceilings and every MoE row (cuda_chain_bench: dependent-launch chains).
int run() {
  Bench b;
  std::vector<Row> rows;
  const std::string only = std::getenv("DUET_BENCH_ONLY") ? std::getenv("DUET_BENCH_ONLY") : "";
  if (only.rfind("moe:", 0) == 0) {
    moe_experts_rows(b, rows, std::stoll(only.substr(4)));
    print(rows);
    return 0;
  }
  if (only == "moe") {
    ceilings_decode_experts(b, rows, false);
    moe_experts_rows(b, rows, 0);
    print(rows);
    return 0;
  }
  if (only == "mla") {  // the ceilings and the MLA decode rows alone
    ceilings_decode_experts(b, rows);
    print(rows);
    return 0;
  }
  if (only != "prefill") {
    ceilings_decode_experts(b, rows);
    moe_experts_rows(b, rows, 0);
  }
  // (4) MLA prefill: 4 sequences x 4096 tokens, 16 heads, qk 192, v 128, causal; then the same
  // with uneven lengths.
  prefill_rows(b, rows, {4096, 4096, 4096, 4096});
  prefill_rows(b, rows, {4096, 2500, 1000, 3000});
  // (5) sample_tokens over V = 163840 f32 logits (approximately normal, sd 2): greedy, and
  // temperature 1 with top-p 0.9 (about half the vocabulary kept) or top-k 50, per call of R
  // rows.
  {
    const int64_t V = 163840;
    for (int64_t R : {1, 32, 128}) {
      std::vector<float> h(static_cast<size_t>(R * V));
      for (auto& v : h) {
        float sum = 0;
        for (int j = 0; j < 4; ++j) {
          b.state ^= b.state << 13;
          b.state ^= b.state >> 7;
          b.state ^= b.state << 17;
          sum += static_cast<float>(b.state >> 40) / 16777216.0f;
        }
        v = 3.46f * (sum - 2.0f);
      }
      Tensor logits = b.floats(h, R, V);
      Tensor tokens = b.zeros(1, R, DType::kI32);
      for (int mode : {0, 1, 2}) {  // greedy, T1 top-p 0.9, T1 top-k 50
        std::vector<SampleSpec> specs(static_cast<size_t>(R));
        for (int64_t r = 0; r < R; ++r) {
          specs[r].temperature = mode == 0 ? 0.0f : 1.0f;
          specs[r].top_p = mode == 1 ? 0.9f : 1.0f;
          specs[r].top_k = mode == 2 ? 50 : 0;
          specs[r].seed = static_cast<uint64_t>(r);
        }
        const double us = b.time_us([&] {
          for (auto& s : specs) ++s.draw;
          b.be->sample_tokens(logits, specs, tokens);
        });
        rows.push_back({std::string("sample_tokens V163840 R") + std::to_string(R) +
                            (mode == 0   ? " greedy"
                             : mode == 1 ? " T1 top-p 0.9"
                                         : " T1 top-k 50"),
                        us, fmt("%.0f GB/s logits", 4.0 * R * V / us / 1e3)});
      }
    }
  }
  print(rows);
  return 0;
}

}  // namespace
}  // namespace duet

int main() {
  if (!duet::cuda_device_available()) {
    std::fprintf(stderr, "cuda_bench: no usable CUDA device\n");
    return 1;
  }
  return duet::run();
}
