// rnnkit's own single-threaded GEMM kernels, vectorised with Highway for the CPU they run on
// (blocked_gemm.cpp). gemm() (gemm.h) sends its products here, BLAS keeping the single rows (GEMV);
// gemm_packed (packed_gemm.h) multiplies by a matrix packed once; add_rows adds rows of matrices.
#pragma once

#include <cstdint>

#include "rnnkit/core/gemm.h"

namespace rnnkit {

// Columns per panel of a packed B, in both kernels (PackedMatrix::kPanel).
constexpr int kGemmPanel = 32;

// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, row-major with strides lda, ldb, ldc;
// M, N, K > 0. beta == 0 writes C without reading it (as BLAS does: NaN in C does not survive).
void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc);
void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                  int ldb, double beta, double* C, int ldc);

// Over panels [p0, p1) of B packed by PackedMatrix (K x kGemmPanel each): C (M, N) = (bias, or C
// itself when bias is null) + A (M, K) B (+ A2 (M, K2) B2 when K2 > 0, B2 packed alike).
void gemm_packed_panels(int M, int N, int K, const float* A, int lda, const float* packed, int K2, const float* A2,
                        int lda2, const float* packed2, const float* bias, float* C, int ldc, int p0, int p1);
void gemm_packed_panels(int M, int N, int K, const double* A, int lda, const double* packed, int K2, const double* A2,
                        int lda2, const double* packed2, const double* bias, double* C, int ldc, int p0, int p1);

// Panels [p0, p1) of op(B) = B^T (K, N) for gemm_packed_panels, B being (N, K) with row stride ldb:
// panel p (K x kGemmPanel, zero beyond N) at out + p * K * kGemmPanel.
void pack_panels_transposed(const float* B, int ldb, int K, int N, int p0, int p1, float* out);
void pack_panels_transposed(const double* B, int ldb, int K, int N, int p0, int p1, double* out);

// The rows of C the micro-kernel of this CPU computes at once (8 with AVX-512, 6 otherwise): a product
// of n rows runs ceil(n / that) row blocks, each streaming all of B (the recurrent layers' batch split
// counts them).
int gemm_row_block();

// dst row r += src row r for r < rows, n values a row (rows lds and ldd apart; ldd 0 adds every row
// into the same one, in order), vectorised for the CPU: the bias gradients' per-sequence sums of the
// recurrent layers (a plain loop compiled for the baseline SSE2 took 2.1 us a step at B = 32, G*H =
// 384, against 1.3 with AVX-512) and the second half of a product split by K.
void add_rows(int rows, int n, const float* src, int64_t lds, float* dst, int64_t ldd);
void add_rows(int rows, int n, const double* src, int64_t lds, double* dst, int64_t ldd);

}  // namespace rnnkit
