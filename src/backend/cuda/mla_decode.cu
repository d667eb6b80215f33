// MLA decode, absorbed form (FlashMLA style, written for this engine):
//   q_lat = W_UK^T q_nope per head (batched over heads: skinny kernels at 1-2 tokens, cuBLAS
//   beyond)
//   attention of [q_lat | q_rope] over the latent cache rows [c | k_rope] with V = c, split
//   over the KV length so that a few long sequences still fill the GPU, then a combine step
//   out = W_UV o_lat per head (batched over heads; for one or two decode tokens fused into the
//   combine step, mla_decode_combine.cuh).
// One CTA takes up to 64 query rows ((token, head) pairs of one sequence: all 64 heads of a
// Kimi K2 decode token), so each cache tile is read from HBM once per sequence and split. The
// DeepSeek-V3 cache layout (512 + 64) runs mla_decode_wgmma.cuh (warpgroup MMAs, TMA), other
// widths mla_decode_generic.cuh.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "backend/cuda/mla_decode_combine.cuh"
#include "backend/cuda/mla_decode_fast.cuh"
#include "backend/cuda/mla_decode_generic.cuh"
#include "backend/cuda/mla_decode_warps.cuh"
#include "backend/cuda/mla_decode_wgmma.cuh"
#include "backend/cuda/mla_decode_wgmma_t.cuh"
#include "backend/cuda/tensor_map.h"

namespace duet::cuda {
namespace {

using mla::DecodeArgs;
using mla::kMaxClusterSplits;
using mla::kMaxSplits;
using mla::kThreads;

// Split count from the SM count: per-split work (plus a fixed cost of about two tiles for the
// pipeline fill and the output) times the number of waves, smallest wins. Sets args.splits and
// the partial-output buffers and returns the grid. M: query rows per CTA, KEYS: keys per
// pipeline stage of `kernel`, threads: its CTA size. (Charging the combine kernel two tiles,
// so that splits would stay within one cluster, made B 1, L 1024, 16 heads slower: 24.1 us in
// clusters of 6 against 18.8 with 17 splits and the combine, H100.)
dim3 plan_decode(Context& c, const MlaParams& p, DecodeArgs& args, const void* kernel, size_t smem,
                 int64_t M, int64_t KEYS, int threads) {
  const int64_t S = p.num_seqs;
  int64_t m_tiles = 0, max_tiles = 0;
  for (int64_t s = 0; s < S; ++s) {
    if (!p.host_decode[s]) continue;
    m_tiles += ceil_div((p.host_q_start[s + 1] - p.host_q_start[s]) * p.heads, M);
    max_tiles = std::max<int64_t>(max_tiles, ceil_div(p.host_kv_len[s], KEYS));
  }
  DUET_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)));
  int per_sm = 1;
  DUET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
  const int64_t slots = std::max<int64_t>(1, static_cast<int64_t>(per_sm) * c.num_sms);
  int64_t splits = 1, best = -1;
  for (int64_t n = 1; n <= std::min<int64_t>(std::max<int64_t>(max_tiles, 1), kMaxSplits); ++n) {
    const int64_t cost =
        ceil_div(std::max<int64_t>(m_tiles, 1) * n, slots) * (ceil_div(max_tiles, n) + 2);
    if (best < 0 || cost < best) best = cost, splits = n;
  }
  args.splits = static_cast<int>(splits);
  args.keys = static_cast<int>(KEYS);
  // part_o: [S, splits, rows_max, r] f32; part_lse: [S, splits, rows_max] f32.
  const int64_t rows_max = args.rows_max, r = args.r;
  args.part_o = c.workspace_as<float>(kWsMlaPartO, static_cast<size_t>(S * splits * rows_max * r));
  args.part_lse = c.workspace_as<float>(kWsMlaPartLse, static_cast<size_t>(S * splits * rows_max));
  return dim3(static_cast<unsigned>(ceil_div(rows_max, M)), static_cast<unsigned>(splits),
              static_cast<unsigned>(S));
}

