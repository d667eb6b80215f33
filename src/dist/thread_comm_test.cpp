#include "dist/thread_comm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <thread>

namespace duet {
namespace {

using std::chrono::milliseconds;

// Runs fn(rank, comm) on one thread per rank; returns each rank's error message ("" if none).
std::vector<std::string> run_ranks(ThreadCommGroup& group,
                                   const std::function<void(int, Communicator&)>& fn,
                                   int active = -1) {
  const int n = active < 0 ? group.size() : active;
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < group.size(); ++r) comms.push_back(group.make_rank(r));
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        fn(r, *comms[r]);
      } catch (const Error& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

void expect_no_errors(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

// Value of rank r, row i, column j in the test inputs: distinct per rank so a gather that
// drops or repeats a rank's rows cannot pass.
float val(int r, int64_t i, int64_t j) {
  return static_cast<float>(r * 1000 + i * 10 + j);
}

TEST(ThreadComm, AllGatherHost) {
  for (int n : {1, 2, 4}) {
    ThreadCommGroup group(n, "dp", milliseconds(5000));
    std::vector<std::vector<int32_t>> outs(n);
    expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
      int32_t rec[2] = {r * 7, -r};
      outs[r].resize(2 * n);
      c.all_gather_host(rec, sizeof(rec), outs[r].data());
    }));
    for (int r = 0; r < n; ++r) {
      for (int q = 0; q < n; ++q) {
        EXPECT_EQ(outs[r][2 * q], q * 7);
        EXPECT_EQ(outs[r][2 * q + 1], -q);
      }
    }
  }
}

TEST(ThreadComm, AllGatherVUnevenZeroAndStrided) {
  const int64_t D = 3, kInLd = 5, kOutLd = 4;
  const std::vector<std::vector<int64_t>> cases = {{3},          {0},          {2, 0},      {0, 3},
                                                   {1, 0, 4, 2}, {0, 0, 0, 0}, {5, 5, 5, 5}};
  for (const auto& counts : cases) {
    const int n = static_cast<int>(counts.size());
    const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    ThreadCommGroup group(n, "dp", milliseconds(5000));
    std::vector<std::vector<float>> outs(n);
    expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
      // Strided input: columns [1, 1 + D) of a wider matrix; padding columns hold NaN.
      std::vector<float> in(counts[r] * kInLd, std::nanf(""));
      for (int64_t i = 0; i < counts[r]; ++i)
        for (int64_t j = 0; j < D; ++j) in[i * kInLd + 1 + j] = val(r, i, j);
      Tensor tin = Tensor::matrix(in.data(), DType::kF32, counts[r], kInLd).slice_cols(1, 1 + D);
      outs[r].assign(total * kOutLd, -1.0f);
      Tensor tout = Tensor::matrix(outs[r].data(), DType::kF32, total, kOutLd).slice_cols(0, D);
      c.all_gather_v(tin, counts, tout);
    }));
    for (int r = 0; r < n; ++r) {
      int64_t row = 0;
      for (int q = 0; q < n; ++q) {
        for (int64_t i = 0; i < counts[q]; ++i, ++row) {
          for (int64_t j = 0; j < D; ++j) EXPECT_EQ(outs[r][row * kOutLd + j], val(q, i, j));
          EXPECT_EQ(outs[r][row * kOutLd + D], -1.0f) << "wrote past the view";
        }
      }
    }
  }
}

