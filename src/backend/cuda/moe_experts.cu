// Routed experts: one block plans (counts tokens per local expert, gives the non-empty experts
// row ranges of a buffer in ascending id and every (token, slot) pair its row), gate_up GEMM with
// SwiGLU, down GEMM, then per token the weighted sum of its experts' rows in ascending expert id
// (as the CPU op).
//
// The ways to run the GEMMs, by size:
// - One token (decode at batch 1): no plan at all (moe_one_token.cu); the skinny kernel takes each
//   selected expert's weights from the ids, and the down products and the weighted combine are
//   one launch.
// - Up to a mean of 64 rows per expert (decode batches, small prefills): the grouped GEMM kernel
//   (grouped_gemm.cu) over packed rows, reading each expert's row range on the device and x
//   through the row map. No host read, so a step never waits for the device mid-layer and the op
//   can be recorded in a CUDA graph.
// - Two tokens (one too, on path -1 or unaligned), and shapes the grouped kernel does not take up
//   to kNoSyncTokens:
//   pointer-array batches (the skinny kernel for up to 2 rows, else cuBLAS) over chunks of at
//   most M rows, each chunk one expert's tokens, copied to their rows first. The number of chunks
//   has a bound known up front; batch entries past the real chunks repeat the last expert over
//   rows nothing reads.
// - Above 64 rows per expert (prefill): the warpgroup-MMA grouped kernel
//   (grouped_gemm_wgmma.cu) over the tokens packed by expert (moe_pack.cu), again with each
//   expert's row range read on the device, SwiGLU in the gate_up GEMM's epilogue.
// - Shapes neither grouped kernel takes read the counts back (one sync per MoE layer) and use
//   cuBLAS with M = max count, or one GEMM per expert over packed rows when padding would double
//   the work.
#include <algorithm>
#include <climits>
#include <vector>

#include "backend/cuda/cuda_common.cuh"

namespace duet::cuda {
namespace {

constexpr int64_t kNoSyncTokens = 128;
constexpr int64_t kSkinnyTokens = 2;
constexpr int64_t kGroupedRowsPerExpert = 64;
constexpr int kThreads = 256;

__global__ void count_kernel(const int32_t* ids, int64_t ld, int T, int k, int first, int E,
                             int32_t* counts) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= T * k) return;
  const int e = ids[(i / k) * ld + i % k] - first;
  if (e >= 0 && e < E) atomicAdd(&counts[e], 1);
}

struct Plan {
  const bf16* gate_up;  // expert e at e * s1
  int64_t s1;
  const bf16* down;  // expert e at e * s2
  int64_t s2;
  bf16 *xp, *gu, *act, *y;  // [rows, H], [rows, 2I], [rows, I], [rows, H]
  int64_t H, I;
  const void** ptrs;  // 6 arrays of `batch` pointers: W1, X, GU, W2, ACT, Y
  int batch, M;       // M = 0: packed rows (prefix offsets)
  const bf16* x_one;  // one token: every chunk reads it in place (no permuted copy), else null
  // Grouped GEMM (packed rows, or null): each expert's first row and count, [E] each, and the
  // token of every row, [T k], so the first GEMM reads x in place of a permuted copy.
  int32_t *expert_first, *expert_count, *row_token;
};

// One block plans the whole op: counts each local expert's tokens (shared-memory atomics),
// assigns each expert's rows in ascending id (a chunk of M rows starting at a multiple of M
// per ceil(n / M) batch entries; M = 0 packs rows), fills the pointer arrays of the batched
// GEMMs, and gives every (token, slot) pair its row: rows[t * k + j], -1 for an expert this
// rank does not hold. Rows within an expert go by arrival (the GEMMs are row-independent).
// One kernel instead of memset + count + plan + an atomic permute: at decode sizes each of
// those was a few microseconds of latency per MoE layer. The row and slot offsets are warp scans
// (a serial loop over the experts in one thread was a chain of shared-memory round trips).
constexpr int kPlanThreads = 256;

