// The BLAS wrapper and the packed GEMM against the naive reference (every transpose, strides, beta,
// empty sizes), and the batch-slice thread pool.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <mutex>
#include <algorithm>

#include <hwy/targets.h>
#include <thread>

#include "rnnkit/core/error.h"
#include "rnnkit/core/gemm.h"
#include "rnnkit/core/packed_gemm.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/core/rng.h"

namespace rnnkit {
namespace {

// lda_a: A's row stride (0: two past its width).
template <typename Real>
void check_gemm(Trans ta, Trans tb, int M, int N, int K, Real alpha, Real beta, int lda_a = 0) {
  Rng rng(M * 1000 + N * 10 + K);
  const int lda = lda_a > 0 ? lda_a : (ta == Trans::No ? K : M) + 2, ldb = (tb == Trans::No ? N : K) + 1, ldc = N + 3;
  std::vector<Real> A(size_t(ta == Trans::No ? M : K) * lda), Bm(size_t(tb == Trans::No ? K : N) * ldb),
      C(size_t(M) * ldc);
  for (auto* v : {&A, &Bm, &C})
    for (Real& x : *v) x = Real(rng.uniform(-1, 1));
  std::vector<Real> want = C;
  gemm(ta, tb, M, N, K, alpha, A.data(), lda, Bm.data(), ldb, beta, C.data(), ldc);
  gemm_reference(ta, tb, M, N, K, alpha, A.data(), lda, Bm.data(), ldb, beta, want.data(), ldc);
  const double tol = std::is_same_v<Real, float> ? 1e-5 : 1e-12;
  for (size_t i = 0; i < C.size(); ++i) ASSERT_NEAR(C[i], want[i], tol * (1 + K)) << "element " << i;
}

TEST(Gemm, MatchesReferenceForEveryTranspose) {
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 7, 5, 9, 1.0f, 0.0f);
      check_gemm<float>(ta, tb, 33, 17, 64, 0.5f, 1.0f);
      check_gemm<double>(ta, tb, 7, 5, 9, 1.0, 0.0);
      check_gemm<double>(ta, tb, 13, 31, 3, -2.0, 0.25);
    }
}

// Sizes that cross every block of the blocked kernel: rows around its 6- and 8-row blocks and over
// several row blocks, columns over several column blocks and partial panels, the inner dimension over
// several k blocks.
TEST(Gemm, BlockedKernelAcrossBlockEdges) {
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 25, 700, 800, 1.0f, 1.0f);
      check_gemm<float>(ta, tb, 13, 33, 385, -0.5f, 0.5f);
      check_gemm<float>(ta, tb, 250, 40, 300, 1.0f, 0.5f);  // a transposed A read in place, two row blocks
      // a transposed A under ten panels, three row blocks: read in place, and packed (a 4 KB stride)
      check_gemm<float>(ta, tb, 501, 300, 260, 1.0f, 0.5f);
      check_gemm<float>(ta, tb, 501, 300, 260, 1.0f, 0.5f, 1024);
      check_gemm<double>(ta, tb, 11, 530, 450, 1.0, 0.0);
      check_gemm<double>(ta, tb, 2, 17, 193, 2.0, -1.0);
    }
}

