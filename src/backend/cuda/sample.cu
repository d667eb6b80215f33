// Token sampling on the device: one 512-thread CTA per logit row, the semantics of sample_row
// (sample_spec.h) without sorting the vocabulary. Up to 64 rows that are all greedy take
// sample_greedy.cu instead (each row spread over many CTAs).
//
// Every token gets an order-preserving 64-bit key (logit bits, then the inverted id), so the
// CPU's order "logit descending, ties to the lower id" is "key descending" with no ties. Each
// cut is a question "where in that order does a running total first reach a target": top-k by
// count, top-p and the draw by probability mass, the kept total by count again. Masses are
// quantised to integers (p * 2^F with F chosen so a row's total fits 63 bits), so every sum is
// exact and order-free: the result is the CPU walk on probabilities rounded to 2^-F (F = 45 at
// V = 163840), i.e. it differs only where a boundary falls within ~1e-13 of a target.
//
// Answering a question: one pass builds a histogram of count and mass over 4096 buckets of
// x = (l - l_best) / T (1/16 wide, monotone in the key); the target's bucket is found from its
// prefix sums, its tokens (<= 8192) are gathered to shared memory, radix-sorted by key and
// prefix-summed, and the position is read off. A bucket holding more tokens (ties, tiny T)
// is first narrowed by 8-bit radix digits of the key over passes of the row.
#include <cstdint>

#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/sample_keys.cuh"