__global__ void __launch_bounds__(kPlanThreads)
    plan_kernel(const int32_t* ids, int64_t ld_ids, int T, int k, int first, int E, int32_t* rows,
                Plan p) {
  extern __shared__ int32_t plan_smem[];
  int32_t* n = plan_smem;          // [E] tokens of each expert
  int32_t* first_slot = n + E;     // [E] its first batch entry
  int32_t* first_row = n + 2 * E;  // [E] its first row
  int32_t* fill = n + 3 * E;       // [E] rows handed out so far
  __shared__ int32_t used_slots, last;
  for (int e = threadIdx.x; e < E; e += blockDim.x) n[e] = fill[e] = 0;
  __syncthreads();
  const int entries = T * k;
  for (int i = threadIdx.x; i < entries; i += blockDim.x) {
    const int e = ids[(i / k) * ld_ids + i % k] - first;
    if (e >= 0 && e < E) atomicAdd(&n[e], 1);
  }
  __syncthreads();
  if (threadIdx.x < 32) {  // exclusive scans of chunks and rows, 32 experts at a time
    const int lane = threadIdx.x;
    int slot = 0, row = 0, l = 0;
    for (int base = 0; base < E; base += 32) {
      const int e = base + lane, ne = e < E ? n[e] : 0;
      const int chunks = p.M ? (ne + p.M - 1) / p.M : 0, nrows = p.M ? chunks * p.M : ne;
      const int cs = warp_inclusive_sum(chunks), rs = warp_inclusive_sum(nrows);
      if (e < E) {
        first_slot[e] = slot + cs - chunks;
        first_row[e] = row + rs - nrows;
      }
      slot += __shfl_sync(0xffffffffu, cs, 31);
      row += __shfl_sync(0xffffffffu, rs, 31);
      const unsigned nonempty = __ballot_sync(0xffffffffu, ne > 0);
      if (nonempty) l = base + 31 - __clz(nonempty);
    }
    if (lane == 0) {
      used_slots = slot;
      last = l;
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < entries; i += blockDim.x) {
    const int e = ids[(i / k) * ld_ids + i % k] - first;
    rows[i] = e >= 0 && e < E ? first_row[e] + atomicAdd(&fill[e], 1) : -1;
    if (p.row_token && rows[i] >= 0) p.row_token[rows[i]] = i / k;
  }
  if (p.expert_first) {
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
      p.expert_first[e] = first_row[e];
      p.expert_count[e] = n[e];
    }
  }
  if (!p.M) return;
  const void** w1 = p.ptrs;
  const void** xa = w1 + p.batch;
  const void** gu = xa + p.batch;
  const void** w2 = gu + p.batch;
  const void** ac = w2 + p.batch;
  const void** ya = ac + p.batch;
  auto set = [&](int i, int e, int64_t row) {
    w1[i] = p.gate_up + e * p.s1;
    w2[i] = p.down + e * p.s2;
    xa[i] = p.x_one ? p.x_one : p.xp + row * p.H;
    gu[i] = p.gu + row * 2 * p.I;
    ac[i] = p.act + row * p.I;
    ya[i] = p.y + row * p.H;
  };
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    for (int r = 0, slot = first_slot[e]; r < n[e]; r += p.M, ++slot)
      if (slot < p.batch) set(slot, e, first_row[e] + r);
  }
  // Unused entries: the last expert's weights over rows past the real chunks (slot * M is past
  // them, since every real chunk takes M rows), which nothing reads.
  for (int slot = used_slots + threadIdx.x; slot < p.batch; slot += blockDim.x)
    set(slot, last, static_cast<int64_t>(slot) * p.M);
}

// Block per (token, slot) pair with a local expert: copies the token to its row.
__global__ void permute_kernel(const bf16* x, int64_t ld_x, const int32_t* rows, int k, bf16* xp,
                               int64_t H) {
  const int i = blockIdx.x, t = i / k;
  const int r = rows[i];
  if (r < 0) return;
  const bf16* src = x + t * ld_x;
  bf16* dst = xp + static_cast<int64_t>(r) * H;
  if ((ld_x % 8 == 0) && (H % 8 == 0)) {
    for (int64_t c = threadIdx.x; c < H / 8; c += blockDim.x)
      reinterpret_cast<uint4*>(dst)[c] = reinterpret_cast<const uint4*>(src)[c];
  } else {
    for (int64_t c = threadIdx.x; c < H; c += blockDim.x) dst[c] = src[c];
  }
}