TEST(ThreadComm, AllGatherVCopiesBf16AndI32) {
  const std::vector<int64_t> counts = {2, 0, 1};
  ThreadCommGroup group(3, "attn_tp", milliseconds(5000));
  std::vector<std::vector<uint16_t>> bf(3);
  std::vector<std::vector<int32_t>> ints(3);
  expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
    std::vector<uint16_t> in(counts[r] * 2);
    std::vector<int32_t> iin(counts[r] * 2);
    for (size_t k = 0; k < in.size(); ++k) {
      in[k] = f32_to_bf16(static_cast<float>(r * 10 + k));
      iin[k] = -(r * 10 + static_cast<int>(k));
    }
    bf[r].resize(6);
    ints[r].resize(6);
    c.all_gather_v(Tensor::matrix(in.data(), DType::kBF16, counts[r], 2), counts,
                   Tensor::matrix(bf[r].data(), DType::kBF16, 3, 2));
    c.all_gather_v(Tensor::matrix(iin.data(), DType::kI32, counts[r], 2), counts,
                   Tensor::matrix(ints[r].data(), DType::kI32, 3, 2));
  }));
  const std::vector<float> want = {0, 1, 2, 3, 20, 21};
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 6; ++k) {
      EXPECT_EQ(bf16_to_f32(bf[r][k]), want[k]);
      EXPECT_EQ(ints[r][k], -static_cast<int>(want[k]));
    }
  }
}

TEST(ThreadComm, ReduceScatterVAndAllReduce) {
  const std::vector<std::vector<int64_t>> cases = {{4}, {1, 2}, {0, 3}, {2, 0, 1, 3}, {0, 0}};
  const int64_t D = 2, kLd = 3;
  for (const auto& counts : cases) {
    const int n = static_cast<int>(counts.size());
    const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    ThreadCommGroup group(n, "world", milliseconds(5000));
    std::vector<std::vector<float>> rs(n), ar(n);
    expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
      std::vector<float> in(total * kLd, std::nanf(""));
      for (int64_t i = 0; i < total; ++i)
        for (int64_t j = 0; j < D; ++j) in[i * kLd + j] = val(r, i, j);
      Tensor tin = Tensor::matrix(in.data(), DType::kF32, total, kLd).slice_cols(0, D);
      rs[r].assign(counts[r] * D, 0.0f);
      c.reduce_scatter_v(tin, counts, Tensor::matrix(rs[r].data(), DType::kF32, counts[r], D));
      // all_reduce in place on the strided view: the NaN padding column must stay untouched.
      c.all_reduce(tin);
      ar[r] = in;
    }));
    // Hand-computed: sum over q of (q*1000 + i*10 + j) = 1000*n(n-1)/2 + n*(i*10 + j).
    auto sum = [&](int64_t i, int64_t j) {
      return static_cast<float>(1000 * n * (n - 1) / 2 + n * (i * 10 + j));
    };
    for (int r = 0; r < n; ++r) {
      int64_t first = 0;
      for (int q = 0; q < r; ++q) first += counts[q];
      for (int64_t i = 0; i < counts[r]; ++i)
        for (int64_t j = 0; j < D; ++j) EXPECT_EQ(rs[r][i * D + j], sum(first + i, j));
      for (int64_t i = 0; i < total; ++i) {
        for (int64_t j = 0; j < D; ++j) EXPECT_EQ(ar[r][i * kLd + j], sum(i, j));
        EXPECT_TRUE(std::isnan(ar[r][i * kLd + D]));
      }
    }
  }
}

// Sums of values of very different magnitudes depend on the order; every run and every rank
// must get the rank-order sum bit for bit.
TEST(ThreadComm, SumsAreBitwiseReproducible) {
  const int n = 4;
  const int64_t rows = 16, D = 8;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-20, 20);
  std::vector<std::vector<float>> inputs(n, std::vector<float>(rows * D));
  for (auto& v : inputs)
    for (auto& x : v) x = std::ldexp(mant(rng), expo(rng));
  std::vector<float> want(rows * D);
  for (int64_t k = 0; k < rows * D; ++k) {
    float acc = inputs[0][k];
    for (int q = 1; q < n; ++q) acc += inputs[q][k];
    want[k] = acc;
  }
  for (int run = 0; run < 20; ++run) {
    ThreadCommGroup group(n, "world", milliseconds(5000));
    std::vector<std::vector<float>> outs(n);
    expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
      outs[r] = inputs[r];
      c.all_reduce(Tensor::matrix(outs[r].data(), DType::kF32, rows, D));
    }));
    for (int r = 0; r < n; ++r)
      ASSERT_EQ(std::memcmp(outs[r].data(), want.data(), want.size() * 4), 0) << "run " << run;
  }
}

