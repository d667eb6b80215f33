// Elementwise ops, GEMM, RoPE and the cache write: CUDA against the CPU reference.
#include <cstdlib>
#include <memory>
#include <tuple>
#include <utility>

#include "backend/cuda/cuda_test_util.h"

namespace duet {
namespace {

TEST_F(CudaOps, ElementwiseAndNorm) {
  for (int64_t T : {0, 1, 7, 130}) {
    for (int64_t D : {37, 2048}) {
      SCOPED_TRACE("T " + std::to_string(T) + " D " + std::to_string(D));
      auto x = randn(T * D, 1), y = randn(T * D, 2), w = randn(D, 3);
      Tensor xd = upload(x, T, D, DType::kBF16, D + 3), yd = upload(y, T, D);
      Tensor wd = upload(w, 1, D, DType::kF32);
      std::vector<float> ref(T * D), res = y;
      Tensor out = empty(T, D);
      be->rms_norm(xd, wd, 1e-6f, out);
      Tensor wc = Tensor::matrix(w.data(), DType::kF32, 1, D);
      for (int64_t t = 0; t < T; ++t) cpu::rms_norm_row(&x[t * D], wc, 1e-6f, &ref[t * D], D);
      expect_close(download(out), ref, 1e-2f, "rms_norm");
      // residual += x; out = norm(residual)
      be->add_rms_norm(yd, xd, wd, 1e-6f, out);
      for (int64_t i = 0; i < T * D; ++i) res[i] = bf16_to_f32(f32_to_bf16(res[i] + x[i]));
      for (int64_t t = 0; t < T; ++t) cpu::rms_norm_row(&res[t * D], wc, 1e-6f, &ref[t * D], D);
      expect_close(download(yd), res, 1e-2f, "add_rms_norm residual");
      expect_close(download(out), ref, 1e-2f, "add_rms_norm out");
      // f32 residual stream with bf16 x and out: no rounding of res.
      Tensor yf = upload(y, T, D, DType::kF32);
      std::vector<float> resf = y;
      be->add_rms_norm(yf, xd, wd, 1e-6f, out);
      for (int64_t i = 0; i < T * D; ++i) resf[i] += x[i];
      for (int64_t t = 0; t < T; ++t) cpu::rms_norm_row(&resf[t * D], wc, 1e-6f, &ref[t * D], D);
      expect_close(download(yf), resf, 1e-6f, "add_rms_norm f32 residual");
      expect_close(download(out), ref, 1e-2f, "add_rms_norm f32 residual out");
      // add2_rms_norm: the same bits as add + add_rms_norm (residual and out).
      {
        auto x2 = randn(T * D, 4);
        Tensor r1 = upload(y, T, D), r2 = upload(y, T, D), a1 = upload(x, T, D);
        Tensor a2 = upload(x, T, D), b = upload(x2, T, D), o1 = empty(T, D), o2 = empty(T, D);
        be->add(a1, b);
        be->add_rms_norm(r1, a1, wd, 1e-6f, o1);
        be->add2_rms_norm(r2, a2, b, wd, 1e-6f, o2);
        EXPECT_EQ(download(r2), download(r1)) << "add2_rms_norm residual";
        EXPECT_EQ(download(o2), download(o1)) << "add2_rms_norm out";
      }
      // silu_mul over [T, 2I] with I = D / 2 (rounded down)
      const int64_t I = D / 2;
      Tensor act = empty(T, I);
      be->silu_mul(yd.slice_cols(0, 2 * I), act);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < I; ++c) {
          const float g = res[t * D + c];
          ref[t * I + c] = g / (1 + std::exp(-g)) * res[t * D + I + c];
        }
      expect_close(download(act), std::vector<float>(ref.begin(), ref.begin() + T * I), 1e-2f,
                   "silu_mul");
      // gather_rows (negative rows are zero), embedding, to_f32, add
      std::vector<int32_t> rows(T);
      for (int64_t t = 0; t < T; ++t) rows[t] = t % 3 == 2 ? -1 : static_cast<int32_t>(T - 1 - t);
      Tensor g = empty(T, D);
      be->gather_rows(xd, upload_i32(rows, 1, T), g);
      std::vector<float> gref(T * D, 0.0f);
      for (int64_t t = 0; t < T; ++t)
        if (rows[t] >= 0) std::copy_n(&x[rows[t] * D], D, &gref[t * D]);
      EXPECT_EQ(download(g), gref);
      Tensor e = empty(T, D);
      std::vector<int32_t> ids(T);
      for (int64_t t = 0; t < T; ++t)
        ids[t] = static_cast<int32_t>((t * 7) % std::max<int64_t>(T, 1));
      be->embedding(upload_i32(ids, 1, T), xd, e);
      std::vector<float> eref(T * D);
      for (int64_t t = 0; t < T; ++t) std::copy_n(&x[ids[t] * D], D, &eref[t * D]);
      EXPECT_EQ(download(e), eref);
      Tensor f = empty(T, D, DType::kF32);
      be->to_f32(xd, f);
      EXPECT_EQ(download(f), x);
      be->add(e, g);
      for (int64_t i = 0; i < T * D; ++i) eref[i] += gref[i];
      expect_close(download(e), eref, 1e-2f, "add");
    }
  }
}

TEST_F(CudaOps, GemmMatchesCpuOnStridedViews) {
  // 1-2 rows with 16-byte aligned rows take the skinny kernel (both instances, a long K loop
  // with a partial last step), the rest cuBLAS.
  // 37 features: a CTA per feature at 1-2 rows; 1100: a warp per feature.
  for (int64_t T : {0, 1, 2, 3, 5, 8, 9, 130}) {
    for (const auto& [K, N] :
         {std::pair<int64_t, int64_t>{8, 37}, {33, 37}, {512, 37}, {11264, 37}, {512, 1100}}) {
      SCOPED_TRACE("T " + std::to_string(T) + " K " + std::to_string(K) + " N " +
                   std::to_string(N));
      auto x = randn(T * K, 4), w = randn(N * K, 5);
      std::vector<float> ref(T * N);
      cpu::gemm(pool, Tensor::matrix(x.data(), DType::kF32, T, K),
                Tensor::matrix(w.data(), DType::kF32, N, K),
                Tensor::matrix(ref.data(), DType::kF32, T, N));
      Tensor xd = upload(x, T, K, DType::kBF16, K + 8), wd = upload(w, N, K);
      for (DType out : {DType::kBF16, DType::kF32}) {
        Tensor y = empty(T, N + 5, out).slice_cols(2, 2 + N);  // a strided output view
        be->gemm(xd, wd, y);
        expect_close(download(y), ref, out == DType::kF32 ? 1e-4f : 1e-2f, "gemm");
      }
    }
  }
}

// Two products of one x (attention's q and kv_a): one skinny launch for 1-2 rows, two GEMMs
// beyond; strided outputs.
TEST_F(CudaOps, GemmPairMatchesCpu) {
  const int64_t K = 264, N1 = 1100, N2 = 40;
  for (int64_t T : {0, 1, 2, 3, 9}) {
    SCOPED_TRACE("T " + std::to_string(T));
    auto x = randn(T * K, 8), w1 = randn(N1 * K, 9), w2 = randn(N2 * K, 10);
    std::vector<float> r1(T * N1), r2(T * N2);
    const Tensor xc = Tensor::matrix(x.data(), DType::kF32, T, K);
    cpu::gemm(pool, xc, Tensor::matrix(w1.data(), DType::kF32, N1, K),
              Tensor::matrix(r1.data(), DType::kF32, T, N1));
    cpu::gemm(pool, xc, Tensor::matrix(w2.data(), DType::kF32, N2, K),
              Tensor::matrix(r2.data(), DType::kF32, T, N2));
    Tensor y1 = empty(T, N1 + 8).slice_cols(8, 8 + N1), y2 = empty(T, N2 + 3).slice_cols(0, N2);
    be->gemm_pair(upload(x, T, K), upload(w1, N1, K), y1, upload(w2, N2, K), y2);
    expect_close(download(y1), r1, 1e-2f, "gemm_pair first");
    expect_close(download(y2), r2, 1e-2f, "gemm_pair second");
  }
}

// The SwiGLU half of an MLP: fused for 1-2 rows (both skinny forms), gemm + silu_mul beyond.
TEST_F(CudaOps, GemmSiluMulMatchesCpu) {
  for (int64_t T : {1, 2, 3, 9}) {
    for (int64_t I : {40, 1100}) {
      const int64_t K = 520;
      SCOPED_TRACE("T " + std::to_string(T) + " I " + std::to_string(I));
      auto x = randn(T * K, 6), w = randn(2 * I * K, 7, 0.1f);
      std::vector<float> gu(T * 2 * I), ref(T * I);
      cpu::gemm(pool, Tensor::matrix(x.data(), DType::kF32, T, K),
                Tensor::matrix(w.data(), DType::kF32, 2 * I, K),
                Tensor::matrix(gu.data(), DType::kF32, T, 2 * I));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < I; ++c) {
          const float a = gu[t * 2 * I + c];
          ref[t * I + c] = a / (1.0f + std::exp(-a)) * gu[t * 2 * I + I + c];
        }
      Tensor xd = upload(x, T, K), wd = upload(w, 2 * I, K);
      Tensor scratch = empty(T, 2 * I), out = empty(T, I);
      be->gemm_silu_mul(xd, wd, scratch, out);
      expect_close(download(out), ref, 2e-2f, "gemm_silu_mul");
    }
  }
}

