// Every GEMM in rnnkit lands here: single rows go to BLAS (GEMV), the rest to rnnkit's own blocked
// GEMM (blocked_gemm.cpp); the one file that includes <cblas.h>.
#include "rnnkit/core/gemm.h"

#include <cblas.h>

#include "rnnkit/core/parallel.h"
#include "src/core/blocked_gemm.h"

namespace rnnkit {
namespace {

// op(A) op(B) is empty when K == 0: C = beta * C (some BLAS libraries reject K == 0).
template <typename Real>
void scale_rows(int M, int N, Real beta, Real* C, int ldc) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) C[m * ldc + n] = beta == Real(0) ? Real(0) : beta * C[m * ldc + n];
}


// One row of C (streaming inference at batch 1, the last step of a sequence): a matrix-vector product.
// GEMM would pack all of B for the single row, which costs more than the product itself.
// C (1, N) = alpha A (1, K) op(B) + beta C, A's row read with stride lda when transposed (A is K x 1).
// Products this large (M*N*K) are split over the threads, each slice a single-threaded BLAS call:
// below it, waking the workers costs more than it saves.
constexpr double kParallelWork = 1 << 21;

// Large ones are split over the threads by columns of C: the product reads all of B once, so it is
// bound by memory bandwidth, which two cores draw more of than one.
template <typename Real, typename Gemv>
void row_times_matrix(Trans ta, Trans tb, int N, int K, Real alpha, const Real* A, int lda, const Real* B, int ldb,
                      Real beta, Real* C, Gemv gemv) {
  const int inc_a = ta == Trans::No ? 1 : lda;
  // op(B) = B (K, N): C = B^T a;  op(B) = B^T with B (N, K): C = B a.
  auto columns = [&](int n0, int n1) {
    if (tb == Trans::No) gemv(CblasRowMajor, CblasTrans, K, n1 - n0, alpha, B + n0, ldb, A, inc_a, beta, C + n0, 1);
    else gemv(CblasRowMajor, CblasNoTrans, n1 - n0, K, alpha, B + int64_t(n0) * ldb, ldb, A, inc_a, beta, C + n0, 1);
  };
  if (thread_count() == 1 || double(N) * K < kParallelWork) return columns(0, N);
  parallel_slices(N, 64, columns);
}

// C = alpha op(A) op(B) + beta C over thread_count() slices of C's rows (or columns, when C has few
// rows): each slice reads its own rows of op(A) (columns of op(B)) and writes only its part of C.
// Each slice is a call of rnnkit's own blocked GEMM (blocked_gemm.h), not of BLAS: it runs the CPU's
// widest vectors wherever it runs, while a BLAS library may be held to fewer (OpenBLAS 0.3.21 takes
// its AVX2 kernels on CPUs newer than it knows, or when OPENBLAS_CORETYPE says so: half the rate of
// an AVX-512 core).
template <typename Real>
void split_gemm(Trans ta, Trans tb, int M, int N, int K, Real alpha, const Real* A, int lda, const Real* B, int ldb,
                Real beta, Real* C, int ldc) {
  auto call = [&](int m0, int m1, int n0, int n1) {
    const Real* a = ta == Trans::No ? A + int64_t(m0) * lda : A + m0;
    const Real* b = tb == Trans::No ? B + n0 : B + int64_t(n0) * ldb;
    gemm_blocked(ta, tb, m1 - m0, n1 - n0, K, alpha, a, lda, b, ldb, beta, C + int64_t(m0) * ldc + n0, ldc);
  };
  if (thread_count() == 1 || double(M) * N * K < kParallelWork) return call(0, M, 0, N);
  if (M >= N) parallel_slices(M, 16, [&](int m0, int m1) { call(m0, m1, 0, N); });
  else parallel_slices(N, 16, [&](int n0, int n1) { call(0, M, n0, n1); });
}

}  // namespace

void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_sgemv);
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_dgemv);
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void set_blas_threads(int threads) {
#ifdef RNNKIT_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

const char* blas_kernels() {
#ifdef RNNKIT_HAVE_OPENBLAS
  return openblas_get_corename();
#else
  return "unknown";
#endif
}

}  // namespace rnnkit
