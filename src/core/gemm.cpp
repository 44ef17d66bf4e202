// The one file that includes <cblas.h>: every GEMM in rnnkit lands here.
#include "rnnkit/core/gemm.h"

#include <cblas.h>

namespace rnnkit {
namespace {
CBLAS_TRANSPOSE to_cblas(Trans t) { return t == Trans::No ? CblasNoTrans : CblasTrans; }

// op(A) op(B) is empty when K == 0: C = beta * C (some BLAS libraries reject K == 0).
template <typename Real>
void scale_rows(int M, int N, Real beta, Real* C, int ldc) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) C[m * ldc + n] = beta == Real(0) ? Real(0) : beta * C[m * ldc + n];
}


// One row of C (streaming inference at batch 1, the last step of a sequence): a matrix-vector product.
// GEMM would pack all of B for the single row, which costs more than the product itself.
// C (1, N) = alpha A (1, K) op(B) + beta C, A's row read with stride lda when transposed (A is K x 1).
template <typename Real, typename Gemv>
void row_times_matrix(Trans ta, Trans tb, int N, int K, Real alpha, const Real* A, int lda, const Real* B, int ldb,
                      Real beta, Real* C, Gemv gemv) {
  const int inc_a = ta == Trans::No ? 1 : lda;
  // op(B) = B (K, N): C = B^T a;  op(B) = B^T with B (N, K): C = B a.
  if (tb == Trans::No) gemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc_a, beta, C, 1);
  else gemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc_a, beta, C, 1);
}
}  // namespace

void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_sgemv);
  cblas_sgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_dgemv);
  cblas_dgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void set_blas_threads(int threads) {
#ifdef RNNKIT_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace rnnkit
