// Shared by the MLA decode kernels (mla_decode.cu): launch arguments and the CTA shape.
#pragma once

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"

namespace duet::cuda::mla {

constexpr int kWarps = 8, kThreads = 32 * kWarps;
constexpr int kColGroups = 4;  // 16-column V groups per warp: kv_rank <= 16 * 4 * 8 = 512
constexpr int kPad = 8;  // bf16 row padding: rows shift by 4 banks, fragment loads conflict-free

// The DeepSeek-V3 latent layout the specialised kernels are written for.
constexpr int kFastR = 512, kFastD = 576;   // latent width, cache row width
constexpr int kFastStride = kFastD + kPad;  // bf16 per padded shared row: 1168 B = 73 x 16 B
constexpr int kFastKSteps = kFastD / 16;    // k16 steps of one dot product
constexpr int kFastChunks = kFastD / 8;     // 16-byte pieces of one cache row

struct DecodeArgs {
  const bf16* q_lat;  // [T, H, r]
  const bf16* q;      // [T, ld_q]: q_rope of head h at h * qk + dn
  int64_t ld_q;
  int qk, dn;
  const bf16* cache;  // [blocks * 64, ld_cache]
  int64_t ld_cache;
  const int32_t* block_table;  // [S, ld_bt]
  int64_t ld_bt;
  const int32_t *q_start, *kv_len, *decode, *positions;
  int heads, r, dr, dp;  // dp: r + dr rounded up to 16 (zero columns past r + dr)
  float scale;
  int splits, rows_max;
  int keys;  // keys per tile of the decode kernel: a sequence's splits past its tiles are empty
  float* part_o;    // [S, splits, rows_max, r]
  float* part_lse;  // [S, splits, rows_max]
  bf16* o_lat;      // [T, H, r]: written directly when splits == 1
  // Kernels that can may load a first key tile cached by earlier steps before the
  // programmatic wait (DecodeBlock::first_tile_cached; Context::preload).
  bool preload;
  // Host only: the split combine also applied the output projection (mla_combine_uv_kernel).
  bool projected;
};

// Tiles of each KV split of a sequence of `tiles` tiles: the splits take consecutive runs of
// this many, so those past busy_splits are empty (the launch is planned for a length bucket).
__host__ __device__ inline int split_tiles(int tiles, int splits) {
  return (tiles + splits - 1) / splits;
}
__device__ inline int busy_splits(const DecodeArgs& a, int L) {
  const int tiles = (L + a.keys - 1) / a.keys, per = split_tiles(tiles, a.splits);
  return per > 0 ? min(a.splits, (tiles + per - 1) / per) : 0;
}

// The work of one CTA (grid: row tiles x splits x sequences): query rows [m0, m0 + M) of
// sequence s (`rows` in all: its `fresh` tokens x heads, token i at q0 + i) and the split's
// share of its KEYS-key tiles, [tile_begin, tile_end) of `tiles`.
struct DecodeBlock {
  int s, m0, q0, rows, fresh, L, tiles, tile_begin, tile_end;
  size_t part_row;  // the split's first row of part_o / part_lse