// Whether the split combine also applies the output projection (mla_combine_uv_kernel): for at
// most kMaxUvTokens decode tokens, where it saves a dependent launch; more tokens re-read W_UV
// per token and go to a batched GEMM. DUET_MLA_FUSED_UV=0 turns it off (a benchmark baseline).
constexpr int64_t kMaxUvTokens = 2;
bool fuse_uv(const MlaParams& p) {
  static const bool enabled = [] {
    const char* v = std::getenv("DUET_MLA_FUSED_UV");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  int64_t tokens = 0;
  for (int64_t s = 0; s < p.num_seqs; ++s)
    if (p.host_decode[s]) tokens += p.host_q_start[s + 1] - p.host_q_start[s];
  return enabled && tokens <= kMaxUvTokens && p.kv_rank <= mla::kUvMaxR && p.kv_b.ld % 8 == 0 &&
         aligned16(p.kv_b.data);
}

// The split combine, after a kernel that wrote partial outputs.
void launch_combine(Context& c, const MlaParams& p, DecodeArgs& args) {
  if (args.splits == 1) return;
  if (fuse_uv(p)) {
    mla::UvArgs u;
    u.ldw = p.kv_b.ld;
    u.w = p.kv_b.ptr<const bf16>() + p.nope_dim * u.ldw;
    u.head_stride = (p.nope_dim + p.v_dim) * u.ldw;
    u.dv = static_cast<int>(p.v_dim);
    u.out = p.out.ptr<bf16>();
    u.ld_out = p.out.ld;
    launch_pdl(c, mla::mla_combine_uv_kernel,
               dim3(static_cast<unsigned>(ceil_div(p.v_dim, mla::kUvRows)),
                    static_cast<unsigned>(p.heads), static_cast<unsigned>(p.num_seqs)),
               mla::kUvThreads, 0, args, u);
    args.projected = true;
    return;
  }
  launch_pdl(c, mla::mla_combine_kernel,
             dim3(static_cast<unsigned>(args.rows_max), static_cast<unsigned>(p.num_seqs)),
             mla::kCombineThreads, 0, args, args.o_lat);
}

void launch_decode(Context& c, const MlaParams& p, DecodeArgs& args, void (*kernel)(DecodeArgs),
                   size_t smem, int64_t M, int64_t KEYS, int threads = kThreads) {
  const dim3 grid =
      plan_decode(c, p, args, reinterpret_cast<const void*>(kernel), smem, M, KEYS, threads);
  launch_pdl(c, kernel, grid, threads, smem, args);
  launch_combine(c, p, args);
}

template <int MT, int KEYS, int STAGES, int KS = mla::kSplitK<MT, KEYS>>
void launch_generic(Context& c, const MlaParams& p, DecodeArgs& args) {
  launch_decode(c, p, args, mla::mla_decode_kernel<MT, KEYS, STAGES, KS>,
                mla::decode_smem<MT, KEYS, STAGES, KS>(args.dp), 16 * MT, KEYS);
}

template <int MT, int KEYS, int STAGES, int WR, int WN, bool QREG, int MINB = 1>
void launch_fast(Context& c, const MlaParams& p, DecodeArgs& args) {
  launch_decode(c, p, args, mla::mla_decode_fast_kernel<MT, KEYS, STAGES, WR, WN, QREG, MINB>,
                mla::FastCfg<MT, KEYS, STAGES, WR, WN, QREG>::kSmem, 16 * MT, KEYS);
}

template <int RG, int KW, int STAGES>
void launch_warps(Context& c, const MlaParams& p, DecodeArgs& args) {
  using C = mla::WarpsCfg<RG, KW, STAGES>;
  launch_decode(c, p, args, mla::mla_decode_warps_kernel<RG, KW, STAGES>, C::kSmem, C::M, C::KEYS,
                C::kThreads);
}

// The cache as a tensor map in boxes of box_rows x 64 values (mla_decode_wgmma*.cuh), or null
// when it cannot be described by one. Encoded once per cache (pointer, shape, box), per thread
// (ranks may run on threads).
const CUtensorMap* cache_map(const MlaParams& p, int box_rows) {
  struct Cached {
    const void* data = nullptr;
    int64_t rows = 0, ld = 0;
    bool ok = false;
    CUtensorMap map{};
  };
  thread_local Cached cached[2];  // boxes of 32 and of 64 rows
  Cached& e = cached[box_rows == 64 ? 1 : 0];
  if (e.data != p.cache.data || e.rows != p.cache.rows || e.ld != p.cache.ld) {
    e.data = p.cache.data;
    e.rows = p.cache.rows;
    e.ld = p.cache.ld;
    e.ok =
        bf16_matrix_map(p.cache.data, p.cache.rows, mla::kFastD, p.cache.ld, box_rows, 64, &e.map);
  }
  return e.ok ? &e.map : nullptr;
}

// Launches a wgmma kernel on `grid`; with 2-8 KV splits (and `cluster`) as clusters of the
// splits of a row tile, which merge their results in shared memory (no combine kernel), when
// the GPU holds all those clusters at once. (Clusters of 4 at B 32, L 1024, 16 heads did not
// (one CTA per SM, and a cluster's CTAs share a GPC): 42 us against 31 with the combine, H100.)
template <typename... Params, typename... Args>
void launch_splits(Context& c, DecodeArgs& args, const MlaParams& p, bool cluster,
                   void (*kernel)(Params...), dim3 grid, int threads, size_t smem,
                   Args&&... kernel_args) {
  bool clustered = cluster && args.splits >= 2 && args.splits <= kMaxClusterSplits;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(static_cast<unsigned>(threads));
  cfg.dynamicSmemBytes = smem;
  cfg.stream = c.stream;
  // The cluster shape (used only when `clustered`) and the programmatic dependency on the
  // previous kernel (pdl.cuh; DecodeBlock::init waits).
  cudaLaunchAttribute attrs[2]{};
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = 1;
  attrs[0].val.clusterDim.y = static_cast<unsigned>(args.splits);
  attrs[0].val.clusterDim.z = 1;
  attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attrs[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attrs;
  cfg.numAttrs = 1;
  if (clustered) {
    // Per kernel and cluster size, once per thread.
    struct Fit {
      const void* kernel;
      int splits, clusters;
    };
    thread_local std::vector<Fit> fits;
    const void* key = reinterpret_cast<const void*>(kernel);
    auto it = std::find_if(fits.begin(), fits.end(), [&](const Fit& f) {
      return f.kernel == key && f.splits == args.splits;
    });
    if (it == fits.end()) {
      int n = 0;
      // A failed query (no cluster support) leaves n at 0: the combine kernel merges instead.
      if (cudaOccupancyMaxActiveClusters(&n, kernel, &cfg) != cudaSuccess) {
        cudaGetLastError();
        n = 0;
      }
      fits.push_back({key, args.splits, n});
      it = fits.end() - 1;
    }
    clustered = static_cast<int64_t>(it->clusters) >= static_cast<int64_t>(grid.x) * grid.z;
  }
  // Without clusters only the dependency attribute, which then comes first.
  if (!clustered) attrs[0] = attrs[1];
  cfg.numAttrs = (clustered ? 1 : 0) + (c.pdl ? 1 : 0);
  DUET_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(kernel_args)..., clustered));
  if (!clustered) launch_combine(c, p, args);
}