// A side branch (the shared experts beside the routed ones): a product on the side stream, one
// on the main stream, the join, then their sum; run eagerly and recorded in a graph (the branch
// must be part of the recording). 1 row takes the skinny kernel, 9 cuBLAS on each stream's handle.
TEST_F(CudaOps, SideBranchJoinsEagerAndRecorded) {
  const int64_t K = 2048, N = 1100;
  for (int64_t T : {1, 9}) {
    SCOPED_TRACE("T " + std::to_string(T));
    auto x = randn(T * K, 11), w1 = randn(N * K, 12, 0.1f), w2 = randn(N * K, 13, 0.1f);
    std::vector<float> r1(T * N), r2(T * N), ref(T * N);
    const Tensor xc = Tensor::matrix(x.data(), DType::kF32, T, K);
    cpu::gemm(pool, xc, Tensor::matrix(w1.data(), DType::kF32, N, K),
              Tensor::matrix(r1.data(), DType::kF32, T, N));
    cpu::gemm(pool, xc, Tensor::matrix(w2.data(), DType::kF32, N, K),
              Tensor::matrix(r2.data(), DType::kF32, T, N));
    for (int64_t i = 0; i < T * N; ++i) ref[i] = r1[i] + r2[i];
    Tensor xd = upload(x, T, K), w1d = upload(w1, N, K), w2d = upload(w2, N, K);
    Tensor y1 = empty(T, N), y2 = empty(T, N);
    auto step = [&] {
      be->begin_side();
      be->gemm(xd, w1d, y1);
      be->end_side();
      be->gemm(xd, w2d, y2);
      be->join_side();
      be->add(y2, y1);
    };
    step();
    const std::vector<float> eager = download(y2);
    expect_close(eager, ref, 2e-2f, "side branch, eager");
    be->begin_capture();
    step();
    auto graph = be->end_capture();
    be->fill_nan(y1);
    be->fill_nan(y2);
    graph->replay();
    EXPECT_EQ(download(y2), eager) << "side branch, recorded";
    // An op that fails inside a branch (here a shape error, eagerly and while recording) leaves
    // the backend on its main stream: the recording still ends, and the step runs as before.
    const Tensor bad = empty(T, K + 8);
    EXPECT_THROW(
        {
          SideBranch side(*be);
          be->gemm(bad, w1d, y1);
        },
        Error);
    be->begin_capture();
    EXPECT_THROW(
        {
          SideBranch side(*be);
          be->gemm(bad, w1d, y1);
        },
        Error);
    be->end_capture();
    be->fill_nan(y2);
    step();
    EXPECT_EQ(download(y2), eager) << "side branch after a failed op";
  }
}

