// rnnkit's own single-threaded GEMM, vectorised with Highway for the CPU it runs on (blocked_gemm.cpp).
// gemm() (gemm.h) sends its products here; BLAS keeps the single rows (GEMV).
#pragma once

#include "rnnkit/core/gemm.h"

namespace rnnkit {

// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, row-major with strides lda, ldb, ldc;
// M, N, K > 0. beta == 0 writes C without reading it (as BLAS does: NaN in C does not survive).
void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc);
void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                  int ldb, double beta, double* C, int ldc);

}  // namespace rnnkit