// out[t] = sum over j in ascending expert id of w[t, j] * y[rows[t, j]], fp32 accumulation.
// Block per (token, 2048 columns): the first k threads each load one of the token's pairs and
// put it at its rank (ascending id, ties by slot; pairs of experts not held here last), so the
// sort costs one round of loads; then each thread sums 8 columns over the pairs with 16-byte
// loads in flight. A single thread sorting with repeated global reads took ~10 us per call
// (ncu, H100), a fixed cost in every MoE layer.
constexpr int kCombineThreads = 256;
constexpr int kCombineCols = 8 * kCombineThreads;

__global__ void __launch_bounds__(kCombineThreads)
    combine_kernel(const int32_t* ids, int64_t ld_ids, const float* w, int64_t ld_w,
                   const int32_t* rows, int k, const bf16* y, int64_t H, bf16* out, int64_t ld_out,
                   bool vec) {
  __shared__ int key[32], sorted_row[32];
  __shared__ float sorted_w[32];
  const int t = blockIdx.x, j = threadIdx.x;
  int r = -1;
  float wt = 0.0f;
  if (j < k) {
    r = rows[t * k + j];
    wt = w[t * ld_w + j];
    key[j] = r >= 0 ? ids[t * ld_ids + j] : INT_MAX;
  }
  const int used = __syncthreads_count(j < k && r >= 0);
  if (j < k && r >= 0) {
    int rank = 0;
    for (int i = 0; i < k; ++i) rank += key[i] < key[j] || (key[i] == key[j] && i < j);
    sorted_row[rank] = r;
    sorted_w[rank] = wt;
  }
  __syncthreads();
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kCombineCols;
  if (vec) {
    const int64_t c = c0 + 8 * j;
    if (c >= H) return;
    float acc[8] = {};
    for (int i0 = 0; i0 < used; i0 += 8) {
      uint4 v[8];
#pragma unroll
      for (int u = 0; u < 8; ++u)
        if (i0 + u < used) v[u] = *reinterpret_cast<const uint4*>(y + sorted_row[i0 + u] * H + c);
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        if (i0 + u >= used) break;
        const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&v[u]);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float2 f = __bfloat1622float2(p[q]);
          acc[2 * q] = fmaf(sorted_w[i0 + u], f.x, acc[2 * q]);
          acc[2 * q + 1] = fmaf(sorted_w[i0 + u], f.y, acc[2 * q + 1]);
        }
      }
    }
    uint4 o;
    __nv_bfloat162* op = reinterpret_cast<__nv_bfloat162*>(&o);
#pragma unroll
    for (int q = 0; q < 4; ++q) op[q] = __floats2bfloat162_rn(acc[2 * q], acc[2 * q + 1]);
    *reinterpret_cast<uint4*>(out + t * ld_out + c) = o;
  } else {
    const int64_t c1 = c0 + kCombineCols < H ? c0 + kCombineCols : H;
    for (int64_t c = c0 + j; c < c1; c += kCombineThreads) {
      float acc = 0.0f;
      for (int i = 0; i < used; ++i)
        acc = fmaf(sorted_w[i], __bfloat162float(y[sorted_row[i] * H + c]), acc);
      out[t * ld_out + c] = __float2bfloat16_rn(acc);
    }
  }
}

// A grouped GEMM of the op: y [rows, N] = x [rows (through row_src), K] w^T over the experts'
// row ranges in `rows_of`; weights with row stride K, y with row stride N.
GroupedGemm grouped_problem(const GroupedGemm& rows_of, const bf16* x, int64_t ldx,
                            const int32_t* row_src, const bf16* w, int64_t w_stride, bf16* y,
                            int64_t N, int64_t K, int64_t glu_offset) {
  GroupedGemm g = rows_of;
  g.x = x;
  g.ldx = ldx;
  g.row_src = row_src;
  g.w = w;
  g.w_stride = w_stride;
  g.ldw = K;
  g.y = y;
  g.ldy = N;
  g.N = N;
  g.K = K;
  g.glu_offset = glu_offset;
  return g;
}