  // Finds the CTA's work in the step's index arrays (decode flags, sequence starts, KV
  // lengths). They are uploaded by a copy before the step's first kernel and no kernel writes
  // them, so this may run before the programmatic wait (pdl.cuh): their round trip then overlaps
  // the previous kernel. False when the CTA has nothing to do: not a decode sequence, or no
  // query rows left.
  __device__ bool locate(const DecodeArgs& a, int M, int KEYS) {
    s = blockIdx.z;
    m0 = blockIdx.x * M;
    // All four loads in flight together (one memory round trip before the first tile).
    const int decode = a.decode[s];
    q0 = a.q_start[s];
    const int q1 = a.q_start[s + 1];
    L = a.kv_len[s];
    fresh = q1 - q0;
    rows = fresh * a.heads;
    if (!decode || m0 >= rows) return false;
    tiles = (L + KEYS - 1) / KEYS;
    const int split = blockIdx.y, per_split = split_tiles(tiles, a.splits);
    tile_begin = split * per_split;
    tile_end = min(tiles, tile_begin + per_split);
    part_row = (static_cast<size_t>(s) * a.splits + split) * a.rows_max;
    return true;
  }
  // locate, then the programmatic wait: every decode kernel calls this (or locate and
  // pdl_wait itself) before it touches memory that the step's earlier kernels write.
  __device__ bool init(const DecodeArgs& a, int M, int KEYS) {
    pdl_launch_dependents();
    if (!locate(a, M, KEYS)) return false;
    pdl_wait();
    return true;
  }
  // Whether every key of the split's first tile was cached by an earlier step (this step's
  // cache write adds the keys from L - fresh on), so that the tile may be loaded before the
  // programmatic wait: those rows are as constant during the step as the weights.
  __device__ bool first_tile_cached(const DecodeArgs& a, int KEYS) const {
    return a.preload && tile_begin < tile_end && (tile_begin + 1) * KEYS <= L - fresh;
  }
  __device__ int n_tiles() const { return max(0, tile_end - tile_begin); }
};

// Element col of query row (token t, head h): [q_lat (r) | q_rope (dr)].
__device__ __forceinline__ const bf16* q_value(const DecodeArgs& a, int t, int h, int col) {
  return col < a.r ? a.q_lat + (static_cast<int64_t>(t) * a.heads + h) * a.r + col
                   : a.q + t * a.ld_q + h * a.qk + a.dn + (col - a.r);
}

// Eight query values to shared memory: asynchronously where the source is 16-byte aligned
// (q_rope of a head need not be), else element by element.
__device__ __forceinline__ void copy_q8(void* dst, const bf16* src) {
  if ((reinterpret_cast<uintptr_t>(src) & 15) == 0)
    cp_async16(dst, src, 16);
  else
    for (int e = 0; e < 8; ++e) static_cast<bf16*>(dst)[e] = src[e];
}

// Query rows [q_lat (512) | q_rope (64)] of (token, head) = divmod(m0 + row, heads) for the
// CTA's first cta_rows rows, zeros for the rest of its M rows (and past the sequence's), in the
// 128-byte swizzled layout of the wgmma kernels: [9 atoms][M rows][128 B], 16-byte chunk c of a
// row's atom at chunk c ^ (row % 8). Asynchronous where aligned: the caller waits (cp_async_wait)
// and fences before the wgmma read it.
__device__ __forceinline__ void load_q_sw128(const DecodeArgs& a, const DecodeBlock& blk,
                                             unsigned char* qs, int M, int cta_rows) {
  for (int i = threadIdx.x; i < M * kFastChunks; i += blockDim.x) {
    const int row = i / kFastChunks, chunk = i % kFastChunks, p = blk.m0 + row;
    unsigned char* dst = qs + chunk / 8 * (M * 128) + row * 128 + ((chunk % 8) ^ (row % 8)) * 16;
    if (row >= cta_rows || p >= blk.rows) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const bf16* src = q_value(a, blk.q0 + p / a.heads, p % a.heads, chunk * 8);
    copy_q8(dst, src);
  }
}

// Key tile: cache rows [row, row + keys) as nine TMA boxes of keys x 64 values (one per 128-byte
// column atom, keys * 128 bytes apart in dst, 128-byte swizzled by the map), completing on
// `bar`. map: the address of the kernel's __grid_constant__ CUtensorMap.
__device__ __forceinline__ void load_key_tile_sw128(const void* map, unsigned char* dst, int row,
                                                    int keys, uint64_t* bar) {
  mbar_arrive_expect_tx(bar, keys * kFastD * sizeof(bf16));
#pragma unroll
  for (int at = 0; at < kFastD / 64; ++at)
    tma_load_2d(dst + at * keys * 128, map, at * 64, row, bar);
}

// Rows [n, keys) of a key tile staged by load_key_tile_sw128 set to zero, by `threads` threads
// (tid among them): a last, partial tile's box also brings its block's rows past the sequence
// end, which may hold anything (NaN times P = 0 is NaN). The caller fences (the async proxy
// reads them) and synchronises.
__device__ __forceinline__ void zero_key_rows_sw128(unsigned char* kt, int n, int keys, int tid,
                                                    int threads) {
  const int per_atom = (keys - n) * 8;  // 16-byte chunks
  for (int c = tid; c < kFastD / 64 * per_atom; c += threads) {
    const int at = c / per_atom, rest = c % per_atom;
    *reinterpret_cast<uint4*>(kt + at * keys * 128 + (n + rest / 8) * 128 + rest % 8 * 16) =
        make_uint4(0, 0, 0, 0);
  }
}

// 2^x by the special-function unit (inputs here are <= 0; -inf gives 0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// A row's log-sum-exp (natural log) from its base-2 running max m and sum l of 2^(s - m);
// -inf for a row that saw no key.
__device__ __forceinline__ float lse_from_base2(float m, float l) {
  return l > 0.0f ? (m + log2f(l)) * 0.6931471805599453f : -INFINITY;
}

// Online-softmax update of one query row for one key tile. The row's TPR consecutive lanes
// each hold KPT scores v (already scaled, -inf past the row's keys) and their max mx; the
// probabilities go to p (this lane's KPT bf16 values of the row's P tile), and the row's
// running max, sum and the rescale factor of its output accumulators are updated.
template <int KPT, int TPR>
__device__ __forceinline__ void softmax_row_update(const float (&v)[KPT], float mx, bf16* p,
                                                   int sub, float& m, float& l, float& alpha) {
#pragma unroll
  for (int off = 1; off < TPR; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  const float m_old = m;
  const float m_new = fmaxf(m_old, mx);
  float sum = 0.0f;
#pragma unroll
  for (int e = 0; e < KPT; e += 2) {
    const float p0 = m_new == -INFINITY ? 0.0f : __expf(v[e] - m_new);
    const float p1 = m_new == -INFINITY ? 0.0f : __expf(v[e + 1] - m_new);
    sum += p0 + p1;
    *reinterpret_cast<uint32_t*>(p + e) = pack_bf16(p0, p1);
  }
#pragma unroll
  for (int off = 1; off < TPR; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  __syncwarp();  // every lane of the row has read m before lane 0 rewrites it
  if (sub == 0) {
    alpha = m_new == -INFINITY ? 1.0f : __expf(m_old - m_new);
    l = l * alpha + sum;
    m = m_new;
  }
}

// Two adjacent output columns of query row p (token t, head h), already normalised: straight to
// o_lat (bf16) without KV splits, else into the split's partial output (f32).
// direct: straight to o_lat also with splits (their partial results already merged).
__device__ __forceinline__ void store_output_pair(const DecodeArgs& a, int64_t r, size_t part_row,
                                                  int p, int t, int h, int col, float x0, float x1,
                                                  bool direct = false) {
  if (direct || a.splits == 1)
    *reinterpret_cast<uint32_t*>(a.o_lat + (static_cast<int64_t>(t) * a.heads + h) * r + col) =
        pack_bf16(x0, x1);
  else
    *reinterpret_cast<float2*>(a.part_o + (part_row + p) * r + col) = make_float2(x0, x1);
}

// Thread-block clusters: this CTA's rank, the cluster's size, a barrier of all its threads
// (release / acquire: shared-memory writes before it are seen after it in every CTA), and
// loads from another CTA's shared memory at the address of `p` there.
__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ uint32_t cluster_size() {
  uint32_t n;
  asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(n));
  return n;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::
                   : "memory");
}
__device__ __forceinline__ uint32_t cluster_map(const void* p, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(smem_u32(p)), "r"(rank));
  return r;
}
// (No memory clobber: the loads of a chunk issue back to back; cluster_sync orders them.)
__device__ __forceinline__ float cluster_load(uint32_t addr) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(addr));
  return v;
}

