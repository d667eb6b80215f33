// Dependent chains of batch-1 decode ops recorded in one graph, timed per link: norms,
// products, a Moonlight MoE layer and a Moonlight attention block (norm, q + kv_a, the cache
// write beside the q absorption, MLA decode over 1000 cached tokens, o_proj). Every link has
// weights (and a cache) of its own, so that none finds them in L2. DUET_PDL=0 / noprefetch /
// nopreload compare programmatic dependent launch and the weight prefetch or preload; run once
// per setting. Prints one table; docs/PERFORMANCE.md records the results.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda_bench_util.h"

namespace duet {
namespace {

using bench::Bench;
using bench::fmt;
using bench::Row;

// Whether a link runs `op`: DUET_CHAIN_SKIP lists the ops every link leaves out (what each
// costs in its chain): norm, pair, cache, mla, oproj in the attention link, shared, routed
// (with the router) and router (alone: the experts take the link's fixed ids) in the MoE link.
bool link_runs(const char* op) {
  const char* skip = std::getenv("DUET_CHAIN_SKIP");
  return !skip || std::string(skip).find(op) == std::string::npos;
}

// Norms and products: what a launch costs between kernels that each wait for the one before.
void simple_rows(Bench& b, std::vector<Row>& rows) {
  const int64_t H = 2048;
  Tensor res = b.random(1, H), y = b.random(1, H, 0.01f), xn = b.zeros(1, H, DType::kBF16);
  Tensor nw = b.random(1, H);
  struct Chain {
    const char* what;
    int links;
    int64_t N;  // weight rows of each link's product (0: norms only)
    bool norm;
  };
  for (const Chain& ch :
       {Chain{"add_rms_norm 2048", 64, 0, true}, Chain{"gemm 1 x 2048 x 2048", 64, H, false},
        Chain{"add_rms_norm + gemm 1 x 2048 x 2048", 64, H, true},
        Chain{"add_rms_norm + gemm 1 x 2048 x 11264 + copy of 2048", 16, 11264, true}}) {
    // Distinct weights per link (w: [N, H] each), so that no link finds its weights in L2.
    std::vector<Tensor> ws;
    Tensor wide = b.zeros(1, std::max<int64_t>(ch.N, H), DType::kBF16);
    for (int i = 0; ch.N > 0 && i < ch.links; ++i) ws.push_back(b.random(ch.N, H, 0.02f));
    b.be->begin_capture();
    for (int i = 0; i < ch.links; ++i) {
      if (ch.norm) b.be->add_rms_norm(res, y, nw, 1e-6f, xn);
      if (ch.N == H) b.be->gemm(xn, ws[static_cast<size_t>(i)], y);
      if (ch.N > H) {
        b.be->gemm(xn, ws[static_cast<size_t>(i)], wide);
        b.be->copy_device(y.data, wide.data, static_cast<size_t>(H) * 2);
      }
    }
    std::unique_ptr<Graph> g = b.be->end_capture();
    const double us = b.time_us([&] { g->replay(); }, 5) / ch.links;
    const double bytes = 2.0 * static_cast<double>(ch.N) * H;
    rows.push_back(
        {std::string("chain link: ") + ch.what, us,
         ch.N ? fmt("%.0f GB/s weights", bytes / us / 1e3) : std::string("launch floor")});
  }
}

// A Moonlight MoE layer at batch 1 as the model runs it, less the attention block: the add +
// norm that joins the previous layer (and norms the attention's input, here the attention's
// output itself), the post-attention add + norm with the router (one launch, unless
// DUET_ROUTE_NORM=0), the shared experts (I 2816) on a side branch beside the 6 routed experts
// (I 1408 of 64). The rate counts every link's bytes, also with parts skipped. Link i takes
// experts 6i..6i+5 (the router runs, its picks are not used), so no link finds its weights in L2.
void moe_row(Bench& b, std::vector<Row>& rows) {
  const int64_t H = 2048;
  Tensor res = b.random(1, H), nw = b.random(1, H), attn_out = b.zeros(1, H, DType::kBF16);
  std::vector<float> post_w(H);  // the post-attention norm's weights, f32 as the model loads them
  for (int64_t i = 0; i < H; ++i) post_w[i] = 0.5f + 0.1f * static_cast<float>(i % 7);
  const Tensor post_norm = b.floats(post_w, 1, H);
  const int64_t E = 64, I = 1408, IS = 2816, k = 6, links = 8;
  Tensor gu = b.random(E * 2 * I, H, 0.02f), dn = b.random(E * H, I, 0.02f);
  Tensor gate = b.random(E, H, 0.02f), normed = b.zeros(1, H, DType::kBF16);
  Tensor moe_out = b.zeros(1, H, DType::kBF16), shared_out = b.zeros(1, H, DType::kBF16);
  Tensor act = b.zeros(1, IS, DType::kBF16), gu_scratch = b.zeros(1, 2 * IS, DType::kBF16);
  std::vector<Tensor> sgu, sdn, ids;
  for (int64_t i = 0; i < links; ++i) {
    sgu.push_back(b.random(2 * IS, H, 0.02f));
    sdn.push_back(b.random(H, IS, 0.02f));
    std::vector<int32_t> v(k);
    std::iota(v.begin(), v.end(), static_cast<int32_t>(i * k));
    ids.push_back(b.ints(v, 1, k));
  }
  const Tensor weights = b.floats(std::vector<float>(k, 0.1f), 1, k);
  Tensor rids = b.zeros(1, k, DType::kI32), rweights = b.zeros(1, k, DType::kF32);
  RouterParams rp;
  rp.x = normed;
  rp.gate = gate;
  rp.ids = rids;
  rp.weights = rweights;
  rp.num_experts = E;
  rp.top_k = k;
  ExpertParams ep;
  ep.x = normed;
  ep.weights = weights;
  ep.gate_up = Tensor::stacked(gu.data, DType::kBF16, E, 2 * I, H);
  ep.down = Tensor::stacked(dn.data, DType::kBF16, E, H, I);
  ep.out = moe_out;
  // DUET_CHAIN_SKIP=shared, routed (with the router) or router: what each costs beside the rest.
  const bool shared = link_runs("shared"), routed = link_runs("routed");
  auto link = [&](size_t i) {
    b.be->add2_rms_norm(res, moe_out, shared_out, nw, 1e-6f, attn_out);
    if (routed && link_runs("router"))
      b.be->add_rms_norm_route(res, attn_out, post_norm, 1e-6f, normed, rp);
    else
      b.be->add_rms_norm(res, attn_out, post_norm, 1e-6f, normed);
    if (shared) {
      SideBranch side(*b.be);
      b.be->gemm_silu_mul(normed, sgu[i], gu_scratch, act);
      b.be->gemm(act, sdn[i], shared_out);
    }
    if (routed) {
      ep.ids = ids[i];
      b.be->moe_experts(ep);
    }
    b.be->join_side();
  };
  link(0);  // sizes the workspaces, which cannot grow while recording
  b.be->synchronize();
  b.be->begin_capture();
  for (int64_t i = 0; i < links; ++i) link(static_cast<size_t>(i));
  std::unique_ptr<Graph> g = b.be->end_capture();
  const double us = b.time_us([&] { g->replay(); }, 5) / links;
  const double bytes = 2.0 * H * (3.0 * I * k + 3.0 * IS + E);
  rows.push_back(
      {"chain link: MoE layer at batch 1 (add + norm, add + norm + router, 6 routed + shared "
       "beside)",
       us, fmt("%.0f GB/s weights", bytes / us / 1e3)});
}

// A Moonlight attention block at batch 1 with 1000 cached tokens, as DeepseekModel::attention
// runs it (no q LoRA): add + norm, q_proj and kv_a in one product, the cache write with q's RoPE
// on a side branch, MLA decode (absorbed; the branch joins after the q absorption), o_proj.
void attention_row(Bench& b, std::vector<Row>& rows) {
  const int64_t H = 2048, heads = 16, dn = 128, dr = 64, dv = 128, r = 512, ctx = 1000;
  const int64_t blocks = (ctx + 1 + kKvBlockSize - 1) / kKvBlockSize, links = 8;
  Tensor res = b.random(1, H), nw = b.random(1, H), normed = b.zeros(1, H, DType::kBF16);
  Tensor o = b.zeros(1, H, DType::kBF16);                  // o_proj's output: [1, H]
  Tensor q = b.zeros(1, heads * (dn + dr), DType::kBF16);  // [1, heads * 192]
  Tensor ckv = b.zeros(1, r + dr, DType::kBF16);           // [1, 576]
  Tensor attn = b.zeros(1, heads * dv, DType::kBF16);      // [1, heads * 128]
  Tensor kv_norm = b.random(1, r);
  std::vector<float> inv_freq(static_cast<size_t>(dr / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i)
    inv_freq[i] = std::pow(10000.0f, -2.0f * static_cast<float>(i) / static_cast<float>(dr));
  RopeParams rope;
  rope.inv_freq = b.floats(inv_freq, 1, dr / 2);
  rope.dim = dr;
  // One sequence at position ctx, its blocks in reverse order (a paged table, not an identity).
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) table[i] = static_cast<int32_t>(blocks - 1 - i);
  const int32_t pos = static_cast<int32_t>(ctx);
  const std::vector<int32_t> q_start{0, 1}, kv_len{pos + 1}, decode{1};
  // DUET_CHAIN_PLAN_LEN=N: launches planned for a context of N (a decode graph's length
  // bucket) while the kernels read the true length, as in a replayed step.
  const char* plan_len = std::getenv("DUET_CHAIN_PLAN_LEN");
  const std::vector<int32_t> host_kv_len{plan_len ? std::atoi(plan_len) : pos + 1};
  const Tensor positions = b.ints({pos}, 1, 1);
  const Tensor slots = b.ints({table[pos / kKvBlockSize] * 64 + pos % 64}, 1, 1);
  const Tensor q_start_d = b.ints(q_start, 1, 2), kv_len_d = b.ints(kv_len, 1, 1);
  const Tensor decode_d = b.ints(decode, 1, 1), table_d = b.ints(table, 1, blocks);
  struct Layer {
    Tensor q_proj, kv_a, kv_b, o_proj, cache;
  };
  std::vector<Layer> ls;
  for (int64_t i = 0; i < links; ++i)
    ls.push_back({b.random(heads * (dn + dr), H, 0.02f), b.random(r + dr, H, 0.02f),
                  b.random(heads * (dn + dv), r, 0.05f), b.random(H, heads * dv, 0.02f),
                  b.random(blocks * kKvBlockSize, r + dr)});
  auto runs = link_runs;  // DUET_CHAIN_SKIP=norm,pair,cache,mla,oproj
  auto link = [&](const Layer& L) {
    if (runs("norm")) b.be->add_rms_norm(res, o, nw, 1e-6f, normed);
    if (runs("pair")) b.be->gemm_pair(normed, L.q_proj, q, L.kv_a, ckv);
    if (runs("cache")) {
      SideBranch side(*b.be);
      b.be->mla_cache_write_and_rope_q(ckv, kv_norm, 1e-6f, positions, slots, rope, L.cache, q,
                                       heads, dn);
    }
    MlaParams p;
    p.q = q;
    p.positions = positions;
    p.out = attn;
    p.q_start = q_start_d;
    p.kv_len = kv_len_d;
    p.decode = decode_d;
    p.block_table = table_d;
    p.num_seqs = 1;
    p.host_q_start = q_start.data();
    p.host_kv_len = host_kv_len.data();
    p.host_decode = decode.data();
    p.cache = L.cache;
    p.kv_b = L.kv_b;
    p.heads = heads;
    p.nope_dim = dn;
    p.rope_dim = dr;
    p.v_dim = dv;
    p.kv_rank = r;
    p.scale = 0.0722f;
    if (runs("mla")) b.be->mla_attention(p);
    if (runs("oproj")) b.be->gemm(attn, L.o_proj, o);
  };
  link(ls[0]);  // sizes the workspaces, which cannot grow while recording
  b.be->synchronize();
  b.be->begin_capture();
  for (const Layer& L : ls) link(L);
  std::unique_ptr<Graph> g = b.be->end_capture();
  const double us = b.time_us([&] { g->replay(); }, 5) / links;
  const double weights =
      2.0 * (H * heads * (dn + dr) + H * (r + dr) + heads * (dn + dv) * r + H * heads * dv);
  const double bytes = weights + 2.0 * (ctx + 1) * (r + dr);
  rows.push_back({"chain link: attention block at batch 1, 1000 cached tokens", us,
                  fmt("%.0f GB/s weights + cache (%.1f MB)", bytes / us / 1e3, bytes / 1e6)});
}

}  // namespace
}  // namespace duet

// DUET_BENCH_ONLY=attention runs the attention row alone.
int main() {
  if (!duet::cuda_device_available()) {
    std::fprintf(stderr, "cuda_chain_bench: no usable CUDA device\n");
    return 1;
  }
  duet::bench::Bench b;
  std::vector<duet::bench::Row> rows;
  const char* only = std::getenv("DUET_BENCH_ONLY");
  if (!only || std::string(only) != "attention") {
    duet::simple_rows(b, rows);
    duet::moe_row(b, rows);
  }
  duet::attention_row(b, rows);
  duet::bench::print(rows);
  return 0;
}