// beta == 0 writes C without reading it, as BLAS does: NaN or Inf already in C does not survive.
TEST(Gemm, ZeroBetaIgnoresWhatCHeld) {
  for (int K : {5, 400}) {
    const int M = 14, N = 40;
    std::vector<float> A(size_t(M) * K, 0.5f), B(size_t(K) * N, 2.0f);
    std::vector<float> C(size_t(M) * N, std::numeric_limits<float>::quiet_NaN());
    C[3] = std::numeric_limits<float>::infinity();
    gemm(Trans::No, Trans::No, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    for (float c : C) ASSERT_FLOAT_EQ(c, float(K));
  }
}

// One row (with A's row strided when A is transposed) or one column (a per-step head with one
// output; b and C strided) goes through GEMV: same results.
TEST(Gemm, SingleRowOrColumnMatchesReference) {
  for (bool column : {false, true}) {
    auto rows_cols = [&](int other) { return column ? std::pair{other, 1} : std::pair{1, other}; };
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes}) {
        check_gemm<float>(ta, tb, rows_cols(37).first, rows_cols(37).second, 19, 1.0f, 0.0f);
        check_gemm<float>(ta, tb, rows_cols(8).first, rows_cols(8).second, 64, 0.5f, 1.0f);
        check_gemm<double>(ta, tb, rows_cols(31).first, rows_cols(31).second, 13, -2.0, 0.25);
      }
  }
}

// A large single row is split over the threads by columns of C (each slice its own GEMV): same results.
TEST(Gemm, LargeSingleRowOverThreadsMatchesReference) {
  set_threads(3);
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 1, 2053, 1031, 1.0f, 0.0f);
      check_gemm<double>(ta, tb, 1, 1037, 2049, -0.5, 0.25);
    }
  set_threads(1);
}

// A large single column is split over the threads in blocks of 64 rows: right, and the same bits at
// every thread count.
TEST(Gemm, LargeSingleColumnOverThreadsMatchesAtEveryThreadCount) {
  set_threads(3);
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 2053, 1, 1031, 1.0f, 0.0f);
      check_gemm<double>(ta, tb, 1037, 1, 2049, -0.5, 0.25);
    }
  const int M = 3001, K = 1000;
  Rng rng(11);
  std::vector<float> A(size_t(M) * K), b(K), C0(M);
  for (auto* v : {&A, &b, &C0})
    for (float& x : *v) x = float(rng.uniform(-1, 1));
  std::vector<float> first;
  for (int threads : {1, 2, 3, 4}) {
    set_threads(threads);
    std::vector<float> C = C0;
    gemm(Trans::No, Trans::Yes, M, 1, K, 1.0f, A.data(), K, b.data(), K, 0.5f, C.data(), 1);
    if (first.empty()) first = C;
    else EXPECT_EQ(C, first) << threads << " threads";
  }
  set_threads(1);
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  std::vector<float> C = {1, 2, 3, 4};
  gemm(Trans::No, Trans::No, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
  gemm(Trans::No, Trans::No, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0, 0, 0, 0}));
}

TEST(Gemm, EmptyOutputIsANoOp) {
  gemm(Trans::No, Trans::No, 0, 3, 4, 1.0, static_cast<const double*>(nullptr), 4,
       static_cast<const double*>(nullptr), 3, 0.0, static_cast<double*>(nullptr), 3);
}


// C += A op(B) with op(B) packed once, against the reference, for row counts around the kernel's
// row blocks (6 or 8 rows), column counts around the vector pairs and the 32-column panel, and both
// layouts of B.
template <typename Real>
void check_packed(Trans tb, int M, int N, int K) {
  Rng rng(uint64_t(M * 1000 + N * 10 + K));
  const int lda = K + 3, ldb = (tb == Trans::No ? N : K) + 2, ldc = N + 5;
  std::vector<Real> A(size_t(M) * lda), Bm(size_t(tb == Trans::No ? K : N) * ldb), C(size_t(M) * ldc);
  for (auto* v : {&A, &Bm, &C})
    for (Real& x : *v) x = Real(rng.uniform(-1, 1));
  std::vector<Real> want = C;
  gemm_reference(Trans::No, tb, M, N, K, Real(1), A.data(), lda, Bm.data(), ldb, Real(1), want.data(), ldc);
  PackedMatrix<Real> packed;
  packed.pack(tb, K, N, Bm.data(), ldb);
  gemm_packed(M, A.data(), lda, packed, C.data(), ldc);
  const double tol = std::is_same_v<Real, float> ? 1e-5 : 1e-12;
  for (size_t i = 0; i < C.size(); ++i)
    ASSERT_NEAR(C[i], want[i], tol * (1 + K)) << "M=" << M << " N=" << N << " K=" << K << " element " << i;
}