// The KV splits of a row tile launched as one cluster (rank = split) merge in rank 0 through
// distributed shared memory instead of partial outputs in global memory and a combine kernel.
// Each CTA leaves its unnormalised O (NO values per thread), row maxima m (base 2) and sums l
// (NR rows per thread) in `xfer`, [NO + 2 NR][threads] floats of its own shared memory; rank 0
// folds the other ranks' values into its registers, thread by thread (same layouts). row_of(e):
// which of the thread's rows o[e] belongs to. False in the other ranks (they are done).
template <int NO, int NR, typename RowOf>
__device__ __forceinline__ bool cluster_merge(float* xfer, int threads, float (&o)[NO],
                                              float (&m)[NR], float (&l)[NR], RowOf row_of) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int e = 0; e < NO; ++e) xfer[e * threads + tid] = o[e];
#pragma unroll
  for (int j = 0; j < NR; ++j) {
    xfer[(NO + j) * threads + tid] = m[j];
    xfer[(NO + NR + j) * threads + tid] = l[j];
  }
  cluster_sync();
  const uint32_t rank = cluster_rank();
  if (rank == 0) {
    const uint32_t ranks = cluster_size();
    for (uint32_t src = 1; src < ranks; ++src) {
      const uint32_t base = cluster_map(xfer + tid, src);
      float a_own[NR], a_src[NR];
#pragma unroll
      for (int j = 0; j < NR; ++j) {
        const float ms = cluster_load(base + (NO + j) * threads * 4);
        const float ls = cluster_load(base + (NO + NR + j) * threads * 4);
        const float mn = fmaxf(m[j], ms);
        a_own[j] = m[j] == -INFINITY ? 0.0f : fast_exp2(m[j] - mn);
        a_src[j] = ms == -INFINITY ? 0.0f : fast_exp2(ms - mn);
        l[j] = l[j] * a_own[j] + ls * a_src[j];
        m[j] = mn;
      }
      // Sixteen loads in flight before their values are used (one at a time, each would wait
      // out the remote latency).
      static_assert(NO % 16 == 0, "chunks of 16");
#pragma unroll
      for (int e0 = 0; e0 < NO; e0 += 16) {
        float v[16];
#pragma unroll
        for (int e = 0; e < 16; ++e) v[e] = cluster_load(base + (e0 + e) * threads * 4);
#pragma unroll
        for (int e = 0; e < 16; ++e)
          o[e0 + e] = o[e0 + e] * a_own[row_of(e0 + e)] + v[e] * a_src[row_of(e0 + e)];
      }
    }
  }
  cluster_sync();  // the other ranks' shared memory stays until rank 0 has read it
  return rank == 0;
}

}  // namespace duet::cuda::mla