void batched(Context& c, int batch, int64_t M, int64_t N, int64_t K, const void** w, int64_t ldw,
             const void** x, void** y) {
  if (skinny_gemm_batched(c, batch, M, N, K, w, ldw, x, y)) return;
  const float alpha = 1.0f, beta = 0.0f;
  DUET_CUBLAS_CHECK(cublasGemmBatchedEx(
      c.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
      static_cast<int>(K), &alpha, w, CUDA_R_16BF, static_cast<int>(ldw), x, CUDA_R_16BF,
      static_cast<int>(K), &beta, y, CUDA_R_16BF, static_cast<int>(N), batch, CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void moe_experts(Context& c, const ExpertParams& p) {
  const int64_t T = p.x.rows, H = p.x.cols, k = p.ids.cols;
  const int64_t E = p.gate_up.batch, I = p.gate_up.rows / 2;
  if (T == 0) return;
  // One token (decode at batch 1): two launches, no plan (moe_one_token.cu).
  if (T == 1 && c.moe_path == 0 && moe_one_token(c, p)) return;
  DUET_CHECK(p.x.dtype == DType::kBF16 && p.gate_up.dtype == DType::kBF16 &&
                 p.down.dtype == DType::kBF16 && p.out.dtype == DType::kBF16,
             "cuda moe_experts: bf16 tensors");
  DUET_CHECK(k <= 32 && p.gate_up.ld == H && p.down.ld == I, "cuda moe_experts: layout");
  const int64_t S = T * k;  // (token, slot) pairs
  // [E] first rows, [E] counts (read back for large batches), [S] each pair's row, [S] each
  // row's token.
  int32_t* expert_first = c.workspace_as<int32_t>(kWsMoeCounts, static_cast<size_t>(3 * E + 2 * S));
  int32_t* counts = expert_first + E;
  int32_t* rows = counts + E;
  int32_t* row_token = rows + S;
  int32_t* fill = row_token + S;  // [E] scratch of moe_pack
  const int first = static_cast<int>(p.first_expert);
  Plan plan{};
  plan.gate_up = p.gate_up.ptr<const bf16>();
  plan.s1 = p.gate_up.batch_stride;
  plan.down = p.down.ptr<const bf16>();
  plan.s2 = p.down.batch_stride;
  plan.H = H;
  plan.I = I;
  auto launch_plan = [&](int64_t batch) {
    plan.ptrs = static_cast<const void**>(c.workspace(
        kWsMoeRows, static_cast<size_t>(6 * std::max<int64_t>(batch, 1)) * sizeof(void*)));
    plan_kernel<<<1, kPlanThreads, 4 * E * sizeof(int32_t), c.stream>>>(
        p.ids.ptr<const int32_t>(), p.ids.ld, static_cast<int>(T), static_cast<int>(k), first,
        static_cast<int>(E), rows, plan);
    DUET_CUDA_LAUNCHED();
  };
  auto combine = [&] {
    const bool vec = H % 8 == 0 && p.out.ld % 8 == 0 && aligned16(p.out.data) && aligned16(plan.y);
    combine_kernel<<<dim3(static_cast<unsigned>(T),
                          static_cast<unsigned>(ceil_div(H, kCombineCols))),
                     kCombineThreads, 0, c.stream>>>(
        p.ids.ptr<const int32_t>(), p.ids.ld, p.weights.ptr<const float>(), p.weights.ld, rows,
        static_cast<int>(k), plan.y, H, p.out.ptr<bf16>(), p.out.ld, vec);
    DUET_CUDA_LAUNCHED();
  };

  // Both grouped kernels see every expert's row range on the device; a token's experts are
  // distinct, so no expert holds more than T rows.
  GroupedGemm rows_of{};
  rows_of.expert_first = expert_first;
  rows_of.expert_count = counts;
  rows_of.E = static_cast<int>(E);
  rows_of.max_rows = static_cast<int>(T);

  // The mma.sync grouped GEMM kernel over packed rows: no host read and no padding (and graphs
  // can record the op). Used up to a mean of 64 rows per expert (one pass of the kernel's row
  // tile); beyond, it re-streams its weight tiles and the warpgroup-MMA kernel below takes over
  // (H100, Moonlight experts: 3.3 against 1.0 ms at 512 rows per expert; at 64, 445 against 467
  // us the other way). Up to 2 tokens the skinny kernel over 1-2 row chunks streams as fast or
  // faster (52-57 against 59-63 us at 1 token).
  const bool grouped = c.moe_path == -2 || c.moe_path > 0 ||
                       (c.moe_path == 0 && T > kSkinnyTokens && S <= kGroupedRowsPerExpert * E);
  if (grouped) {
    plan.act = c.workspace_as<bf16>(kWsMoeAct, static_cast<size_t>(S * I));  // [S, I]
    plan.y = c.workspace_as<bf16>(kWsMoeY, static_cast<size_t>(S * H));      // [S, H]
    // gate_up reads the tokens through the row map and writes SwiGLU; down reads act's rows.
    const GroupedGemm up = grouped_problem(rows_of, p.x.ptr<const bf16>(), p.x.ld, row_token,
                                           plan.gate_up, plan.s1, plan.act, I, H, I);
    const GroupedGemm down =
        grouped_problem(rows_of, plan.act, I, nullptr, plan.down, plan.s2, plan.y, H, I, 0);
    if (grouped_gemm_fits(up) && grouped_gemm_fits(down)) {
      plan.expert_first = expert_first;
      plan.expert_count = counts;
      plan.row_token = row_token;
      launch_plan(0);
      grouped_gemm(c, up);
      grouped_gemm(c, down);
      return combine();
    }
  }

  // Prefill sizes: the warpgroup-MMA grouped kernel over x packed by expert (moe_pack), again
  // with each expert's row range read on the device, so no read-back and no expert padded
  // (H100, Moonlight experts, 512 rows per expert: 1.00-1.03 ms against 1.08 ms on the counted
  // cuBLAS path below).
  const bool wgmma = (c.moe_path <= -5 && c.moe_path >= -7) ||
                     (c.moe_path == 0 && !grouped && T > kSkinnyTokens && !c.moe_prefill_cublas);
  if (wgmma) {
    plan.xp = c.workspace_as<bf16>(kWsMoeX, static_cast<size_t>(S * H));     // [S, H]
    plan.act = c.workspace_as<bf16>(kWsMoeAct, static_cast<size_t>(S * I));  // [S, I]
    plan.y = c.workspace_as<bf16>(kWsMoeY, static_cast<size_t>(S * H));      // [S, H]
    const GroupedGemm up =
        grouped_problem(rows_of, plan.xp, H, nullptr, plan.gate_up, plan.s1, plan.act, I, H, I);
    const GroupedGemm down =
        grouped_problem(rows_of, plan.act, I, nullptr, plan.down, plan.s2, plan.y, H, I, 0);
    if (grouped_gemm_wgmma_fits(up, S) && grouped_gemm_wgmma_fits(down, S) &&
        moe_pack_fits(E, H, p.x.ld, p.x.data, plan.xp)) {
      MoePack pack{};
      pack.ids = p.ids.ptr<const int32_t>();
      pack.ld_ids = p.ids.ld;
      pack.T = static_cast<int>(T);
      pack.k = static_cast<int>(k);
      pack.first = first;
      pack.E = static_cast<int>(E);
      pack.x = p.x.ptr<const bf16>();
      pack.ld_x = p.x.ld;
      pack.H = H;
      pack.counts = counts;
      pack.expert_first = expert_first;
      pack.fill = fill;
      pack.rows = rows;
      pack.xp = plan.xp;
      moe_pack(c, pack);
      grouped_gemm_wgmma(c, up, S);
      grouped_gemm_wgmma(c, down, S);
      return combine();
    }
  }

  auto zero_out = [&] {
    DUET_CUDA_CHECK(cudaMemset2DAsync(p.out.data, p.out.ld * 2, 0, H * 2, T, c.stream));
  };
  int64_t M, batch;
  std::vector<int32_t> host_counts;
  if (T <= kNoSyncTokens) {
    // Chunks of M rows (shapes the grouped kernel does not take, and cuda_bench's comparison),
    // M about the mean tokens per expert (a power of two in [16, 64], at most T): an expert with
    // n tokens takes ceil(n / M) chunks, and with S = T k selections over at most N = min(E, S)
    // non-empty experts there are at most (S + N (M - 1)) / M of them. Each unused entry
    // re-reads an expert from L2.
    const int64_t N = std::min(E, S);
    M = 16;
    while (M < 64 && M * E < S) M *= 2;
    M = std::min(M, T);
    batch = std::min(S, (S + N * (M - 1)) / M);
  } else {
    DUET_CHECK(!c.capturing, "cuda moe_experts: ", T,
               " tokens need a count read-back, which a graph cannot record");
    DUET_CUDA_CHECK(cudaMemsetAsync(counts, 0, E * sizeof(int32_t), c.stream));
    count_kernel<<<static_cast<unsigned>(ceil_div(S, kThreads)), kThreads, 0, c.stream>>>(
        p.ids.ptr<const int32_t>(), p.ids.ld, static_cast<int>(T), static_cast<int>(k), first,
        static_cast<int>(E), counts);
    DUET_CUDA_LAUNCHED();
    int32_t* h = c.pinned(static_cast<size_t>(E));
    DUET_CUDA_CHECK(
        cudaMemcpyAsync(h, counts, E * sizeof(int32_t), cudaMemcpyDeviceToHost, c.stream));
    DUET_CUDA_CHECK(cudaStreamSynchronize(c.stream));
    host_counts.assign(h, h + E);
    int64_t nonempty = 0, total = 0, max_count = 0;
    for (int32_t n : host_counts) {
      nonempty += n > 0;
      total += n;
      max_count = std::max<int64_t>(max_count, n);
    }
    if (total == 0) return zero_out();
    batch = nonempty;
    M = nonempty * max_count <= 2 * total ? max_count : 0;  // 0: packed, one GEMM per expert
  }
  if (batch == 0) return zero_out();
  const int64_t R = M ? batch * M : S;  // rows of the permuted buffers
  plan.xp = c.workspace_as<bf16>(kWsMoeX, static_cast<size_t>(R * H));           // [R, H]
  plan.gu = c.workspace_as<bf16>(kWsMoeHidden, static_cast<size_t>(R * 2 * I));  // [R, 2I]
  plan.act = c.workspace_as<bf16>(kWsMoeAct, static_cast<size_t>(R * I));        // [R, I]
  plan.y = c.workspace_as<bf16>(kWsMoeY, static_cast<size_t>(R * H));            // [R, H]
  plan.batch = static_cast<int>(M ? batch : 0);
  plan.M = static_cast<int>(M);
  // One token is the only row of every chunk: the GEMMs read it where it is.
  if (T == 1 && M == 1 && H % 8 == 0 && aligned16(p.x.data)) plan.x_one = p.x.ptr<const bf16>();
  launch_plan(batch);
  if (!plan.x_one) {
    permute_kernel<<<static_cast<unsigned>(S), kThreads, 0, c.stream>>>(
        p.x.ptr<const bf16>(), p.x.ld, rows, static_cast<int>(k), plan.xp, H);
    DUET_CUDA_LAUNCHED();
  }

  Tensor gu = Tensor::matrix(plan.gu, DType::kBF16, R, 2 * I);
  Tensor act = Tensor::matrix(plan.act, DType::kBF16, R, I);
  if (M && batch == E && !host_counts.empty() && c.moe_path != -3) {
    // Every expert has one chunk, chunk e at rows e M: strided batches, which cuBLAS runs on
    // its regular kernels rather than the pointer-array ones.
    gemm_strided_batched(c, E, M, 2 * I, H, plan.xp, H, M * H, plan.gate_up, H, plan.s1, plan.gu,
                         2 * I, M * 2 * I, false);
    silu_mul(c, gu, act);
    gemm_strided_batched(c, E, M, H, I, plan.act, I, M * I, plan.down, I, plan.s2, plan.y, H, M * H,
                         false);
  } else if (M) {
    const int b = static_cast<int>(batch);
    const void** ptr = plan.ptrs;
    // Up to 2 rows per chunk the gate_up product and SwiGLU are one kernel writing act.
    if (!skinny_gemm_batched(c, b, M, I, H, ptr, H, ptr + b, const_cast<void**>(ptr + 4 * b), I)) {
      batched(c, b, M, 2 * I, H, ptr, H, ptr + b, const_cast<void**>(ptr + 2 * b));
      silu_mul(c, gu, act);
    }
    batched(c, b, M, H, I, ptr + 3 * b, I, ptr + 4 * b, const_cast<void**>(ptr + 5 * b));
  } else {
    // Packed rows in ascending expert id, offsets as plan_kernel computed them.
    int64_t off = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = host_counts[e];
      if (n == 0) continue;
      gemm(c, Tensor::matrix(plan.xp + off * H, DType::kBF16, n, H), p.gate_up[e],
           gu.slice_rows(off, off + n));
      off += n;
    }
    Tensor used_gu = gu.slice_rows(0, off), used_act = act.slice_rows(0, off);
    silu_mul(c, used_gu, used_act);
    off = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = host_counts[e];
      if (n == 0) continue;
      gemm(c, act.slice_rows(off, off + n), p.down[e],
           Tensor::matrix(plan.y + off * H, DType::kBF16, n, H));
      off += n;
    }
  }
  combine();
}

}  // namespace duet::cuda
