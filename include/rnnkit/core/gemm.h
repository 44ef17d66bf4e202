// Every matrix product in rnnkit goes through gemm() (row-major): rnnkit's own cache-blocked kernel,
// vectorised for the CPU it runs on, with BLAS (CBLAS) for single rows.
#pragma once

namespace rnnkit {

enum class Trans { No, Yes };

// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major.
// lda/ldb/ldc are the row strides of A, B and C as stored. One row goes through GEMV; large products
// are split into slices of C over the threads of set_threads (parallel.h).
void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
void gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc);

// The naive triple loop with the same contract; for tests only.
template <typename Real>
void gemm_reference(Trans ta, Trans tb, int M, int N, int K, Real alpha, const Real* A, int lda,
                    const Real* B, int ldb, Real beta, Real* C, int ldc) {
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      double acc = 0;
      for (int k = 0; k < K; ++k) {
        const Real a = ta == Trans::No ? A[m * lda + k] : A[k * lda + m];
        const Real b = tb == Trans::No ? B[k * ldb + n] : B[n * ldb + k];
        acc += static_cast<double>(a) * static_cast<double>(b);
      }
      C[m * ldc + n] = static_cast<Real>(alpha * acc + (beta == Real(0) ? 0.0 : beta * C[m * ldc + n]));
    }
  }
}

// Threads the BLAS library itself may use (OpenBLAS); a no-op for other CBLAS libraries. set_threads
// (parallel.h) keeps this at 1 and splits large products over rnnkit's own threads instead.
void set_blas_threads(int threads);

// The kernels the BLAS library runs ("SkylakeX", "Haswell", ... for OpenBLAS; "unknown" otherwise),
// after rnnkit's own choice (gemm.cpp: AVX-512 kernels where OpenBLAS did not recognise the CPU).
const char* blas_kernels();

}  // namespace rnnkit
