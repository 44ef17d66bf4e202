// gemm_packed: a register-blocked kernel over 16-column panels (see packed_gemm.h). Highway compiles
// the kernel once per instruction set (foreach_target.h re-includes this file) and dispatches at run
// time. Each call of the micro-kernel keeps an MR x 16 block of C in registers while it runs over all
// K; the panel (K x 16) stays in L1/L2 while the row blocks pass over it.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/core/packed_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "rnnkit/core/packed_gemm.h"

#include <algorithm>
#include "rnnkit/core/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace rnnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kNR = PackedMatrix<float>::kPanel;

// C[0..MR) x [0..ncols) += A[0..MR) x K times the panel (K x 16). With a prefetch pointer (the next
// panel, K x 16 as well), one cache line of it is requested per k: the next panel arrives from memory
// while this one is computed (a large W_hh does not stay in cache from one step to the next).
template <int MR, bool kPrefetch = false, class D, typename T = hn::TFromD<D>>
HWY_INLINE void micro(D d, int K, const T* HWY_RESTRICT A, int lda, const T* HWY_RESTRICT panel, T* C, int ldc,
                      int ncols, const T* prefetch = nullptr) {
  constexpr size_t L = hn::MaxLanes(D());
  constexpr int NV = kNR / int(L);
  using V = hn::Vec<D>;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  for (int k = 0; k < K; ++k) {
    if constexpr (kPrefetch) hwy::Prefetch(prefetch + size_t(k) * kNR);
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = hn::LoadU(d, panel + size_t(k) * kNR + size_t(v) * L);
    for (int r = 0; r < MR; ++r) {
      const V a = hn::Set(d, A[size_t(r) * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(a, b[v], acc[r][v]);
    }
  }
  if (ncols == kNR) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) {
        T* c = C + size_t(r) * ldc + size_t(v) * L;
        hn::StoreU(hn::Add(hn::LoadU(d, c), acc[r][v]), d, c);
      }
    return;
  }
  HWY_ALIGN T buf[kNR];
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) hn::Store(acc[r][v], d, buf + size_t(v) * L);
    for (int j = 0; j < ncols; ++j) C[size_t(r) * ldc + j] += buf[j];
  }
}

// The rows left after the full MR blocks (fewer than MR), one instantiation per count.
template <int R, class D, typename T = hn::TFromD<D>>
HWY_INLINE void tail_rows(D d, int rows, int K, const T* A, int lda, const T* panel, T* C, int ldc, int ncols) {
  if constexpr (R > 0) {
    if (rows == R) return micro<R>(d, K, A, lda, panel, C, ldc, ncols);
    tail_rows<R - 1>(d, rows, K, A, lda, panel, C, ldc, ncols);
  }
}

template <typename T>
void GemmPackedImpl(int M, int K, int N, const T* A, int lda, const T* packed, T* C, int ldc, int p0, int p1) {
  // Arrays of vectors need a fixed-size vector type; 16 columns must be whole vectors.
  using D = hn::CappedTag<T, kNR>;
  const D d;
  constexpr int NV = kNR / int(hn::MaxLanes(D()));
  constexpr int MR = NV >= 12 ? 1 : 12 / NV;  // MR x NV accumulators fit in 16 registers with B
  for (int p = p0; p < p1; ++p) {
    const T* panel = packed + size_t(p) * size_t(K) * kNR;
    const int ncols = N - p * kNR < kNR ? N - p * kNR : kNR;
    T* Cp = C + size_t(p) * kNR;
    int r = 0;
    // The first row block brings the panel in (from memory when B is large) and asks for the next.
    if (p + 1 < p1 && M >= MR) {
      micro<MR, true>(d, K, A, lda, panel, Cp, ldc, ncols, panel + size_t(K) * kNR);
      r = MR;
    }
    for (; r + MR <= M; r += MR) micro<MR>(d, K, A + size_t(r) * lda, lda, panel, Cp + size_t(r) * ldc, ldc, ncols);
    if (r < M) tail_rows<MR - 1>(d, M - r, K, A + size_t(r) * lda, lda, panel, Cp + size_t(r) * ldc, ldc, ncols);
  }
}

void GemmPackedF(int M, int K, int N, const float* A, int lda, const float* packed, float* C, int ldc, int p0,
                 int p1) {
  GemmPackedImpl(M, K, N, A, lda, packed, C, ldc, p0, p1);
}
void GemmPackedD(int M, int K, int N, const double* A, int lda, const double* packed, double* C, int ldc, int p0,
                 int p1) {
  GemmPackedImpl(M, K, N, A, lda, packed, C, ldc, p0, p1);
}

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit {

HWY_EXPORT(GemmPackedF);
HWY_EXPORT(GemmPackedD);

template <typename Real>
void PackedMatrix<Real>::pack(Trans trans, int K, int N, const Real* B, int ldb) {
  K_ = K, N_ = N;
  data_.resize(size_t(panels()) * size_t(K) * kPanel);
  // Panels are independent: threads take whole panels (a large W_hh is re-packed after every update).
  parallel_slices(panels(), 4, [&](int p0, int p1) {
    for (int p = p0; p < p1; ++p) {
      Real* out = data_.data() + size_t(p) * size_t(K) * kPanel;
      const int n0 = p * kPanel, cols = N - n0 < kPanel ? N - n0 : kPanel;
      if (cols < kPanel) std::fill_n(out, size_t(K) * kPanel, Real(0));
      if (trans == Trans::No) {  // panel row k: 16 consecutive values of B's row k
        for (int k = 0; k < K; ++k) std::copy_n(B + size_t(k) * ldb + n0, cols, out + size_t(k) * kPanel);
      } else {  // column j of the panel: row n0 + j of B, read in order
        for (int j = 0; j < cols; ++j) {
          const Real* src = B + size_t(n0 + j) * ldb;
          for (int k = 0; k < K; ++k) out[size_t(k) * kPanel + j] = src[k];
        }
      }
    }
  });
}

template <>
void gemm_packed<float>(int M, const float* A, int lda, const PackedMatrix<float>& B, float* C, int ldc, int p0,
                        int p1) {
  if (p1 < 0 || p1 > B.panels()) p1 = B.panels();
  if (M <= 0 || B.rows() == 0 || p0 >= p1) return;
  HWY_DYNAMIC_DISPATCH(GemmPackedF)(M, B.rows(), B.cols(), A, lda, B.panel(0), C, ldc, p0, p1);
}

template <>
void gemm_packed<double>(int M, const double* A, int lda, const PackedMatrix<double>& B, double* C, int ldc, int p0,
                         int p1) {
  if (p1 < 0 || p1 > B.panels()) p1 = B.panels();
  if (M <= 0 || B.rows() == 0 || p0 >= p1) return;
  HWY_DYNAMIC_DISPATCH(GemmPackedD)(M, B.rows(), B.cols(), A, lda, B.panel(0), C, ldc, p0, p1);
}

template class PackedMatrix<float>;
template class PackedMatrix<double>;

}  // namespace rnnkit
#endif  // HWY_ONCE