// The 64-row wgmma kernel with cta_rows query rows per CTA; false (nothing launched) without a
// tensor map.
template <int STAGES, bool PRODUCER>
bool launch_wgmma(Context& c, const MlaParams& p, DecodeArgs& args, int cta_rows,
                  bool cluster = true) {
  using C = mla::WgmmaCfg<STAGES, PRODUCER>;
  const CUtensorMap* map = cache_map(p, C::KEYS);
  if (!map) return false;
  auto kernel = mla::mla_decode_wgmma_kernel<STAGES, PRODUCER>;
  const dim3 grid = plan_decode(c, p, args, reinterpret_cast<const void*>(kernel), C::kSmem,
                                cta_rows, C::KEYS, C::kThreads);
  launch_splits(c, args, p, cluster && !PRODUCER, kernel, grid, C::kThreads, C::kSmem, *map, args,
                cta_rows);
  return true;
}

// The transposed wgmma kernel (16 query rows per CTA); false without a tensor map.
template <bool LOAD_ONLY = false>
bool launch_wgmma_t(Context& c, const MlaParams& p, DecodeArgs& args, bool cluster = true) {
  using C = mla::WgmmaTCfg;
  const CUtensorMap* map = cache_map(p, C::KEYS);
  if (!map) return false;
  auto kernel = mla::mla_decode_wgmma_t_kernel<LOAD_ONLY>;
  const dim3 grid = plan_decode(c, p, args, reinterpret_cast<const void*>(kernel), C::kSmem, C::N,
                                C::KEYS, C::kThreads);
  launch_splits(c, args, p, cluster && !LOAD_ONLY, kernel, grid, C::kThreads, C::kSmem, *map, args);
  return true;
}

}  // namespace