// A chain of dependent batch-1 ops (add + norm, then a product whose output is the next link's
// addend), as a decode step runs them: the kernels launch as programmatic dependents (pdl.cuh),
// so each may start while the one before still runs, and the products load their weights
// before they wait. Every kernel must wait before it reads its input: the chain eagerly and
// recorded must give the bits of the same chain with the stream drained after every op, and of
// the chain without programmatic launches.
TEST_F(CudaOps, DependentChainMatchesTheDrainedRun) {
  const int64_t D = 2048, links = 24;
  auto r0 = randn(D, 21), y0 = randn(D, 22), w = randn(D, 23);
  const Tensor res = upload(r0, 1, D), y = upload(y0, 1, D), wd = upload(w, 1, D, DType::kF32);
  const Tensor xn = empty(1, D);
  std::vector<Tensor> ws;
  for (int64_t i = 0; i < links; ++i)
    ws.push_back(upload(randn(D * D, 100 + static_cast<uint32_t>(i), 0.03f), D, D));
  auto put = [&](const Tensor& t, const std::vector<float>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
    be->copy_to_device(t.data, h.data(), h.size() * 2);
  };
  auto reset = [&] {
    put(res, r0);
    put(y, y0);
  };
  auto chain = [&](bool drain) {
    for (int64_t i = 0; i < links; ++i) {
      be->add_rms_norm(res, y, wd, 1e-6f, xn);
      if (drain) be->synchronize();
      be->gemm(xn, ws[static_cast<size_t>(i)], y);
      if (drain) be->synchronize();
    }
  };
  reset();
  chain(true);
  const std::vector<float> drained = download(y), drained_res = download(res);
  ASSERT_GT(std::abs(drained[0]) + std::abs(drained[D - 1]), 0.0f);
  reset();
  chain(false);
  EXPECT_EQ(download(y), drained) << "eager chain";
  EXPECT_EQ(download(res), drained_res) << "eager chain, residual";
  reset();
  be->synchronize();
  be->begin_capture();
  chain(false);
  auto graph = be->end_capture();
  for (int rep = 0; rep < 3; ++rep) {
    reset();
    graph->replay();
    EXPECT_EQ(download(y), drained) << "recorded chain, replay " << rep;
    EXPECT_EQ(download(res), drained_res) << "recorded chain, replay " << rep;
  }
  // A backend without programmatic launches, weight prefetches or weights loaded before the
  // wait (DUET_PDL=0), on the same tensors: the products sum in the same order, so the same bits.
  setenv("DUET_PDL", "0", 1);
  std::unique_ptr<Backend> plain = make_cuda_backend();
  unsetenv("DUET_PDL");
  std::swap(be, plain);
  reset();
  chain(false);
  EXPECT_EQ(download(y), drained) << "without programmatic launches";
  EXPECT_EQ(download(res), drained_res) << "without programmatic launches, residual";
  std::swap(be, plain);
}