TEST(GemmPacked, MatchesReference) {
  for (Trans tb : {Trans::No, Trans::Yes})
    for (int M : {1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 17, 33})
      for (int N : {1, 15, 16, 17, 31, 32, 33, 70})
        for (int K : {1, 9, 64}) {
          check_packed<float>(tb, M, N, K);
          check_packed<double>(tb, M, N, K);
        }
}

// C = bias + A1 op(B1) + A2 op(B2) in one pass (the recurrent step's two products and biases), with
// and without the bias and the second product, over a column range, against the reference.
template <typename Real>
void check_packed_sum(int M, int N, int K1, int K2, bool bias, int p0, int p1) {
  Rng rng(uint64_t(M * 7919 + N * 31 + K1 * 7 + K2));
  const int lda1 = K1 + 1, lda2 = K2 + 2, ldc = N + 3;
  std::vector<Real> A1(size_t(M) * lda1), A2(size_t(M) * lda2), B1(size_t(N) * K1), B2(size_t(K2) * N),
      C(size_t(M) * ldc);
  std::vector<Real> b(static_cast<size_t>(N));
  for (auto* v : {&A1, &A2, &B1, &B2, &b, &C})
    for (Real& x : *v) x = Real(rng.uniform(-1, 1));
  std::vector<Real> want = C;
  const int c0 = p0 * PackedMatrix<Real>::kPanel, c1 = std::min(N, p1 * PackedMatrix<Real>::kPanel);
  for (int m = 0; m < M; ++m)
    for (int n = c0; n < c1; ++n) {
      double acc = bias ? double(b[size_t(n)]) : double(want[size_t(m) * ldc + n]);
      for (int k = 0; k < K1; ++k) acc += double(A1[size_t(m) * lda1 + k]) * B1[size_t(n) * K1 + k];  // B1 transposed
      for (int k = 0; k < K2; ++k) acc += double(A2[size_t(m) * lda2 + k]) * B2[size_t(k) * N + n];
      want[size_t(m) * ldc + n] = Real(acc);
    }
  PackedMatrix<Real> P1, P2;
  P1.pack(Trans::Yes, K1, N, B1.data(), K1);
  P2.pack(Trans::No, K2, N, B2.data(), N);
  gemm_packed_sum(M, A1.data(), lda1, P1, K2 ? A2.data() : nullptr, lda2, K2 ? &P2 : nullptr,
                  bias ? b.data() : nullptr, C.data(), ldc, p0, p1);
  const double tol = std::is_same_v<Real, float> ? 1e-5 : 1e-12;
  for (size_t i = 0; i < C.size(); ++i)
    ASSERT_NEAR(C[i], want[i], tol * (1 + K1 + K2)) << "M=" << M << " N=" << N << " K=" << K1 << "+" << K2
                                                    << (bias ? " bias" : "") << " element " << i;
}

TEST(GemmPacked, SumOfTwoProductsAndBias) {
  for (int M : {1, 7, 8, 9, 19})
    for (int N : {17, 32, 70})
      for (bool bias : {false, true}) {
        check_packed_sum<float>(M, N, 9, 33, bias, 0, 3);
        check_packed_sum<float>(M, N, 40, 0, bias, 0, 3);
        check_packed_sum<float>(M, N, 12, 5, bias, 1, 2);  // the second panel only
        check_packed_sum<double>(M, N, 9, 33, bias, 0, 3);
        check_packed_sum<float>(M, N, 0, 33, bias, 0, 3);  // the first product empty
      }
}