void mla_decode(Context& c, const MlaParams& p) {
  const int64_t H = p.heads, dn = p.nope_dim, dr = p.rope_dim, dv = p.v_dim, r = p.kv_rank;
  const int64_t S = p.num_seqs, T = p.q.rows;
  // Contiguous token runs of decode sequences (one batched GEMM each), and the launch shape.
  std::vector<std::pair<int64_t, int64_t>> runs;
  int64_t rows_max = 0, decode_seqs = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t a = p.host_q_start[s], b = p.host_q_start[s + 1];
    if (!p.host_decode[s] || a == b) continue;
    ++decode_seqs;
    if (!runs.empty() && runs.back().second == a)
      runs.back().second = b;
    else
      runs.emplace_back(a, b);
    rows_max = std::max(rows_max, (b - a) * H);
  }
  if (runs.empty()) return;
  DUET_CHECK(p.q.dtype == DType::kBF16 && p.cache.dtype == DType::kBF16 &&
                 p.kv_b.dtype == DType::kBF16 && p.out.dtype == DType::kBF16,
             "cuda mla: bf16 tensors");
  DUET_CHECK(r % 16 == 0 && r <= 16 * mla::kColGroups * mla::kWarps,
             "cuda mla decode: kv_lora_rank ", r, " must be a multiple of 16 up to 512");
  DUET_CHECK((r + dr) % 8 == 0 && p.cache.ld % 8 == 0, "cuda mla decode: cache rows of ", r + dr,
             " values (ld ", p.cache.ld, ") are not 16-byte aligned");
  const int64_t ldb = p.kv_b.ld, head_rows = dn + dv;
  const bf16* kv_b = p.kv_b.ptr<const bf16>();
  // q_lat, o_lat: [T, H, r] (rows of prefill tokens are left untouched).
  bf16* q_lat = c.workspace_as<bf16>(kWsMlaQLat, static_cast<size_t>(T * H * r));
  bf16* o_lat = c.workspace_as<bf16>(kWsMlaOLat, static_cast<size_t>(T * H * r));
  const int64_t qk = dn + dr;
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[0], c.stream));
  for (auto [a, b] : runs)
    gemm_strided_batched(c, H, b - a, r, dn, p.q.ptr<const bf16>() + a * p.q.ld, p.q.ld, qk, kv_b,
                         ldb, head_rows * ldb, q_lat + a * H * r, H * r, r, /*w_transposed=*/true);
  // The absorption read only q's no-RoPE columns; the rest reads the cache and q's RoPE columns,
  // which a side branch may still be writing (Backend::mla_attention).
  c.join_side();

  DecodeArgs args;
  args.q_lat = q_lat;
  args.q = p.q.ptr<const bf16>();
  args.ld_q = p.q.ld;
  args.qk = static_cast<int>(qk);
  args.dn = static_cast<int>(dn);
  args.cache = p.cache.ptr<const bf16>();
  args.ld_cache = p.cache.ld;
  args.block_table = p.block_table.ptr<const int32_t>();
  args.ld_bt = p.block_table.ld;
  args.q_start = p.q_start.ptr<const int32_t>();
  args.kv_len = p.kv_len.ptr<const int32_t>();
  args.decode = p.decode.ptr<const int32_t>();
  args.positions = p.positions.ptr<const int32_t>();
  args.heads = static_cast<int>(H);
  args.r = static_cast<int>(r);
  args.dr = static_cast<int>(dr);
  args.dp = static_cast<int>(ceil_div(r + dr, 16) * 16);
  args.scale = p.scale;
  args.rows_max = static_cast<int>(rows_max);
  args.o_lat = o_lat;
  args.preload = c.preload;
  args.projected = false;
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[1], c.stream));
  const int v = c.mla_variant;  // cuda_bench only: alternatives measured against the defaults
  if (r == mla::kFastR && r + dr == mla::kFastD && !c.mla_force_generic) {
    // DeepSeek-V3 layout: at most 16 rows per sequence, the transposed wgmma kernel
    // (mla_decode_wgmma_t.cuh), else the 64-row one (mla_decode_wgmma.cuh), unless the cache
    // cannot be described by a tensor map. The other kernels stay as measured alternatives
    // (kernel + combine, H100, B 64, L 2048; docs/PERFORMANCE.md):
    // - 64 rows: the fast kernel, variant 1 (124-125 us); the warps kernel, variant 2 (118);
    //   the 64-row wgmma kernel with a producer warpgroup, variant 5; with 32-row CTAs and no
    //   KV split, variant 6;
    // - 32 rows: the fast kernel with 64-key stages two deep, variants 1 and 2;
    // - 16 rows: the fast kernel with two CTAs per SM, variant 1 (77); the generic kernel,
    //   variant 2 (81-83); four warps of the warps kernel, variant 4 (83); the generic kernel
    //   on 32-key tiles (twice the splits of a few long sequences), variant 13; the 64-row wgmma
    //   kernel, rows padded, variant 7; the transposed kernel at any batch, variant 9; its
    //   tile stream alone (wrong results: the pipeline's ceiling), variant 8;
    // - every row count: the wgmma kernels with partial outputs and the combine kernel instead
    //   of clusters, variant 12.
    // A few 16-row sequences are latency-bound: the generic kernel's shorter chain wins there
    // (B 1, L 1024: 17.5 us against 18.8; end to end at batch 1, 3.42-3.44 ms step against
    // 3.52-3.61, H100).
    bool done = false;
    if (v == 0 && rows_max <= 16 && decode_seqs > 4)
      done = launch_wgmma_t(c, p, args);
    else if ((v == 0 && rows_max > 16) || v == 7)
      done = launch_wgmma<3, false>(c, p, args, 64);
    else if (v == 5)
      done = launch_wgmma<3, true>(c, p, args, 64);
    else if (v == 6)
      done = launch_wgmma<3, false>(c, p, args, rows_max > 32 ? 32 : 64);
    else if (v == 9 && rows_max <= 16)
      done = launch_wgmma_t(c, p, args);
    else if (v == 8 && rows_max <= 16)
      done = launch_wgmma_t<true>(c, p, args);
    else if (v == 12)  // the defaults with partial outputs and the combine kernel
      done = rows_max <= 16 ? launch_wgmma_t(c, p, args, false)
                            : launch_wgmma<3, false>(c, p, args, 64, false);
    if (!done) {  // the mma.sync kernels
      if (rows_max > 32 && v == 1)
        launch_fast<4, 32, 3, 2, 2, false>(c, p, args);
      else if (rows_max > 32)
        launch_warps<4, 2, 3>(c, p, args);
      else if (rows_max > 16)
        launch_fast<2, 64, 2, 2, 2, false>(c, p, args);
      else if (v == 1)
        launch_fast<1, 32, 2, 1, 2, false, 2>(c, p, args);
      else if (v == 4)
        launch_warps<1, 4, 4>(c, p, args);
      else if (v == 13)
        launch_generic<1, 32, 3>(c, p, args);
      else
        launch_generic<1, 64, 2>(c, p, args);
    }
  } else {
    // 64 rows per CTA when a sequence has that many, else 32/16 (measured on H100 before the
    // fast kernel: at 64 heads a 2-way k split of S beat the 8-way tile split, at 16 heads
    // 64-key stages two deep beat 32-key stages five deep).
    if (rows_max > 32)
      launch_generic<4, 32, 3, 2>(c, p, args);
    else if (rows_max > 16)
      launch_generic<2, 64, 2>(c, p, args);
    else
      launch_generic<1, 64, 2>(c, p, args);
  }
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[2], c.stream));

  bf16* out = p.out.ptr<bf16>();
  if (!args.projected)  // else the split combine applied W_UV
    for (auto [a, b] : runs)
      gemm_strided_batched(c, H, b - a, dv, r, o_lat + a * H * r, H * r, r, kv_b + dn * ldb, ldb,
                           head_rows * ldb, out + a * p.out.ld, p.out.ld, dv, false);
  if (c.mla_phase_events) DUET_CUDA_CHECK(cudaEventRecord(c.mla_phase_events[3], c.stream));
}

}  // namespace duet::cuda
