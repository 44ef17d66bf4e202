// Every GEMM in rnnkit lands here: single rows and single columns go to BLAS (GEMV), the rest to
// rnnkit's own blocked GEMM (blocked_gemm.cpp); the one file that includes <cblas.h>.
#include "rnnkit/core/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

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

// One column of C (a per-step head with one output: regression, binary labels): a matrix-vector
// product, C (M, 1) = alpha op(A) b + beta C, b = op(B) (K, 1) read with stride ldb when B is (K, 1).
// The blocked GEMM runs a panel of kGemmPanel columns for it, 32 times the work: M=1600 K=128 (the
// smallest cases' head, every training step) took 61 us there against 11 us through BLAS
// (`bench_gemm head`). Large ones are split over the threads in blocks of 64 rows, so that each
// row's sum is the same call's whatever the thread count.
template <typename Real, typename Gemv>
void matrix_times_column(Trans ta, Trans tb, int M, int K, Real alpha, const Real* A, int lda, const Real* B,
                         int ldb, Real beta, Real* C, int ldc, Gemv gemv) {
  const int inc_b = tb == Trans::No ? ldb : 1;
  // op(A) = A (M, K): C = A b;  op(A) = A^T with A (K, M): C = A^T b.
  auto rows = [&](int m0, int m1) {
    if (ta == Trans::No)
      gemv(CblasRowMajor, CblasNoTrans, m1 - m0, K, alpha, A + int64_t(m0) * lda, lda, B, inc_b, beta,
           C + int64_t(m0) * ldc, ldc);
    else gemv(CblasRowMajor, CblasTrans, K, m1 - m0, alpha, A + m0, lda, B, inc_b, beta, C + int64_t(m0) * ldc, ldc);
  };
  constexpr int kBlock = 64;
  if (thread_count() == 1 || double(M) * K < kParallelWork) return rows(0, M);
  parallel_slices((M + kBlock - 1) / kBlock, 1,
                  [&](int b0, int b1) { rows(b0 * kBlock, std::min(M, b1 * kBlock)); });
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

// A transposed A with few rows and a long K: the weight gradients dW = dG^T X, summed over all T*B
// rows of a batch. Split by rows over two threads, each would pack and stream all of X (K x N) on
// its own; split by K, each packs and reads half (at 2 threads, M=256 N=256 K=6400: 3.2 -> 2.6 ms;
// M=512 N=512 K=3200: 6.0 -> 5.2; from M = 1536 no difference). The choice depends on the shape
// alone, never on the thread count, so the results are the same bit for bit at any thread count.
bool split_k(Trans ta, int M, int N, int K) {
  return ta == Trans::Yes && M <= 1024 && K >= 1024 && K >= 2 * std::max(M, N);
}

// C = alpha A^T op(B) + beta C as the sum of two halves of K, in this order: (beta C + the first
// half's product) + the second's, the second computed apart; each half's rows split over
// thread_count() / 2 threads (one thread runs both halves in turn).
template <typename Real>
void gemm_split_k(Trans tb, int M, int N, int K, Real alpha, const Real* A, int lda, const Real* B, int ldb,
                  Real beta, Real* C, int ldc) {
  thread_local std::vector<Real> second;  // the second half's product (M, N)
  second.resize(size_t(M) * size_t(N));
  Real* part = second.data();
  const int half = K / 2, slices = std::max(1, thread_count() / 2);
  parallel_slices(2 * slices, 1, [&](int u0, int u1) {
    for (int u = u0; u < u1; ++u) {
      const int h = u / slices, s = u % slices;
      const int m0 = int(int64_t(M) * s / slices), m1 = int(int64_t(M) * (s + 1) / slices);
      const int k0 = h == 0 ? 0 : half, kn = h == 0 ? half : K - half;
      const Real* a = A + int64_t(k0) * lda + m0;  // A is (K, M)
      const Real* b = tb == Trans::No ? B + int64_t(k0) * ldb : B + k0;
      if (h == 0) gemm_blocked(Trans::Yes, tb, m1 - m0, N, kn, alpha, a, lda, b, ldb, beta, C + int64_t(m0) * ldc, ldc);
      else gemm_blocked(Trans::Yes, tb, m1 - m0, N, kn, alpha, a, lda, b, ldb, Real(0), part + int64_t(m0) * N, N);
    }
  });
  parallel_slices(M, 16, [&](int m0, int m1) {
    add_rows(m1 - m0, N, part + int64_t(m0) * N, N, C + int64_t(m0) * ldc, ldc);
  });
}

}  // namespace

void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_sgemv);
  if (N == 1) return matrix_times_column(ta, tb, M, K, alpha, A, lda, B, ldb, beta, C, ldc, cblas_sgemv);
  if (split_k(ta, M, N, K)) return gemm_split_k(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, C, ldc);
  if (M == 1) return row_times_matrix(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, cblas_dgemv);
  if (N == 1) return matrix_times_column(ta, tb, M, K, alpha, A, lda, B, ldb, beta, C, ldc, cblas_dgemv);
  if (split_k(ta, M, N, K)) return gemm_split_k(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#ifdef RNNKIT_HAVE_OPENBLAS
// OpenBLAS's pthread build starts one worker a core when it loads, and each spins (sched_yield) for
// 2^28 cycles (about 0.1 s) before it sleeps: on two cores, a run shorter than that shares them with
// rnnkit's own threads (bench_train_step rnn 32 50 64 128 1 0 2 30 ragged took 2.0-2.3 ms in most
// runs against 0.9-1.0 with OPENBLAS_NUM_THREADS=1). Its fork handler's shutdown (exported, not in
// cblas.h; weak, so that builds without it still link) joins them: with one thread OpenBLAS runs
// every call on the caller's thread, and rnnkit never gives it more.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));
#endif

void set_blas_threads(int threads) {
#ifdef RNNKIT_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
  if (threads == 1 && blas_thread_shutdown_) blas_thread_shutdown_();
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