// A row's result does not depend on the rows it is multiplied with: the recurrent layers rely on it
// for results that are the same bits whatever the threads' row slices or the rows a padded step runs.
// Every count of last rows (in place, packed or through the wide kernel that runs several panels at
// once, each with its own kernel) against one row at a time.
void check_rows_alone(int K1, int K2, int N, int max_rows) {
  Rng rng(uint64_t(17 + K1 + K2 + N));
  std::vector<float> A1(size_t(max_rows) * K1), A2(size_t(max_rows) * K2), B1(size_t(N) * K1), B2(size_t(N) * K2),
      bias(static_cast<size_t>(N));
  for (auto* v : {&A1, &A2, &B1, &B2, &bias})
    for (float& x : *v) x = float(rng.uniform(-1, 1));
  PackedMatrix<float> P1, P2;
  P1.pack(Trans::Yes, K1, N, B1.data(), K1);
  if (K2 > 0) P2.pack(Trans::Yes, K2, N, B2.data(), K2);
  const float* a2 = K2 > 0 ? A2.data() : nullptr;
  const PackedMatrix<float>* p2 = K2 > 0 ? &P2 : nullptr;
  std::vector<float> alone(size_t(max_rows) * N);
  for (int r = 0; r < max_rows; ++r)
    gemm_packed_sum<float>(1, A1.data() + size_t(r) * K1, K1, P1, K2 > 0 ? a2 + size_t(r) * K2 : nullptr, K2, p2,
                           bias.data(), alone.data() + size_t(r) * N, N);
  for (int M = 1; M <= max_rows; ++M) {
    std::vector<float> C(size_t(M) * N);
    gemm_packed_sum<float>(M, A1.data(), K1, P1, a2, K2, p2, bias.data(), C.data(), N);
    for (size_t i = 0; i < C.size(); ++i)
      ASSERT_EQ(C[i], alone[i]) << "K=" << K1 << "+" << K2 << " N=" << N << " M=" << M << " element " << i;
  }
}

TEST(GemmPacked, EachRowGetsTheSameBitsWhateverRowsShareTheProduct) {
  check_rows_alone(37, 70, 100, 19);
  // panels in groups of three (the wide kernel's 512 KB), then two and one
  check_rows_alone(600, 500, 300, 13);
  // one product in k blocks: the first adds the bias, the next add onto C
  check_rows_alone(2100, 0, 200, 13);
}

TEST(GemmPacked, RepackingReusesTheStorage) {
  std::vector<float> b1(4 * 20, 1.0f), b2(4 * 20, 2.0f), a(4, 1.0f), c(20, 0.0f);
  PackedMatrix<float> p;
  p.pack(Trans::No, 4, 20, b1.data(), 20);
  p.pack(Trans::No, 4, 20, b2.data(), 20);
  gemm_packed(1, a.data(), 4, p, c.data(), 20);
  for (float x : c) EXPECT_FLOAT_EQ(x, 8.0f);
}

// The kernels are compiled for several instruction sets and the CPU's best runs; every one the CPU
// supports gives the same products (AVX2 or SSE4 blocks of 6 rows, AVX-512 of 8, ...), a transposed A
// read in place (few panels, or a stride off 4 KB) and packed (four panels or more and a 4 KB stride),
// and the packed product's rows the same bits whatever rows share it.
TEST(Gemm, EveryInstructionSetMatchesReference) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes}) {
        check_gemm<float>(ta, tb, 25, 70, 400, 1.0f, 1.0f);
        check_gemm<float>(ta, tb, 29, 140, 300, 1.0f, 0.5f);
        check_gemm<float>(ta, tb, 29, 140, 300, 1.0f, 0.5f, 1024);
        check_gemm<double>(ta, tb, 13, 35, 200, -0.5, 0.0);
        check_gemm<double>(ta, tb, 13, 130, 70, 1.0, 0.0);
        check_gemm<double>(ta, tb, 13, 130, 70, 1.0, 0.0, 512);
      }
    for (int M : {1, 2, 3, 4, 5, 13})
      for (int N : {15, 17, 70, 130}) check_packed<float>(Trans::Yes, M, N, 33);
    check_rows_alone(37, 70, 100, 19);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Parallel, SlicesCoverTheRangeOnceWithEveryThreadCount) {
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (int n : {0, 1, 5, 64, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_slices(n, 1, [&](int begin, int end) {
        for (int i = begin; i < end; ++i) hits[size_t(i)]++;
      });
      parallel_for(size_t(n), [&](size_t i) { hits[i] += 10; });  // item by item, on the same slices
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 11) << "threads " << threads << " n " << n;
    }
  }
  set_threads(1);
}

