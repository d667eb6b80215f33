// MLA attention (mixed decode / prefill sequences, cached prefixes, permuted block tables) and
// the MoE router and experts: CUDA against the CPU reference.
#include <cstdlib>
#include <set>

#include "backend/cuda/cuda_test_util.h"

namespace duet {
namespace {

struct MlaCase {
  int64_t H, dn, dr, dv, r;
  std::vector<int32_t> cached, fresh, decode;  // per sequence
};

// H heads at the DeepSeek MLA dims; every sequence decodes one token after `cached` tokens.
MlaCase decode_case(int64_t H, const std::vector<int32_t>& cached) {
  const std::vector<int32_t> ones(cached.size(), 1);
  return {H, 128, 64, 128, 512, cached, ones, ones};
}

class CudaMla : public CudaOps {
 protected:
  // variants: also each listed kernel variant of mla_decode.cu (3: the generic kernel).
  // plan_len > 0: launches planned for that many keys per sequence (a decode graph's length
  // bucket) while the kernels read the true lengths.
  void run(const MlaCase& m, uint32_t seed, const std::vector<int>& variants = {},
           int32_t plan_len = 0) {
    const int64_t S = static_cast<int64_t>(m.cached.size()), W = m.r + m.dr;
    std::vector<int32_t> q_start{0}, kv_len, positions;
    int64_t total_blocks = 0, max_blocks = 1;
    for (int64_t s = 0; s < S; ++s) {
      q_start.push_back(q_start.back() + m.fresh[s]);
      kv_len.push_back(m.cached[s] + m.fresh[s]);
      for (int32_t j = 0; j < m.fresh[s]; ++j) positions.push_back(m.cached[s] + j);
      const int64_t nb = (kv_len.back() + kKvBlockSize - 1) / kKvBlockSize;
      total_blocks += nb;
      max_blocks = std::max(max_blocks, nb);
    }
    const int64_t T = q_start.back(), NB = total_blocks + 1;
    // Blocks handed out in a random order, so the block table is a permutation.
    std::vector<int32_t> perm(NB);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
    std::vector<int32_t> table(S * max_blocks, 0);
    int64_t next = 0;
    for (int64_t s = 0; s < S; ++s)
      for (int64_t b = 0; b * kKvBlockSize < kv_len[s]; ++b)
        table[s * max_blocks + b] = perm[next++];
    auto cache = randn(NB * kKvBlockSize * W, seed + 1);
    auto q = randn(T * m.H * (m.dn + m.dr), seed + 2);
    auto kvb = randn(m.H * (m.dn + m.dv) * m.r, seed + 3, 0.1f);
    std::vector<float> ref(T * m.H * m.dv, NAN);

    std::vector<int32_t> planned = kv_len;
    for (int32_t& n : planned) n = std::max(n, plan_len);
    MlaParams p;
    p.num_seqs = S;
    p.host_q_start = q_start.data();
    p.host_kv_len = planned.data();
    p.host_decode = m.decode.data();
    p.heads = m.H;
    p.nope_dim = m.dn;
    p.rope_dim = m.dr;
    p.v_dim = m.dv;
    p.kv_rank = m.r;
    p.scale = 1.0f / std::sqrt(static_cast<float>(m.dn + m.dr));
    MlaParams c = p;
    c.q = Tensor::matrix(q.data(), DType::kF32, T, m.H * (m.dn + m.dr));
    c.positions = Tensor::matrix(positions.data(), DType::kI32, 1, T);
    c.out = Tensor::matrix(ref.data(), DType::kF32, T, m.H * m.dv);
    c.q_start = Tensor::matrix(q_start.data(), DType::kI32, 1, S + 1);
    c.kv_len = Tensor::matrix(kv_len.data(), DType::kI32, 1, S);
    c.decode = Tensor::matrix(const_cast<int32_t*>(m.decode.data()), DType::kI32, 1, S);
    c.block_table = Tensor::matrix(table.data(), DType::kI32, S, max_blocks);
    c.cache = Tensor::matrix(cache.data(), DType::kF32, NB * kKvBlockSize, W);
    c.kv_b = Tensor::matrix(kvb.data(), DType::kF32, m.H * (m.dn + m.dv), m.r);
    cpu::mla_attention(pool, c);

    p.q = upload(q, T, m.H * (m.dn + m.dr));
    p.positions = upload_i32(positions, 1, T);
    p.out = empty(T, m.H * m.dv);
    p.q_start = upload_i32(q_start, 1, S + 1);
    p.kv_len = upload_i32(kv_len, 1, S);
    p.decode = upload_i32(m.decode, 1, S);
    p.block_table = upload_i32(table, S, max_blocks);
    p.cache = upload(cache, NB * kKvBlockSize, W);
    p.kv_b = upload(kvb, m.H * (m.dn + m.dv), m.r);
    be->mla_attention(p);
    expect_close(download(p.out), ref, 2e-2f, "mla_attention");
    for (const int v : variants) {
      SCOPED_TRACE("variant " + std::to_string(v));
      cuda_mla_decode_phase_times(*be, p, 1, v == 3, v == 3 ? 0 : v);
      expect_close(download(p.out), ref, 2e-2f, "mla_attention");
    }
  }
};

TEST_F(CudaMla, TinyDimsMixedBatch) {
  run({4, 16, 8, 12, 32, {0, 70, 0, 130, 10, 5}, {5, 1, 1, 3, 2, 0}, {0, 1, 0, 0, 1, 1}}, 10);
  run({4, 16, 8, 12, 32, {0}, {1}, {1}}, 11);  // one token, one key
}

TEST_F(CudaMla, RealDims16Heads) {
  run({16, 128, 64, 128, 512, {0, 300, 1000, 64, 0}, {100, 1, 1, 70, 1}, {0, 1, 1, 0, 1}}, 12);
}

// Long chunked prefills (cached prefix + new tokens) next to a decode row. Where cuDNN loads,
// the prefill sequences go through its fused attention as one ragged batch.
const MlaCase kLongPrefill{
    16, 128, 64, 128, 512, {0, 1000, 2, 3000, 50}, {700, 300, 1, 129, 600}, {0, 0, 1, 0, 0}};

TEST_F(CudaMla, RealDimsLongChunkedPrefill) {
  run(kLongPrefill, 14);
  run(kLongPrefill, 15);  // the bucket's graph now cached
  // Same bucket (batch 4, 1024 x 4096) with other lengths and a padding entry (3 sequences), then
  // a single sequence of one token over a cached prefix.
  run({16, 128, 64, 128, 512, {0, 3500, 7}, {1000, 200, 1}, {0, 0, 0}}, 16);
  run({16, 128, 64, 128, 512, {0, 3500, 7}, {1000, 200, 1}, {0, 0, 0}}, 17);
  run({16, 128, 64, 128, 512, {130}, {1}, {0}}, 18);
}

// The same with the own prefill kernel forced, so the fallback stays covered where cuDNN exists.
TEST_F(CudaMla, RealDimsLongChunkedPrefillOwnKernel) {
  setenv("DUET_MLA_PREFILL", "kernel", 1);
  be = make_cuda_backend();
  unsetenv("DUET_MLA_PREFILL");
  run(kLongPrefill, 19);
}

TEST_F(CudaMla, RealDims64HeadsLongDecode) {
  run({64, 128, 64, 128, 512, {2047, 511, 3000}, {1, 1, 2}, {1, 1, 1}}, 13);
}

// One or two decode tokens over long contexts: many KV splits, whose combine also applies the
// output projection (mla_decode_combine.cuh); beside a prefill sequence, whose rows it must
// leave alone; with odd head counts and a short latent (tiny dims); and two tokens of one
// sequence.
TEST_F(CudaMla, FewDecodeTokensCombineWithProjection) {
  run({16, 128, 64, 128, 512, {1000}, {1}, {1}}, 30);
  run({16, 128, 64, 128, 512, {3000, 700}, {1, 1}, {1, 1}}, 31);
  run({64, 128, 64, 128, 512, {2047}, {1}, {1}}, 32);
  run({16, 128, 64, 128, 512, {5, 0, 1500}, {1, 40, 1}, {1, 0, 1}}, 33);
  run({24, 128, 64, 128, 512, {4000}, {1}, {1}}, 34);
  run({4, 16, 8, 12, 32, {900, 0}, {1, 3}, {1, 0}}, 35);
  run({16, 128, 64, 128, 512, {1500}, {2}, {1}}, 36);
}

// Launches planned for a longer length than the sequences have, as a decode graph plans them
// for its length bucket: the splits past a sequence's keys stay empty, and both combines (with
// and without the output projection) must leave them out.
TEST_F(CudaMla, DecodePlannedForALongerBucket) {
  run({16, 128, 64, 128, 512, {1029}, {1}, {1}}, 50, {}, 2048);
  run({16, 128, 64, 128, 512, {1029, 70}, {1, 1}, {1, 1}}, 51, {}, 2048);
  run({16, 128, 64, 128, 512, {1029, 300, 2000}, {1, 1, 1}, {1, 1, 1}}, 52, {}, 4096);
  run({64, 128, 64, 128, 512, {600}, {1}, {1}}, 53, {}, 2048);
  run({4, 16, 8, 12, 32, {100}, {1}, {1}}, 54, {}, 1024);
}

// The 512 + 64 kernels (mla_decode_warps.cuh, mla_decode_fast.cuh, the generic one at 16
// rows) on each of their shapes: 16-row, 32-row and 64-row CTAs (heads not a multiple of 16,
// several tokens per sequence), L = 1, lengths not a multiple of the 32/64-key stage, many KV
// splits (few long sequences) and one split (more CTAs than SMs: o_lat written without the
// combine). Short contexts on the three CTA shapes, for compute-sanitizer memcheck and racecheck.
TEST_F(CudaMla, FastKernelSmall) {
  run({16, 128, 64, 128, 512, {0, 70, 127}, {1, 1, 1}, {1, 1, 1}}, 21);
  run({16, 128, 64, 128, 512, {0, 33}, {2, 1}, {1, 1}}, 22);  // 32 rows
  run({64, 128, 64, 128, 512, {0, 40}, {1, 1}, {1, 1}}, 23);  // 64 rows
}

TEST_F(CudaMla, FastKernel16RowsEdgeLengths) {
  run({16, 128, 64, 128, 512, {0, 64, 126, 4999}, {1, 1, 1, 1}, {1, 1, 1, 1}}, 14);
  run({16, 128, 64, 128, 512, {0}, {1}, {1}}, 15);
}

// 16 heads over many sequences, lengths around the 32-key tile and the 64-key block, and
// enough splits that the last, partial tile of a sequence lands in any stage.
TEST_F(CudaMla, Decode16RowsManySequences) {
  run(decode_case(16, {0, 31, 32, 33, 64, 95, 300, 1000, 9, 2}), 24);
  run(decode_case(16, {4999, 1, 127, 62, 63, 2047, 5, 6}), 25);
}

// 64 heads and enough sequences that each split runs more tiles than the kernel has stages, so
// every stage is refilled after the warps are done with it.
TEST_F(CudaMla, WarpsKernel64RowsStageReuse) {
  std::vector<int32_t> cached;
  for (int32_t s = 0; s < 40; ++s) cached.push_back(600 + 7 * s);
  run(decode_case(64, cached), 26);
}

// Every kernel variant mla_decode.cu keeps for the benchmark, on 16 and 64 heads (one and two
// tokens per sequence, a partial last tile, more tiles than stages).
TEST_F(CudaMla, KernelVariants) {
  const std::vector<int> all{1, 2, 3, 4, 5, 6, 7, 9, 12};
  run({16, 128, 64, 128, 512, {0, 95, 700, 33}, {1, 2, 1, 1}, {1, 1, 1, 1}}, 27, all);
  run({64, 128, 64, 128, 512, {0, 31, 200, 1500}, {1, 1, 2, 1}, {1, 1, 1, 1}}, 28, all);
}

TEST_F(CudaMla, FastKernelOddHeadsAndTokens) {
  run({24, 128, 64, 128, 512, {0, 95, 700}, {1, 2, 1}, {1, 1, 1}}, 16);  // 24 and 48 rows
  run({40, 128, 64, 128, 512, {33, 1500}, {1, 3}, {1, 1}}, 17);          // 40 and 120 rows
  run({64, 128, 64, 128, 512, {0, 31, 200}, {1, 1, 2}, {1, 1, 1}}, 18);  // L 1, 32, 202
  run({16, 128, 64, 128, 512, {5, 0, 90}, {2, 40, 3}, {1, 0, 1}}, 19);   // decode + prefill
}

TEST_F(CudaMla, FastKernelOneSplitManySequences) {
  std::vector<int32_t> cached;
  for (int32_t s = 0; s < 300; ++s) cached.push_back(s % 37);
  run(decode_case(16, cached), 20);
}

class CudaMoe : public CudaOps {
 protected:
  void experts_match_cpu(int64_t H, int64_t I);
};

TEST_F(CudaMoe, RouterMatchesCpuIncludingTies) {
  struct Case {
    RouterScoring scoring;
    int64_t E, k, groups, topk_groups;
  };
  const Case cases[] = {{RouterScoring::kSigmoidNoauxTc, 16, 4, 4, 2},
                        {RouterScoring::kSigmoidNoauxTc, 64, 6, 1, 1},
                        {RouterScoring::kSoftmaxGreedy, 16, 3, 1, 1},
                        {RouterScoring::kSoftmaxGroupLimited, 64, 6, 8, 3}};
  const int64_t H = 64;
  std::mt19937 rng(5);
  for (const Case& cs : cases) {
    for (int64_t T : {0, 1, 2, 33, 200, 2}) {  // 1-2: the fused launch, twice
      SCOPED_TRACE("E " + std::to_string(cs.E) + " T " + std::to_string(T));
      // Small multiples of 1/4 and 1/8: every logit is exact in fp32, so ties are real ties.
      std::vector<float> x(T * H), gate(cs.E * H), bias(cs.E);
      for (auto& v : x) v = static_cast<float>(static_cast<int>(rng() % 9) - 4) / 4;
      for (auto& v : gate) v = static_cast<float>(static_cast<int>(rng() % 9) - 4) / 8;
      for (auto& v : bias) v = static_cast<float>(static_cast<int>(rng() % 5) - 2) / 16;
      std::vector<int32_t> valid(T);
      for (int64_t t = 0; t < T; ++t) valid[t] = t % 5 != 4;
      std::vector<int32_t> ids(T * cs.k, 7);
      std::vector<float> w(T * cs.k, NAN);
      RouterParams p;
      p.scoring = cs.scoring;
      p.num_experts = cs.E;
      p.top_k = cs.k;
      p.n_group = cs.groups;
      p.topk_group = cs.topk_groups;
      p.norm_topk_prob = true;
      p.routed_scaling_factor = 2.5f;
      RouterParams c = p;
      c.x = Tensor::matrix(x.data(), DType::kF32, T, H);
      c.gate = Tensor::matrix(gate.data(), DType::kF32, cs.E, H);
      if (cs.scoring == RouterScoring::kSigmoidNoauxTc)
        c.bias = Tensor::matrix(bias.data(), DType::kF32, 1, cs.E);
      c.valid = Tensor::matrix(valid.data(), DType::kI32, 1, T);
      c.ids = Tensor::matrix(ids.data(), DType::kI32, T, cs.k);
      c.weights = Tensor::matrix(w.data(), DType::kF32, T, cs.k);
      cpu::moe_route(pool, c);
      p.x = upload(x, T, H);
      p.gate = upload(gate, cs.E, H);
      if (cs.scoring == RouterScoring::kSigmoidNoauxTc) p.bias = upload(bias, 1, cs.E, DType::kF32);
      p.valid = upload_i32(valid, 1, T);
      p.ids = empty(T, cs.k, DType::kI32);
      p.weights = empty(T, cs.k, DType::kF32);
      be->moe_route(p);
      const auto got_ids = download(p.ids);
      for (int64_t i = 0; i < T * cs.k; ++i) ASSERT_EQ(got_ids[i], ids[i]) << "entry " << i;
      expect_close(download(p.weights), w, 1e-5f, "router weights");
    }
  }
}

// The norm before a MoE layer's router in the router's own launch (one token): the residual,
// the normed row and the router's picks and weights have the bits of add_rms_norm + moe_route.
TEST_F(CudaMoe, NormInTheRouterLaunchMatchesTheTwoOps) {
  struct Case {
    int64_t H, E, k;
  };
  // Moonlight's 2048 x 64 (one chunk per thread, one-pass selection); 2304 x 128 (some threads
  // two chunks, k-round selection); 64 x 16 (most threads idle).
  for (const Case& cs : {Case{2048, 64, 6}, Case{2304, 128, 8}, Case{64, 16, 4}}) {
    SCOPED_TRACE("H " + std::to_string(cs.H) + " E " + std::to_string(cs.E));
    const int64_t H = cs.H;
    const auto hidden = randn(H, 50), sub = randn(H, 51), norm_w = randn(H, 52);
    const auto gate = randn(cs.E * H, 53, 0.05f), bias = randn(cs.E, 54, 0.1f);
    std::vector<float> got[4], want[4];  // residual, normed, ids, weights
    for (int fused = 0; fused < 2; ++fused) {
      RouterParams p;
      p.scoring = RouterScoring::kSigmoidNoauxTc;
      p.num_experts = cs.E;
      p.top_k = cs.k;
      p.routed_scaling_factor = 2.5f;
      p.gate = upload(gate, cs.E, H);
      p.bias = upload(bias, 1, cs.E, DType::kF32);
      p.ids = empty(1, cs.k, DType::kI32);
      p.weights = empty(1, cs.k, DType::kF32);
      Tensor res = upload(hidden, 1, H), x = upload(sub, 1, H);
      Tensor w = upload(norm_w, 1, H, DType::kF32), out = empty(1, H);
      p.x = out;
      if (fused) {
        const int64_t before = cuda_norm_routes_in_one_launch(*be);
        be->add_rms_norm_route(res, x, w, 1e-6f, out, p);
        EXPECT_EQ(cuda_norm_routes_in_one_launch(*be), before + 1) << "one launch";
      } else {
        be->add_rms_norm(res, x, w, 1e-6f, out);
        be->moe_route(p);
      }
      auto& dst = fused ? got : want;
      dst[0] = download(res);
      dst[1] = download(out);
      dst[2] = download(p.ids);
      dst[3] = download(p.weights);
    }
    EXPECT_EQ(got[0], want[0]) << "residual";
    EXPECT_EQ(got[1], want[1]) << "normed row";
    EXPECT_EQ(got[2], want[2]) << "expert ids";
    EXPECT_EQ(got[3], want[3]) << "expert weights";
  }
}

// NaN logits rank last on both selection paths (by ranking up to 64 experts, in k rounds above):
// a NaN gate row's expert is never picked while finite ones are left, and a token whose logits
// are all NaN still gets k distinct experts in range instead of an out-of-bounds write.
TEST_F(CudaMoe, RouterRanksNanLast) {
  const int64_t H = 64, k = 4, nan_expert = 5;
  for (int64_t E : {16, 128}) {
    for (int64_t T : {1, 3}) {  // the fused launch, and the product + selection kernel
      SCOPED_TRACE("E " + std::to_string(E) + " T " + std::to_string(T));
      auto x = randn(T * H, 40), gate = randn(E * H, 41, 0.1f);
      for (int64_t h = 0; h < H; ++h) gate[nan_expert * H + h] = NAN;
      if (T == 3)
        for (int64_t h = 0; h < H; ++h) x[H + h] = NAN;  // token 1: every logit NaN
      RouterParams p;
      p.scoring = RouterScoring::kSigmoidNoauxTc;
      p.num_experts = E;
      p.top_k = k;
      p.n_group = 1;
      p.topk_group = 1;
      p.norm_topk_prob = true;
      p.routed_scaling_factor = 1.0f;
      p.x = upload(x, T, H);
      p.gate = upload(gate, E, H);
      p.ids = empty(T, k, DType::kI32);
      p.weights = empty(T, k, DType::kF32);
      be->moe_route(p);
      const auto ids = download(p.ids), w = download(p.weights);
      for (int64_t t = 0; t < T; ++t) {
        std::set<float> seen;
        for (int64_t j = 0; j < k; ++j) {
          const float id = ids[t * k + j];
          EXPECT_TRUE(id >= 0 && id < static_cast<float>(E)) << "token " << t << " slot " << j;
          seen.insert(id);
          if (t != 1) {
            EXPECT_NE(id, static_cast<float>(nan_expert)) << "token " << t;
            EXPECT_TRUE(std::isfinite(w[t * k + j])) << "token " << t << " slot " << j;
          }
        }
        EXPECT_EQ(seen.size(), static_cast<size_t>(k)) << "token " << t << ": distinct experts";
      }
    }
  }
}

// Every path runs on the same data: up to 128 tokens the default, the pointer-array chunks (-1),
// the warpgroup-MMA kernel (-5) and the grouped kernel's alternative tiles (1..kMoePaths; bulk-copy
// tiles need K a multiple of 64 or 128, which the second shape gives both GEMMs).
constexpr int kMoePaths = 7;

TEST_F(CudaMoe, ExpertsMatchCpuOnEveryPath) {
  // H 36: rows the grouped kernel and the skinny kernel do not take (not 16-byte multiples),
  // so decode sizes take cuBLAS pointer-array chunks and the combine its scalar loop.
  for (const auto& [H, I] : {std::pair<int64_t, int64_t>{64, 48}, {128, 256}, {36, 48}})
    experts_match_cpu(H, I);
}

void CudaMoe::experts_match_cpu(int64_t H, int64_t I) {
  SCOPED_TRACE("H " + std::to_string(H) + " I " + std::to_string(I));
  const int64_t E = 8, first = 4, k = 3;
  auto gu = randn(E * 2 * I * H, 20, 0.1f), dn = randn(E * H * I, 21, 0.1f);
  Tensor gud = upload(gu, E * 2 * I, H), dnd = upload(dn, E * H, I);
  Tensor gus = Tensor::stacked(gud.data, DType::kBF16, E, 2 * I, H);
  Tensor dns = Tensor::stacked(dnd.data, DType::kBF16, E, H, I);
  std::mt19937 rng(22);
  // T 1 takes the planless skinny launches (16-byte rows; k 3 pairs, some experts not held);
  // T <= 128 takes the grouped GEMM kernel (the skewed expert: 36+ rows at 40, two row ranges
  // at 128) and, forced, the pointer-array chunk path (the skinny kernel up to 2 rows per chunk;
  // several chunks per expert at 128); 200 and 600 the warpgroup-MMA kernel (the skewed expert
  // at 600: five 128-row tiles, the pipeline wrapping over tiles) and, forced, the counted
  // cuBLAS paths (padded at 200, packed when skewed) and the mma.sync grouped kernel (at 600
  // more row ranges than CTAs per expert).
  for (int64_t T : {0, 1, 2, 5, 64, -40, 128, -128, 200, -200, -600}) {
    const bool skewed = T < 0;
    T = std::abs(T);
    SCOPED_TRACE("T " + std::to_string(T) + (skewed ? " skewed" : ""));
    auto x = randn(T * H, 23);
    std::vector<int32_t> ids(T * k);
    std::vector<float> w(T * k);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<int32_t> pick(16);
      std::iota(pick.begin(), pick.end(), 0);
      std::shuffle(pick.begin(), pick.end(), rng);
      if (skewed && t % 10 != 0) std::swap(*std::find(pick.begin(), pick.end(), 5), pick[0]);
      for (int64_t j = 0; j < k; ++j) {
        ids[t * k + j] = t % 7 == 3 && j == 1 ? -1 : pick[j];
        w[t * k + j] = 0.25f + 0.5f * static_cast<float>(rng() % 100) / 100;
      }
    }
    std::vector<float> ref(T * H, NAN);
    ExpertParams c;
    c.x = Tensor::matrix(x.data(), DType::kF32, T, H);
    c.ids = Tensor::matrix(ids.data(), DType::kI32, T, k);
    c.weights = Tensor::matrix(w.data(), DType::kF32, T, k);
    c.gate_up = Tensor::stacked(gu.data(), DType::kF32, E, 2 * I, H);
    c.down = Tensor::stacked(dn.data(), DType::kF32, E, H, I);
    c.first_expert = first;
    c.out = Tensor::matrix(ref.data(), DType::kF32, T, H);
    cpu::moe_experts(pool, c);
    ExpertParams p = c;
    p.x = upload(x, T, H);
    p.ids = upload_i32(ids, T, k);
    p.weights = upload(w, T, k, DType::kF32);
    p.gate_up = gus;
    p.down = dns;
    p.out = empty(T, H);
    be->moe_experts(p);
    const std::vector<float> by_default = download(p.out);
    expect_close(by_default, ref, 2e-2f, "moe_experts");
    for (int path = -7; T > 0 && path <= kMoePaths; ++path) {
      if (path == 0 || path == -6 || path == -7 || (T > 128 && path > -2) ||
          (T <= 128 && path < -1 && path > -5))
        continue;
      cuda_moe_experts_path(*be, path);
      be->fill_zero(p.out);
      be->moe_experts(p);
      cuda_moe_experts_path(*be, 0);
      expect_close(download(p.out), ref, 2e-2f, "moe_experts, path " + std::to_string(path));
      // One token: the planless launches (gate_up from the ids, down fused with the combine)
      // give the bits of the planned skinny chunks and the combine kernel.
      if (T == 1 && path == -1) {
        EXPECT_EQ(download(p.out), by_default) << "one token, planless against planned";
      }
    }
  }
}

}  // namespace
}  // namespace duet