class CudaRope : public CudaOps {
 protected:
  void rope_and_cache_write(int64_t dn, int64_t dr, int64_t r);
};

// Rows of multiples of 8 values take the vector cache-write kernel (one round trip of loads),
// others (dr 6, r 30) the scalar one.
TEST_F(CudaRope, RopeAndCacheWrite) {
  for (const auto& [dn, dr, r] : {std::tuple<int64_t, int64_t, int64_t>{16, 8, 32}, {10, 6, 30}})
    rope_and_cache_write(dn, dr, r);
}

void CudaRope::rope_and_cache_write(int64_t dn, int64_t dr, int64_t r) {
  SCOPED_TRACE("dn " + std::to_string(dn) + " dr " + std::to_string(dr) + " r " +
               std::to_string(r));
  const int64_t H = 3;
  for (int64_t T : {0, 1, 9}) {
    auto q = randn(T * H * (dn + dr), 6), ckv = randn(T * (r + dr), 7), nw = randn(r, 8);
    std::vector<float> inv(dr / 2);
    for (int64_t i = 0; i < dr / 2; ++i) inv[i] = std::pow(10000.0f, -2.0f * i / dr);
    std::vector<int32_t> pos(T), slots(T);
    for (int64_t t = 0; t < T; ++t) {
      pos[t] = static_cast<int32_t>(100 * t + 3);
      slots[t] = static_cast<int32_t>((t * 37) % 128);
    }
    RopeParams rp{upload(inv, 1, dr / 2, DType::kF32), dr, 1.3f};
    RopeParams rc{Tensor::matrix(inv.data(), DType::kF32, 1, dr / 2), dr, 1.3f};
    Tensor qd = upload(q, T, H * (dn + dr));
    Tensor posd = upload_i32(pos, 1, T);
    be->rope_q(qd, posd, rp, H, dn);
    cpu::rope_q(pool, Tensor::matrix(q.data(), DType::kF32, T, H * (dn + dr)),
                Tensor::matrix(pos.data(), DType::kI32, 1, T), rc, H, dn);
    expect_close(download(qd), q, 1e-2f, "rope_q");
    Tensor cache = empty(128, r + dr);
    std::vector<float> cref(128 * (r + dr), NAN);
    be->mla_cache_write(upload(ckv, T, r + dr), upload(nw, 1, r, DType::kF32), 1e-6f, posd,
                        upload_i32(slots, 1, T), rp, cache);
    cpu::mla_cache_write(pool, Tensor::matrix(ckv.data(), DType::kF32, T, r + dr),
                         Tensor::matrix(nw.data(), DType::kF32, 1, r), 1e-6f,
                         Tensor::matrix(pos.data(), DType::kI32, 1, T),
                         Tensor::matrix(slots.data(), DType::kI32, 1, T), rc,
                         Tensor::matrix(cref.data(), DType::kF32, 128, r + dr));
    std::vector<float> got = download(cache), g2, r2;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < r + dr; ++c) {
        g2.push_back(got[slots[t] * (r + dr) + c]);
        r2.push_back(cref[slots[t] * (r + dr) + c]);
      }
    expect_close(g2, r2, 1e-2f, "mla_cache_write");

    // The fused form writes the same bits as the two ops (from the same q values, into a fresh
    // cache).
    const std::vector<float> q0 = randn(T * H * (dn + dr), 6);
    Tensor q2 = upload(q0, T, H * (dn + dr)), q_in = upload(q0, T, H * (dn + dr));
    Tensor cache2 = empty(128, r + dr);
    be->mla_cache_write_and_rope_q(upload(ckv, T, r + dr), upload(nw, 1, r, DType::kF32), 1e-6f,
                                   posd, upload_i32(slots, 1, T), rp, cache2, q2, H, dn);
    be->rope_q(q_in, posd, rp, H, dn);
    EXPECT_EQ(download(q2), download(q_in)) << "fused rope_q, T " << T;
    const std::vector<float> got2 = download(cache2);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < r + dr; ++c)
        ASSERT_EQ(got2[slots[t] * (r + dr) + c], got[slots[t] * (r + dr) + c])
            << "fused cache write, token " << t << " column " << c;
  }
}

}  // namespace
}  // namespace duet