// Whichever thread fails first, parallel_for rethrows the error of the lowest failing item (the one a
// loop in order meets), every run.
TEST(Parallel, ForRethrowsTheLowestFailingItemsError) {
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (int run = 0; run < 20; ++run) {
      try {
        parallel_for(1000, [&](size_t i) {
          if (i == 700 || i == 998) throw Error("item " + std::to_string(i));
          if (i == 400 + size_t(run)) throw Error("item " + std::to_string(i));
        });
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "item " + std::to_string(400 + run)) << threads << " threads";
      }
    }
  }
  set_threads(1);
}

// Large products are split over the threads by rows of C, or by columns when C has few rows.
TEST(Gemm, SplitOverThreadsMatchesReference) {
  set_threads(2);
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 200, 100, 128, 1.0f, 0.5f);
      check_gemm<float>(ta, tb, 20, 900, 128, 1.0f, 0.0f);
      check_gemm<double>(ta, tb, 150, 120, 130, -1.0, 1.0);
    }
  set_threads(1);
}

// A transposed A with few rows and a long K (a weight gradient) is summed in two halves of K: right,
// and the same bits at every thread count (the split depends on the shape only).
TEST(Gemm, LongInnerDimensionSplitByHalvesMatchesAtEveryThreadCount) {
  for (Trans tb : {Trans::No, Trans::Yes}) {
    check_gemm<float>(Trans::Yes, tb, 40, 24, 2048, 1.0f, 0.0f);
    check_gemm<double>(Trans::Yes, tb, 33, 70, 1500, -0.5, 1.0);
    const int M = 37, N = 19, K = 1111;
    Rng rng(5);
    std::vector<float> A(size_t(K) * M), Bm(size_t(K) * N), C0(size_t(M) * N);
    for (auto* v : {&A, &Bm, &C0})
      for (float& x : *v) x = float(rng.uniform(-1, 1));
    const int ldb = tb == Trans::No ? N : K;
    std::vector<float> first;
    for (int threads : {1, 2, 3, 4}) {
      set_threads(threads);
      std::vector<float> C = C0;
      gemm(Trans::Yes, tb, M, N, K, 1.0f, A.data(), M, Bm.data(), ldb, 1.0f, C.data(), N);
      if (first.empty()) first = C;
      else EXPECT_EQ(C, first) << threads << " threads";
    }
    set_threads(1);
  }
}

