// The BLAS wrapper against the naive reference, every transpose, strides, beta, and empty sizes.
#include <gtest/gtest.h>

#include "rnnkit/core/gemm.h"
#include "rnnkit/core/rng.h"

namespace rnnkit {
namespace {

template <typename Real>
void check_gemm(Trans ta, Trans tb, int M, int N, int K, Real alpha, Real beta) {
  Rng rng(M * 1000 + N * 10 + K);
  const int lda = (ta == Trans::No ? K : M) + 2, ldb = (tb == Trans::No ? N : K) + 1, ldc = N + 3;
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

// One row goes through GEMV (with A's row strided when A is transposed): same results.
TEST(Gemm, SingleRowMatchesReference) {
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      check_gemm<float>(ta, tb, 1, 37, 19, 1.0f, 0.0f);
      check_gemm<float>(ta, tb, 1, 8, 64, 0.5f, 1.0f);
      check_gemm<double>(ta, tb, 1, 31, 13, -2.0, 0.25);
    }
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

}  // namespace
}  // namespace rnnkit
