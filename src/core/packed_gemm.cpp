// PackedMatrix: B packed once into panels of kPanel columns for gemm_packed, whose kernel is the one
// gemm() uses (blocked_gemm.cpp).
#include "rnnkit/core/packed_gemm.h"

#include <algorithm>

#include "rnnkit/core/error.h"
#include "rnnkit/core/parallel.h"
#include "src/core/blocked_gemm.h"

namespace rnnkit {

static_assert(PackedMatrix<float>::kPanel == kGemmPanel, "the kernel reads panels of kGemmPanel columns");

template <typename Real>
void PackedMatrix<Real>::pack(Trans trans, int K, int N, const Real* B, int ldb) {
  K_ = K, N_ = N;
  data_.resize(size_t(panels()) * size_t(K) * kPanel);
  // Panels are independent: threads take whole panels (a large W_hh is re-packed after every update).
  parallel_slices(panels(), 4, [&](int p0, int p1) {
    if (trans == Trans::Yes) return pack_panels_transposed(B, ldb, K, N, p0, p1, data_.data());  // row j: column j
    for (int p = p0; p < p1; ++p) {  // panel row k: kPanel consecutive values of B's row k
      Real* out = data_.data() + size_t(p) * size_t(K) * kPanel;
      const int n0 = p * kPanel, cols = N - n0 < kPanel ? N - n0 : kPanel;
      if (cols < kPanel) std::fill_n(out, size_t(K) * kPanel, Real(0));
      for (int k = 0; k < K; ++k) std::copy_n(B + size_t(k) * ldb + n0, cols, out + size_t(k) * kPanel);
    }
  });
}

template <typename Real>
void gemm_packed(int M, const Real* A, int lda, const PackedMatrix<Real>& B, Real* C, int ldc, int p0, int p1) {
  gemm_packed_sum<Real>(M, A, lda, B, nullptr, 0, nullptr, nullptr, C, ldc, p0, p1);
}

template <typename Real>
void gemm_packed_sum(int M, const Real* A1, int lda1, const PackedMatrix<Real>& B1, const Real* A2, int lda2,
                     const PackedMatrix<Real>* B2, const Real* bias, Real* C, int ldc, int p0, int p1) {
  if (p1 < 0 || p1 > B1.panels()) p1 = B1.panels();
  if (M <= 0 || p0 >= p1) return;
  require(!B2 || B2->cols() == B1.cols(), "gemm_packed_sum: the two packed matrices differ in columns");
  const int K2 = B2 && A2 ? B2->rows() : 0;
  if (B1.rows() == 0) {
    // the first product empty: the second alone (the kernel runs K1's k loop), or with no second
    // C = bias, or unchanged
    if (K2 > 0) return gemm_packed_sum<Real>(M, A2, lda2, *B2, nullptr, 0, nullptr, bias, C, ldc, p0, p1);
    if (bias)
      for (int m = 0; m < M; ++m)
        std::copy(bias + p0 * kGemmPanel, bias + std::min(B1.cols(), p1 * kGemmPanel), C + int64_t(m) * ldc + p0 * kGemmPanel);
    return;
  }
  gemm_packed_panels(M, B1.cols(), B1.rows(), A1, lda1, B1.panel(0), K2, A2, lda2, K2 ? B2->panel(0) : nullptr, bias,
                     C, ldc, p0, p1);
}

template class PackedMatrix<float>;
template class PackedMatrix<double>;
template void gemm_packed(int, const float*, int, const PackedMatrix<float>&, float*, int, int, int);
template void gemm_packed(int, const double*, int, const PackedMatrix<double>&, double*, int, int, int);
template void gemm_packed_sum(int, const float*, int, const PackedMatrix<float>&, const float*, int,
                              const PackedMatrix<float>*, const float*, float*, int, int, int);
template void gemm_packed_sum(int, const double*, int, const PackedMatrix<double>&, const double*, int,
                              const PackedMatrix<double>*, const double*, double*, int, int, int);

}  // namespace rnnkit