TEST(ThreadComm, MissingRankTimesOutOnEveryWaitingRank) {
  const auto timeout = milliseconds(200);
  ThreadCommGroup group(4, "dp", timeout);
  const auto start = std::chrono::steady_clock::now();
  // Rank 2 never arrives, so the first collective (#0) must fail on ranks 0, 1 and 3.
  std::vector<std::string> errors(4);
  {
    std::vector<std::unique_ptr<Communicator>> comms;
    for (int r = 0; r < 4; ++r) comms.push_back(group.make_rank(r));
    std::vector<std::thread> threads;
    for (int r : {0, 1, 3}) {
      threads.emplace_back([&, r] {
        try {
          std::vector<float> x(2, 1.0f);
          comms[r]->all_reduce(Tensor::matrix(x.data(), DType::kF32, 1, 2));
        } catch (const Error& e) {
          errors[r] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, timeout);
  EXPECT_LT(elapsed, timeout * 5);
  for (int r : {0, 1, 3}) {
    EXPECT_NE(errors[r].find("group 'dp'"), std::string::npos) << errors[r];
    EXPECT_NE(errors[r].find("collective #0 (all_reduce)"), std::string::npos) << errors[r];
    EXPECT_NE(errors[r].find("rank(s) 2 did not arrive"), std::string::npos) << errors[r];
  }
}

TEST(ThreadComm, TimeoutNamesTheSequenceNumber) {
  ThreadCommGroup group(2, "attn_tp", milliseconds(200));
  auto c0 = group.make_rank(0);
  auto c1 = group.make_rank(1);
  std::string err;
  std::thread t0([&] {
    int32_t a = 0, out[2];
    try {
      c0->all_gather_host(&a, 4, out);
      c0->all_gather_host(&a, 4, out);
      c0->all_gather_host(&a, 4, out);  // rank 1 stops after two
    } catch (const Error& e) {
      err = e.what();
    }
  });
  std::thread t1([&] {
    int32_t a = 1, out[2];
    c1->all_gather_host(&a, 4, out);
    c1->all_gather_host(&a, 4, out);
  });
  t0.join();
  t1.join();
  EXPECT_NE(err.find("collective #2 (all_gather_host)"), std::string::npos) << err;
  EXPECT_NE(err.find("rank(s) 1 did not arrive (arrived: 0)"), std::string::npos) << err;
}

TEST(ThreadComm, OpAndCountMismatchFailOnEveryRank) {
  {
    ThreadCommGroup group(2, "dp", milliseconds(5000));
    auto errors = run_ranks(group, [&](int r, Communicator& c) {
      std::vector<float> x(4, 1.0f);
      Tensor t = Tensor::matrix(x.data(), DType::kF32, 2, 2);
      if (r == 0) c.all_reduce(t);
      if (r == 1) c.all_gather_v(t.slice_rows(0, 1), {1, 1}, t);
    });
    for (const auto& e : errors) {
      EXPECT_NE(e.find("collective #0: ranks disagree on the op"), std::string::npos) << e;
      EXPECT_NE(e.find("rank 0 all_reduce, rank 1 all_gather_v"), std::string::npos) << e;
    }
  }
  {
    ThreadCommGroup group(2, "dp", milliseconds(5000));
    auto errors = run_ranks(group, [&](int r, Communicator& c) {
      std::vector<float> in(2, 1.0f), out(6);
      std::vector<int64_t> counts =
          r == 0 ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{1, 2};
      int64_t total = counts[0] + counts[1];
      c.all_gather_v(Tensor::matrix(in.data(), DType::kF32, counts[r], 1), counts,
                     Tensor::matrix(out.data(), DType::kF32, total, 1));
    });
    for (const auto& e : errors)
      EXPECT_NE(e.find("disagree on the counts of all_gather_v: rank 0 [1,1], rank 1 [1,2]"),
                std::string::npos)
          << e;
  }
}

TEST(ThreadComm, PoisonReleasesWaitingRanks) {
  ThreadCommGroup group(2, "dp", milliseconds(10000));
  const auto start = std::chrono::steady_clock::now();
  auto errors = run_ranks(group, [&](int r, Communicator& c) {
    if (r == 1) {
      std::this_thread::sleep_for(milliseconds(50));
      group.poison("rank 1: weights missing");
      return;
    }
    std::vector<float> x(2);
    c.all_reduce(Tensor::matrix(x.data(), DType::kF32, 1, 2));
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  EXPECT_NE(errors[0].find("rank 1: weights missing"), std::string::npos) << errors[0];
}

TEST(ThreadComm, BadLocalArgumentsFailPeersPromptly) {
  ThreadCommGroup group(2, "dp", milliseconds(10000));
  const auto start = std::chrono::steady_clock::now();
  auto errors = run_ranks(group, [&](int r, Communicator& c) {
    std::vector<float> x(4);
    Tensor t = Tensor::matrix(x.data(), DType::kF32, 2, 2);
    // Rank 1 passes the wrong number of counts: a local bug that must not hang rank 0.
    c.all_gather_v(t.slice_rows(0, 1),
                   r == 0 ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{1}, t);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  EXPECT_NE(errors[1].find("passed counts [1] for a group of 2"), std::string::npos) << errors[1];
  EXPECT_NE(errors[0].find("passed counts [1]"), std::string::npos) << errors[0];
}

// Thousands of collectives with random per-step counts: checks the barriers under churn (no
// lost wake-ups, no rank overtaking a collective) and that traces agree across ranks.
TEST(ThreadComm, StressRandomCountsAndTraceEquality) {
  const int n = 4, kSteps = 1500;
  const int64_t D = 2;
  ThreadCommGroup group(n, "world", milliseconds(10000));
  std::vector<std::vector<CollectiveRecord>> traces(n);
  std::vector<int> bad(n, 0);
  expect_no_errors(run_ranks(group, [&](int r, Communicator& c) {
    std::mt19937 shared(123);  // same stream on every rank: the agreed counts
    std::uniform_int_distribution<int64_t> cnt(0, 5);
    for (int step = 0; step < kSteps; ++step) {
      std::vector<int64_t> counts(n);
      for (auto& x : counts) x = cnt(shared);
      const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
      std::vector<float> in(counts[r] * D), out(total * D);
      for (int64_t i = 0; i < counts[r]; ++i)
        for (int64_t j = 0; j < D; ++j) in[i * D + j] = val(r, i, j) + step;
      c.all_gather_v(Tensor::matrix(in.data(), DType::kF32, counts[r], D), counts,
                     Tensor::matrix(out.data(), DType::kF32, total, D));
      int64_t row = 0;
      for (int q = 0; q < n; ++q)
        for (int64_t i = 0; i < counts[q]; ++i, ++row)
          bad[r] += out[row * D + 1] != val(q, i, 1) + step;
      std::vector<float> rs(counts[r] * D);
      c.reduce_scatter_v(Tensor::matrix(out.data(), DType::kF32, total, D), counts,
                         Tensor::matrix(rs.data(), DType::kF32, counts[r], D));
      for (int64_t i = 0; i < counts[r]; ++i) bad[r] += rs[i * D] != n * (val(r, i, 0) + step);
    }
    traces[r] = c.trace();
  }));
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(bad[r], 0) << "rank " << r;
    ASSERT_EQ(traces[r].size(), 2u * kSteps);
    for (size_t k = 0; k < traces[r].size(); ++k) {
      EXPECT_EQ(traces[r][k].op, traces[0][k].op);
      EXPECT_EQ(traces[r][k].dtype, traces[0][k].dtype);
      EXPECT_EQ(traces[r][k].counts, traces[0][k].counts);
      EXPECT_EQ(traces[r][k].width, traces[0][k].width);
    }
  }
  EXPECT_EQ(traces[0][0].op, "all_gather_v");
  EXPECT_EQ(traces[0][1].op, "reduce_scatter_v");
  EXPECT_EQ(traces[0][0].dtype, "f32");
}

}  // namespace
}  // namespace duet