namespace duet::cuda {
namespace {

// 512 threads leave 128 registers each: the double exp and the 16-key sort then do not spill.
constexpr int kThreads = 512;
constexpr int kBuckets = 4096;
constexpr int kPerThread = kBuckets / kThreads;  // buckets per thread in the prefix scan
constexpr int kBucketsPerUnit = 16;  // buckets per unit of x: mass ratio e^(1/16) per bucket
constexpr int kSortItems = 16;
constexpr int kCap = kThreads * kSortItems;  // tokens a bucket may hold to be sorted in place
constexpr int kDigits = 256;

constexpr int kSmallItems = 4;  // buckets of <= 2048 tokens sort 4x fewer slots
using SortT = cub::BlockRadixSort<unsigned long long, kThreads, kSortItems>;
using SortSmallT = cub::BlockRadixSort<unsigned long long, kThreads, kSmallItems>;
using ScanT = cub::BlockScan<unsigned long long, kThreads>;
using ReduceT = cub::BlockReduce<unsigned long long, kThreads>;

struct Shared {
  unsigned cnt[kBuckets];             // per bucket, then inclusive prefix (best bucket first)
  unsigned long long mass[kBuckets];  // likewise, quantised mass
  union {
    SortT::TempStorage sort;
    SortSmallT::TempStorage sort_small;
    struct {
      unsigned long long key[kCap];  // the gathered tokens' keys; after sorting, their ids
      unsigned long long cum[kCap];  // inclusive prefix of their quantised masses
    } cand;
    struct {
      unsigned cnt[kDigits];
      unsigned long long mass[kDigits];
    } digit;
    struct {                  // the histogram pass's mass: 64-bit sums from native 32-bit atomics
      unsigned lo[kBuckets];  // sum of the low halves, mod 2^32
      unsigned hi[kBuckets];  // sum of the high halves plus every carry out of lo
    } hist;
  } u;
  ScanT::TempStorage scan;
  ReduceT::TempStorage reduce;
  unsigned long long lo, hi, above_mass, bcast;
  unsigned n_cand, above_cnt, range_cnt, ord_lo, ord_hi;
  int bucket, cached, hit;
  double exp2_tab[64];  // 2^(j/64)
};

struct MaxOp {
  __device__ unsigned long long operator()(unsigned long long a, unsigned long long b) const {
    return a > b ? a : b;
  }
};

// Row constants. Element functions below use _rn intrinsics so no call site contracts them
// differently: a token must get the same bucket and mass in every pass.
struct Row {
  const float* l;
  int V;
  float best, bscale;
  double T, top, invT, qscale;
  const double* exp2_tab;
};

__device__ __forceinline__ float load(const Row& r, int i) {
  return plus_zero(__ldg(r.l + i));
}

// f(logit, id) for every token of the row. Each thread loads kUnroll float4s (aligned rows) or
// floats before using any, so a pass keeps enough loads in flight to stream the row from one
// SM; the order tokens are visited in does not matter (every reduction here is exact).
template <typename F>
__device__ __forceinline__ void for_row(const Row& r, F&& f) {
  constexpr int kUnroll = 4, kStep = 4 * kUnroll * kThreads;
  const int t = static_cast<int>(threadIdx.x);
  int base = 0;
  if ((reinterpret_cast<uintptr_t>(r.l) & 15) == 0) {
    const float4* l4 = reinterpret_cast<const float4*>(r.l);
    for (; base + kStep <= r.V; base += kStep) {
      float4 v[kUnroll];
      for (int j = 0; j < kUnroll; ++j) v[j] = __ldg(l4 + base / 4 + j * kThreads + t);
      for (int j = 0; j < kUnroll; ++j) {
        const int i = base + 4 * (j * kThreads + t);
        f(plus_zero(v[j].x), i);
        f(plus_zero(v[j].y), i + 1);
        f(plus_zero(v[j].z), i + 2);
        f(plus_zero(v[j].w), i + 3);
      }
    }
  }
  for (; base + kUnroll * kThreads <= r.V; base += kUnroll * kThreads) {
    float v[kUnroll];
    for (int j = 0; j < kUnroll; ++j) v[j] = load(r, base + j * kThreads + t);
    for (int j = 0; j < kUnroll; ++j) f(v[j], base + j * kThreads + t);
  }
  for (int i = base + t; i < r.V; i += kThreads) f(load(r, i), i);
}

// Bucket of a logit: floor((best - l) * 16 / T), monotone in l; -inf and far tails go last.
__device__ __forceinline__ int bucket_of(const Row& r, float v) {
  const float d = __fmul_rn(__fsub_rn(r.best, v), r.bscale);
  return d < static_cast<float>(kBuckets - 1) ? static_cast<int>(d) : kBuckets - 1;
}

// e^x for -14 < x <= 0 to a few ulps of a double, in ~12 double operations (CUDA's exp takes
// about twice as many, and this pass runs it for most of a vocabulary): x = k ln2/64 + r with
// |r| <= ln2/128, e^x = 2^(k>>6) 2^((k&63)/64) e^r, e^r by its Taylor series to r^5 (the next
// term is < 4e-17). Only needs to be far inside the 2^-F mass quantum.
__device__ __forceinline__ double exp_neg(const Row& r, double x) {
  constexpr double kInvLn2x64 = 92.332482616893656877;  // 64 / ln 2
  constexpr double kLn2d64Hi = 0x1.62e42fefa3800p-7;    // ln 2 / 64, high bits
  constexpr double kLn2d64Lo = 0x1.ef35793c76730p-51;   // and the rest
  constexpr double kShifter = 0x1.8p52;                 // rounds to an integer on addition
  const double t = __dadd_rn(__dmul_rn(x, kInvLn2x64), kShifter);
  const int k = __double2loint(t);
  const double kd = __dsub_rn(t, kShifter);
  double q = __fma_rn(-kd, kLn2d64Hi, x);
  q = __fma_rn(-kd, kLn2d64Lo, q);
  double p = __fma_rn(q, 1.0 / 120, 1.0 / 24);
  p = __fma_rn(p, q, 1.0 / 6);
  p = __fma_rn(p, q, 0.5);
  p = __fma_rn(p, q, 1.0);
  p = __fma_rn(p, q, 1.0);
  const double scale = __hiloint2double((1023 + (k >> 6)) << 20, 0);
  return __dmul_rn(__dmul_rn(p, r.exp2_tab[k & 63]), scale);
}

// exp(l/T - best/T) in double where it can matter (l * (1/T) instead of l / T: a difference of
// an ulp of the argument, far below the 2^-F quantum); tokens below e^-14 use a float exp of a
// double-split argument (relative error ~1e-7 on a mass under 1e-6), below e^-41 they round to
// zero mass anyway.
__device__ __forceinline__ double prob_of(const Row& r, float v) {
  const double x = __dsub_rn(__dmul_rn(static_cast<double>(v), r.invT), r.top);
  if (x > -14.0) return exp_neg(r, x);
  if (!(x > -41.0)) return 0.0;
  const float xh = static_cast<float>(x);
  const float xl = static_cast<float>(__dsub_rn(x, static_cast<double>(xh)));
  return __dmul_rn(static_cast<double>(expf(xh)), __dadd_rn(1.0, static_cast<double>(xl)));
}

__device__ __forceinline__ unsigned long long quant(const Row& r, double p) {
  return __double2ull_rn(__dmul_rn(p, r.qscale));
}

struct Hit {
  int id;                          // the token
  unsigned long long count, mass;  // count and mass through it
};

// Sorts the n_cand gathered keys descending (as ids) and fills cand.cum with the prefix of
// their masses. The radix sort runs on a narrowed key, (ord - ord_lo) then the id's low bits,
// which orders like the full key and spans far fewer bits.
template <typename Sort, int kItems>
__device__ void sort_and_sum(Shared& sh, const Row& r, typename Sort::TempStorage& temp) {
  const int n = static_cast<int>(sh.n_cand);
  const int id_bits = 32 - __clz(r.V > 1 ? r.V - 1 : 1);
  const unsigned id_mask = (1u << id_bits) - 1u;
  const unsigned ord_lo = sh.ord_lo;
  const int end_bit = id_bits + 32 - __clz(static_cast<int>(sh.ord_hi - ord_lo) | 1);
  unsigned long long k[kItems];
  for (int j = 0; j < kItems; ++j) {
    const int at = threadIdx.x * kItems + j;
    const unsigned long long key = at < n ? sh.u.cand.key[at] : 0ull;
    // Padding sorts last: the sort is stable and padding follows every real key in the input.
    k[j] = at < n ? (static_cast<unsigned long long>((key >> 32) - ord_lo) << id_bits) |
                        (static_cast<unsigned>(key) & id_mask)
                  : 0ull;
  }
  __syncthreads();
  if (n > 1) Sort(temp).SortDescending(k, 0, end_bit);
  __syncthreads();
  unsigned long long m[kItems], run = 0;
  for (int j = 0; j < kItems; ++j) {
    const int at = threadIdx.x * kItems + j;
    const int id = static_cast<int>(id_mask - (static_cast<unsigned>(k[j]) & id_mask));
    sh.u.cand.key[at] = static_cast<unsigned long long>(id);
    run += at < n ? quant(r, prob_of(r, load(r, id))) : 0ull;
    m[j] = run;
  }
  unsigned long long before;
  ScanT(sh.scan).ExclusiveSum(run, before);
  for (int j = 0; j < kItems; ++j) sh.u.cand.cum[threadIdx.x * kItems + j] = m[j] + before;
  __syncthreads();
}

// Gathers the tokens of bucket b (when b >= 0) or of key range [lo, hi] into cand, sorted.
__device__ void gather(Shared& sh, const Row& r, int b) {
  if (threadIdx.x == 0) {
    sh.n_cand = 0;
    sh.ord_lo = ~0u;
    sh.ord_hi = 0;
  }
  __syncthreads();
  const unsigned long long lo = sh.lo, hi = sh.hi;
  for_row(r, [&](float v, int i) {
    const unsigned long long k = make_key(v, i);
    if (b >= 0 ? bucket_of(r, v) == b : k >= lo && k <= hi) {
      sh.u.cand.key[atomicAdd(&sh.n_cand, 1u)] = k;
      atomicMin(&sh.ord_lo, ordered(v));
      atomicMax(&sh.ord_hi, ordered(v));
    }
  });
  __syncthreads();
  if (sh.n_cand <= static_cast<unsigned>(kThreads * kSmallItems))
    sort_and_sum<SortSmallT, kSmallItems>(sh, r, sh.u.sort_small);
  else
    sort_and_sum<SortT, kSortItems>(sh, r, sh.u.sort);
}

// Narrows a bucket too large to sort: 8-bit radix digits of (key - lo) over passes of the row
// until the digit holding the target has <= kCap tokens; leaves the range in sh.lo/hi and the
// count and mass above it in sh.above_*.
__device__ void narrow(Shared& sh, const Row& r, int b, bool by_mass, unsigned long long target) {
  if (threadIdx.x == 0) {
    sh.lo = ~0ull;
    sh.hi = 0;
  }
  __syncthreads();
  for_row(r, [&](float v, int i) {
    if (bucket_of(r, v) == b) {
      atomicMin(&sh.lo, make_key(v, i));
      atomicMax(&sh.hi, make_key(v, i));
    }
  });
  __syncthreads();
  while (sh.range_cnt > static_cast<unsigned>(kCap)) {
    const unsigned long long lo = sh.lo, hi = sh.hi;
    const int bits = 64 - __clzll(static_cast<long long>(hi - lo));
    const int shift = bits > 8 ? bits - 8 : 0;
    for (int d = threadIdx.x; d < kDigits; d += kThreads) {
      sh.u.digit.cnt[d] = 0;
      sh.u.digit.mass[d] = 0;
    }
    __syncthreads();
    for_row(r, [&](float v, int i) {
      const unsigned long long k = make_key(v, i);
      if (k < lo || k > hi) return;
      const int d = static_cast<int>((k - lo) >> shift);
      atomicAdd(&sh.u.digit.cnt[d], 1u);
      const unsigned long long q = quant(r, prob_of(r, v));
      if (q) atomicAdd(&sh.u.digit.mass[d], q);
    });
    __syncthreads();
    if (threadIdx.x == 0) {  // 256 digits, highest keys first: a serial walk is cheap
      for (int d = kDigits - 1; d >= 0; --d) {
        const unsigned long long c = sh.above_cnt + sh.u.digit.cnt[d];
        const unsigned long long m = sh.above_mass + sh.u.digit.mass[d];
        if (d == 0 || (by_mass ? m : c) >= target) {
          sh.lo = lo + (static_cast<unsigned long long>(d) << shift);
          const unsigned long long top = sh.lo + ((1ull << shift) - 1);
          sh.hi = top < hi ? top : hi;
          sh.range_cnt = sh.u.digit.cnt[d];
          break;
        }
        sh.above_cnt = static_cast<unsigned>(c);
        sh.above_mass = m;
      }
    }
    __syncthreads();
  }
}

// The first token (in key order) at which the running count (or mass) reaches target, given
// 1 <= target <= the row's total.
__device__ Hit locate(Shared& sh, const Row& r, bool by_mass, unsigned long long target) {
  for (int b = threadIdx.x; b < kBuckets; b += kThreads) {
    const unsigned long long prev = b ? (by_mass ? sh.mass[b - 1] : sh.cnt[b - 1]) : 0;
    const unsigned long long cur = by_mass ? sh.mass[b] : sh.cnt[b];
    if (prev < target && target <= cur) sh.bucket = b;
  }
  __syncthreads();
  const int b = sh.bucket;
  const unsigned above_cnt = b ? sh.cnt[b - 1] : 0;
  const unsigned long long above_mass = b ? sh.mass[b - 1] : 0;
  const unsigned size = sh.cnt[b] - above_cnt;
  __syncthreads();  // everyone has read sh.bucket
  if (threadIdx.x == 0) {
    sh.above_cnt = above_cnt;
    sh.above_mass = above_mass;
    sh.range_cnt = size;
  }
  if (b != sh.cached) {
    __syncthreads();
    if (size <= static_cast<unsigned>(kCap)) {
      gather(sh, r, b);
      if (threadIdx.x == 0) sh.cached = b;
    } else {
      narrow(sh, r, b, by_mass, target);
      gather(sh, r, -1);
      if (threadIdx.x == 0) sh.cached = -1;  // cand holds part of the bucket only
    }
  }
  __syncthreads();
  const unsigned long long ac = sh.above_cnt, am = sh.above_mass;
  const int n = static_cast<int>(sh.n_cand);
  for (int j = threadIdx.x; j < n; j += kThreads) {
    const unsigned long long prev = by_mass ? am + (j ? sh.u.cand.cum[j - 1] : 0) : ac + j;
    const unsigned long long cur = by_mass ? am + sh.u.cand.cum[j] : ac + j + 1;
    if (prev < target && target <= cur) sh.hit = j;
  }
  __syncthreads();
  const int j = sh.hit;
  const Hit h{static_cast<int>(sh.u.cand.key[j]), ac + j + 1, am + sh.u.cand.cum[j]};
  __syncthreads();
  return h;
}

__global__ void __launch_bounds__(kThreads, 1)
    sample_kernel(const float* logits, int64_t ld, int V, const SampleSpec* specs,
                  int32_t* tokens) {
  extern __shared__ __align__(16) unsigned char smem[];
  Shared& sh = *reinterpret_cast<Shared*>(smem);
  const SampleSpec s = specs[blockIdx.x];
  Row r{};
  r.l = logits + blockIdx.x * ld;
  r.V = V;
  r.exp2_tab = sh.exp2_tab;
  if (threadIdx.x < 64) sh.exp2_tab[threadIdx.x] = exp2(threadIdx.x / 64.0);  // read after a sync
  unsigned long long best = 0;
  for_row(r, [&](float v, int i) { best = max(best, make_key(v, i)); });
  best = ReduceT(sh.reduce).Reduce(best, MaxOp());
  if (threadIdx.x == 0) sh.bcast = best;
  __syncthreads();
  best = sh.bcast;
  r.best = load(r, key_id(best));
  if (s.temperature <= 0.0f || !isfinite(r.best)) {
    if (threadIdx.x == 0) tokens[blockIdx.x] = key_id(best);
    return;
  }
  r.T = s.temperature;
  r.invT = __ddiv_rn(1.0, r.T);
  r.top = __dmul_rn(static_cast<double>(r.best), r.invT);  // the best token's mass is exactly 1
  r.bscale = fminf(static_cast<float>(kBucketsPerUnit) / s.temperature, 1e30f);
  const int F = min(56, 63 - (32 - __clz(V)));  // V * 2^F < 2^63
  r.qscale = ldexp(1.0, F);

  // Histogram of count and mass per bucket; tokens at least min_p times as likely as the best.
  for (int b = threadIdx.x; b < kBuckets; b += kThreads) {
    sh.cnt[b] = 0;
    sh.u.hist.lo[b] = 0;
    sh.u.hist.hi[b] = 0;
  }
  if (threadIdx.x == 0) sh.cached = -1;
  __syncthreads();
  unsigned long long minp_cnt = 0;
  const double min_p = s.min_p;
  for_row(r, [&](float v, int) {
    const int b = bucket_of(r, v);
    // The last bucket (x < -255: -inf and far tails, zero mass) is where tokens pile up; its
    // count is what the others leave of V, so it takes no atomics.
    if (b == kBuckets - 1) return;
    const double p = prob_of(r, v);
    atomicAdd(&sh.cnt[b], 1u);
    const unsigned long long q = quant(r, p);
    // 64-bit shared atomic adds are compare-and-swap loops; two native 32-bit adds instead:
    // the low half, then the high half plus the carry the low add produced.
    if (q) {
      const unsigned lo = static_cast<unsigned>(q);
      const unsigned old = atomicAdd(&sh.u.hist.lo[b], lo);
      const unsigned hi = static_cast<unsigned>(q >> 32) + (old + lo < old ? 1u : 0u);
      if (hi) atomicAdd(&sh.u.hist.hi[b], hi);
    }
    minp_cnt += min_p > 0.0 && p >= min_p;
  });
  __syncthreads();
  {
    unsigned long long c[kPerThread], m[kPerThread];
    for (int j = 0; j < kPerThread; ++j) {
      c[j] = sh.cnt[threadIdx.x * kPerThread + j];
      const int b = threadIdx.x * kPerThread + j;
      m[j] = (static_cast<unsigned long long>(sh.u.hist.hi[b]) << 32) | sh.u.hist.lo[b];
    }
    ScanT(sh.scan).InclusiveSum(c, c);
    __syncthreads();
    ScanT(sh.scan).InclusiveSum(m, m);
    for (int j = 0; j < kPerThread; ++j) {
      sh.cnt[threadIdx.x * kPerThread + j] = static_cast<unsigned>(c[j]);
      sh.mass[threadIdx.x * kPerThread + j] = m[j];
    }
    if (threadIdx.x == kThreads - 1) sh.cnt[kBuckets - 1] = static_cast<unsigned>(V);
  }
  minp_cnt = ReduceT(sh.reduce).Sum(minp_cnt);
  if (threadIdx.x == 0) sh.bcast = minp_cnt;
  __syncthreads();
  minp_cnt = sh.bcast;

  // The cuts, in the CPU's order; each kept set is a prefix of the key order, of length n.
  const unsigned long long k_eff = s.top_k > 0 && s.top_k < V ? s.top_k : V;
  unsigned long long n = k_eff, n_mass = sh.mass[kBuckets - 1];
  Hit last{0, 0, 0};
  if (k_eff < static_cast<unsigned long long>(V)) {
    last = locate(sh, r, false, k_eff);
    n_mass = last.mass;
  }
  if (s.top_p < 1.0f) {
    const double want = ceil(static_cast<double>(s.top_p) * static_cast<double>(n_mass));
    const unsigned long long M = want < 1.0 ? 1ull : static_cast<unsigned long long>(want);
    if (M <= n_mass) {
      const Hit h = locate(sh, r, true, M);
      if (h.count < n) {
        last = h;
        n = h.count;
        n_mass = h.mass;
      }
    }
  }
  if (s.min_p > 0.0f) {
    const unsigned long long nm = minp_cnt > 1 ? minp_cnt : 1;
    if (nm < n) {
      last = locate(sh, r, false, nm);
      n = nm;
      n_mass = last.mass;
    }
  }
  // The draw: the first kept token whose running mass exceeds u = uniform * kept mass.
  const double u = sample_uniform(s.seed, s.draw) * static_cast<double>(n_mass);
  const unsigned long long U = u < static_cast<double>(n_mass)
                                   ? static_cast<unsigned long long>(u)
                                   : n_mass;  // rounding reached the total: the last kept token
  Hit h;
  if (U < n_mass)
    h = locate(sh, r, true, U + 1);
  else
    h = last.count == n ? last : locate(sh, r, false, n);
  if (threadIdx.x == 0) tokens[blockIdx.x] = h.id;
}

}  // namespace

void sample_tokens(Context& c, const Tensor& logits, const std::vector<SampleSpec>& specs,
                   const Tensor& tokens) {
  DUET_CHECK(logits.dtype == DType::kF32 && tokens.dtype == DType::kI32 &&
                 static_cast<int64_t>(specs.size()) == logits.rows &&
                 tokens.numel() == logits.rows && tokens.contiguous(),
             "sample_tokens: logits f32 [R, V], tokens i32 [R] and R specs");
  DUET_CHECK(logits.cols >= 1 && logits.cols < (int64_t{1} << 31), "sample_tokens: vocab ",
             logits.cols);
  const int64_t R = logits.rows;
  if (R == 0 || sample_greedy(c, logits, specs, tokens)) return;
  // specs: [R] on the device, through the pinned staging buffer.
  const auto* d_specs = static_cast<const SampleSpec*>(
      c.upload(kWsSampleSpecs, specs.data(), specs.size() * sizeof(SampleSpec)));
  static bool configured = false;  // one attribute per process; the kernel is the same
  if (!configured) {
    DUET_CUDA_CHECK(cudaFuncSetAttribute(sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(sizeof(Shared))));
    configured = true;
  }
  sample_kernel<<<static_cast<unsigned>(R), kThreads, sizeof(Shared), c.stream>>>(
      logits.ptr<const float>(), logits.ld, static_cast<int>(logits.cols), d_specs,
      tokens.ptr<int32_t>());
  DUET_CUDA_LAUNCHED();
}

}  // namespace duet::cuda