// Weighted slices cover [0, n) once, in order, each of at least min_slice items, and split the weight
// evenly: lengths 1..32 ascending (a batch sorted by length) over two threads put the bound where the
// running sum would pass half (rows 0-21, weight 253, against 22-31, 275), not at row 16.
TEST(Parallel, WeightedSlicesBalanceTheWeight) {
  std::vector<int> ascending(32);
  for (int i = 0; i < 32; ++i) ascending[size_t(i)] = i + 1;
  for (int threads : {1, 2, 3, 5}) {
    set_threads(threads);
    for (int min_slice : {1, 8}) {
      std::mutex mu;
      std::vector<std::pair<int, int>> got;
      parallel_slices_weighted(32, min_slice, ascending.data(), [&](int b, int e) {
        const std::lock_guard<std::mutex> lock(mu);
        got.emplace_back(b, e);
      });
      std::sort(got.begin(), got.end());
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got.front().first, 0);
      EXPECT_EQ(got.back().second, 32);
      for (size_t k = 0; k < got.size(); ++k) {
        EXPECT_GE(got[k].second - got[k].first, std::min(32, min_slice)) << threads << " threads";
        if (k > 0) {
          EXPECT_EQ(got[k].first, got[k - 1].second);
        }
      }
      if (threads == 2) {
        ASSERT_EQ(got.size(), 2u);
        EXPECT_EQ(got[0].second, 22);  // 1 + ... + 22 = 253 <= 528 / 2 < 1 + ... + 23 = 276
      }
    }
  }
  set_threads(2);
  const std::vector<int> zeros(20, 0);  // no weight at all: still min_slice items a slice
  std::atomic<int> covered = 0;
  parallel_slices_weighted(20, 8, zeros.data(), [&](int b, int e) {
    EXPECT_GE(e - b, 8);
    covered += e - b;
  });
  EXPECT_EQ(covered.load(), 20);
  set_threads(1);
}

// Slices balanced by their blocks' cost: they cover the items in order, each of at least min_slice.
// The smallest padded benchmark case (32 sequences of (b + 1) * 50 / 32 steps, ascending; blocks of
// 8 costing 7 more): 24 and 8, where cutting by length alone gives 22 and 10 (a block of 8 and one
// of 2 on every step of the long sequences). Equal lengths: equal slices.
TEST(Parallel, BlockBalancedBoundsWeighTheBlocks) {
  std::vector<int> ascending(32);
  for (int b = 0; b < 32; ++b) ascending[size_t(b)] = std::max(1, (b + 1) * 50 / 32);
  int bounds[6];
  block_balanced_bounds(32, 50, ascending.data(), 2, 8, 8, 7, bounds);
  EXPECT_EQ(bounds[0], 0);
  EXPECT_EQ(bounds[1], 24);
  EXPECT_EQ(bounds[2], 32);
  const std::vector<int> equal(32, 50);
  block_balanced_bounds(32, 50, equal.data(), 2, 8, 8, 7, bounds);
  EXPECT_EQ(bounds[1], 16);
  for (int slices : {1, 2, 3, 4}) {
    for (int block : {1, 6, 8}) {
      block_balanced_bounds(32, 50, ascending.data(), slices, 8, block, 7, bounds);
      EXPECT_EQ(bounds[0], 0);
      EXPECT_EQ(bounds[slices], 32);
      for (int s = 0; s < slices; ++s) EXPECT_GE(bounds[s + 1] - bounds[s], 8) << slices << " slices, block " << block;
    }
  }
  // a block of one item costing nothing more: the items' steps alone (1 + ... + 22 = 253 and 275 the
  // rest, against 276 and 252 at 23), as parallel_slices_weighted cuts them (its test below)
  std::vector<int> one_to_32(32);
  for (int b = 0; b < 32; ++b) one_to_32[size_t(b)] = b + 1;
  block_balanced_bounds(32, 32, one_to_32.data(), 2, 1, 1, 0, bounds);
  EXPECT_EQ(bounds[1], 22);
  EXPECT_THROW(block_balanced_bounds(10, 5, equal.data(), 2, 8, 8, 7, bounds), Error);

  // Against every cut, for unsorted lengths (some beyond the horizon, some zero): no cut's largest
  // slice costs less, for two slices (every cut tried) and three (a search for the least limit).
  Rng rng(3);
  std::vector<int> lengths(40);
  for (int& l : lengths) l = int(rng.uniform(-5, 70));
  auto cost = [&](int b0, int b1) {  // the model, from scratch
    int64_t c = 0;
    for (int t = 0; t < 60; ++t) {
      int running = 0;
      for (int b = b0; b < b1; ++b) running += t < lengths[size_t(b)];
      c += running + 7 * ((running + 7) / 8);
    }
    return c;
  };
  block_balanced_bounds(40, 60, lengths.data(), 2, 4, 8, 7, bounds);
  int64_t best2 = std::numeric_limits<int64_t>::max();
  for (int i = 4; i <= 36; ++i) best2 = std::min(best2, std::max(cost(0, i), cost(i, 40)));
  EXPECT_EQ(std::max(cost(0, bounds[1]), cost(bounds[1], 40)), best2);
  block_balanced_bounds(40, 60, lengths.data(), 3, 4, 8, 7, bounds);
  int64_t best3 = std::numeric_limits<int64_t>::max();
  for (int i = 4; i <= 32; ++i)
    for (int j = i + 4; j <= 36; ++j) best3 = std::min(best3, std::max({cost(0, i), cost(i, j), cost(j, 40)}));
  EXPECT_EQ(bounds[3], 40);
  EXPECT_EQ(std::max({cost(0, bounds[1]), cost(bounds[1], bounds[2]), cost(bounds[2], 40)}), best3);
}

