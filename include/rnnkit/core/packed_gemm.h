// A right-hand matrix packed once for many products with few rows: the recurrent step multiplies the
// same W_hh by every step's state, and a BLAS GEMM would re-pack W_hh on every call (with 16-64
// rows that packing costs as much as the product). The kernel is vectorised with Highway and picks
// the CPU's best instruction set at run time.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnkit/core/aligned.h"
#include "rnnkit/core/gemm.h"

namespace rnnkit {

template <typename Real>
class PackedMatrix {
 public:
  static constexpr int kPanel = 32;  // columns per panel

  // Packs op(B) (K, N): B is (K, N) with row stride ldb when trans is No, (N, K) when Yes. The
  // storage is reused (and, when it grows, not cleared first: every value is written), so re-packing
  // after every update allocates nothing.
  void pack(Trans trans, int K, int N, const Real* B, int ldb);

  int rows() const { return K_; }  // K
  int cols() const { return N_; }  // N
  // Panel p: K rows of kPanel values (columns p*kPanel ..), zero beyond N.
  const Real* panel(int p) const { return data_.data() + std::size_t(p) * std::size_t(K_) * kPanel; }
  int panels() const { return (N_ + kPanel - 1) / kPanel; }

 private:
  int K_ = 0, N_ = 0;
  // On 128 bytes (aligned.h): every k's 32 values of a panel fill two whole cache lines (at
  // std::allocator's 16 bytes each of the kernel's two vector loads a k straddled two lines: the
  // smallest LSTM's training step at 1 thread 4.64-4.75 ms before, 4.50-4.58 after); not cleared when
  // it grows, since pack() writes every value.
  AlignedVector<Real> data_;
};

// C (M, N) += A (M, K) op(B), with op(B) packed; A and C row-major with strides lda, ldc. With a
// panel range, only C's columns [kPanel * panel_begin, min(N, kPanel * panel_end)) (threads split C
// that way when it has few rows).
template <typename Real>
void gemm_packed(int M, const Real* A, int lda, const PackedMatrix<Real>& B, Real* C, int ldc, int panel_begin = 0,
                 int panel_end = -1);

// C (M, N) = bias + A1 op(B1) [+ A2 op(B2)] over the same column range: B1 and B2 packed with the same
// N, B2 null for one product, bias (N) null for C += instead. The two products accumulate in the
// kernel's registers, and C is written once (the recurrent step's x W_ih^T + h W_hh^T + biases).
template <typename Real>
void gemm_packed_sum(int M, const Real* A1, int lda1, const PackedMatrix<Real>& B1, const Real* A2, int lda2,
                     const PackedMatrix<Real>* B2, const Real* bias, Real* C, int ldc, int panel_begin = 0,
                     int panel_end = -1);

}  // namespace rnnkit