// Several threads at once (two models, a server's requests): each gets the workers or runs alone.
TEST(Parallel, ConcurrentCallersEachCoverTheirRange) {
  set_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(97));
        parallel_slices(97, 1, [&](int begin, int end) {
          for (int i = begin; i < end; ++i) hits[size_t(i)]++;
        });
        for (auto& h : hits) wrong += h.load() != 1;
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  set_threads(1);
}

// The hand-over without locks: calls back to back (workers still spinning), after pauses longer than
// the spin (workers asleep, woken by the next call), with fewer slices than workers (some sit a call
// out) and with uneven slices (the caller waits for a worker, asleep past its spin): every call covers
// its range once, and the next call never starts before the last one's slices are done.
TEST(Parallel, HandOverSurvivesSpinningSleepingAndSkippedWorkers) {
  for (int threads : {2, 4}) {
    set_threads(threads);
    int wrong = 0;
    for (int call = 0; call < 600; ++call) {
      const int n = 1 + call % threads;  // n < threads: some workers have no slice
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      const bool slow = call % 50 == 7;
      parallel_slices(n, 1, [&](int begin, int end) {
        if (slow && begin > 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
        for (int i = begin; i < end; ++i) hits[size_t(i)]++;
      });
      for (auto& h : hits) wrong += h.load() != 1;
      if (call % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_EQ(wrong, 0) << threads << " threads";
  }
  set_threads(1);
}

// The slice count shares a word with the call's generation: more threads than kMaxThreads are refused
// (and the thread count stays as it was).
TEST(Parallel, RefusesMoreThanTheMostThreads) {
  set_threads(2);
  EXPECT_THROW(set_threads(kMaxThreads + 1), Error);
  EXPECT_EQ(thread_count(), 2);
  set_threads(1);
}

// Only rnnkit's own workers run beside the caller: a BLAS library's threads (OpenBLAS's pthread build
// starts one a core when it loads, each spinning for a while) would share the cores with them.
TEST(Parallel, NoThreadsButThePoolsOwn) {
  auto threads_now = [] {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) n += entry.is_directory();
    return n;
  };
  if (!std::filesystem::exists("/proc/self/task")) GTEST_SKIP() << "no /proc/self/task";
  int runtime = 0;  // ThreadSanitizer runs a background thread of its own
#if defined(__SANITIZE_THREAD__)
  runtime = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  runtime = 1;
#endif
#endif
  set_threads(3);
  EXPECT_EQ(threads_now(), 3 + runtime);
  set_threads(1);
  EXPECT_EQ(threads_now(), 1 + runtime);
}

TEST(Parallel, RethrowsTheWorkersException) {
  set_threads(2);
  EXPECT_THROW(parallel_slices(10, 1, [](int begin, int) {
                 if (begin > 0) throw Error("slice failed");
               }),
               Error);
  set_threads(1);
}

}  // namespace
}  // namespace rnnkit
