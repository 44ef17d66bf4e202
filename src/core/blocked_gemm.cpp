// gemm_blocked: rnnkit's own cache-blocked GEMM (see blocked_gemm.h). Highway compiles it once per
// instruction set (foreach_target.h re-includes this file) and dispatches at run time, so it runs the
// widest vectors the CPU has whatever BLAS library rnnkit is linked with, or however it is configured.
//
// The loops are Goto's (as in OpenBLAS and BLIS): op(B) is packed block by block, kc rows by nc
// columns, into panels of NR columns (kc x NR each, contiguous); op(A) is read where it lies, MR rows
// by kc at a time (only a last partial block of rows is copied, zero-padded); the micro-kernel keeps
// an MR x NR block of C in registers while it runs over the kc values of k. The A block stays in L1
// while it meets every panel of the B block, which stays in L2.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/core/blocked_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/aligned_allocator.h>
#include <hwy/highway.h>

#include "src/core/blocked_gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace rnnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Arrays of vectors need a fixed-size vector type: at most 512 bits (x86's widest).
template <typename T>
using Tag = hn::CappedTag<T, 64 / sizeof(T)>;

// NR = two vectors; MR x 2 accumulators, two B vectors and a broadcast must fit the register file:
// 32 registers with AVX-512 (12 x 2 + 3 = 27), 16 elsewhere (6 x 2 + 3 = 15).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3_ZEN4 || \
    HWY_TARGET == HWY_AVX3_SPR
constexpr int kMR = 12;
#else
constexpr int kMR = 6;
#endif

template <typename T>
constexpr int kNR = 2 * int(hn::MaxLanes(Tag<T>()));

// Block sizes: the packed B block (kc x nc) is kept near 384 KB, a size that stays in the L2 of
// current x86 cores (512 KB to 2 MB) with room for the A micro-panel and C.
constexpr size_t kBlockBytes = 384 * 1024;
template <typename T>
constexpr int kMaxKc = 384 * 4 / int(sizeof(T));

// Scratch per thread: the packed B block and A micro-panel, grown to the largest sizes seen.
template <typename T>
struct Buffers {
  hwy::AlignedFreeUniquePtr<T[]> b, a;
  size_t b_size = 0, a_size = 0;
  T* get_b(size_t n) {
    if (n > b_size) b = hwy::AllocateAligned<T>(b_size = n);
    return b.get();
  }
  T* get_a(size_t n) {
    if (n > a_size) a = hwy::AllocateAligned<T>(a_size = n);
    return a.get();
  }
};

template <typename T>
Buffers<T>& buffers() {
  thread_local Buffers<T> b;
  return b;
}

// Packs op(B)[k0 .. k0+kc) x [n0 .. n0+nc) into panels of NR columns, each kc x NR with row k at
// k * NR, zero beyond N. B is (K, N) with row stride ldb, or (N, K) when transposed.
template <typename T>
void PackB(bool trans, const T* B, int ldb, int k0, int kc, int n0, int nc, T* out) {
  const Tag<T> d;
  constexpr size_t L = hn::MaxLanes(Tag<T>());
  constexpr int NR = kNR<T>;
  for (int j0 = 0; j0 < nc; j0 += NR, out += size_t(kc) * NR) {
    const int cols = std::min(NR, nc - j0);
    if (!trans && cols == NR) {  // whole rows of the panel: two vectors each
      const T* src = B + size_t(k0) * ldb + n0 + j0;
      for (int k = 0; k < kc; ++k, src += ldb) {
        hn::Store(hn::LoadU(d, src), d, out + size_t(k) * NR);
        hn::Store(hn::LoadU(d, src + L), d, out + size_t(k) * NR + L);
      }
    } else if (!trans) {
      for (int k = 0; k < kc; ++k) {
        const T* src = B + size_t(k0 + k) * ldb + n0 + j0;
        T* dst = out + size_t(k) * NR;
        for (int j = 0; j < cols; ++j) dst[j] = src[j];
        for (int j = cols; j < NR; ++j) dst[j] = T(0);
      }
    } else {  // column j of the panel is row n0 + j0 + j of B, read in order
      if (cols < NR) std::fill_n(out, size_t(kc) * NR, T(0));
      for (int j = 0; j < cols; ++j) {
        const T* src = B + size_t(n0 + j0 + j) * ldb + k0;
        for (int k = 0; k < kc; ++k) out[size_t(k) * NR + j] = src[k];
      }
    }
  }
}

// op(A)[m0 .. m0+rows) x [k0 .. k0+kc) as kc x MR, row k at k * MR, zero beyond `rows`. A is (M, K)
// with row stride lda, or (K, M) when transposed. Whole blocks of an untransposed A are read where
// they lie instead; a transposed one is copied, as reading it in place would take a cache line per
// k, lda apart (4 KB apart at 1024 columns, all in the same L1 sets).
template <typename T>
void PackA(bool trans, const T* A, int lda, int m0, int rows, int k0, int kc, T* out) {
  constexpr int MR = kMR;
  if (trans && rows == MR) {  // MR consecutive values per k: whole vectors, then one at a time
    const Tag<T> d;
    constexpr int L = int(hn::MaxLanes(Tag<T>()));
    const T* src = A + size_t(k0) * lda + m0;
    for (int k = 0; k < kc; ++k, src += lda, out += MR) {
      int r = 0;
      for (; r + L <= MR; r += L) hn::StoreU(hn::LoadU(d, src + r), d, out + r);
      for (; r < MR; ++r) out[r] = src[r];
    }
    return;
  }
  std::fill_n(out, size_t(kc) * MR, T(0));
  for (int k = 0; k < kc; ++k)
    for (int r = 0; r < rows; ++r)
      out[size_t(k) * MR + r] = trans ? A[size_t(k0 + k) * lda + m0 + r] : A[size_t(m0 + r) * lda + k0 + k];
}

// C[0..rows) x [0..cols) = alpha * (A block x packed B panel) + (first ? beta * C : C), where the
// product runs over kc. beta == 0 on the first block writes C without reading it. The MR x kc block
// of A is either packed (kPackedA: element (r, k) at a[k * MR + r]) or read where it lies in an
// untransposed A (a[r * lda + k]). It stays in L1 while it meets every panel of the B block.
template <bool kPackedA, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void Micro(D d, int kc, const T* HWY_RESTRICT pa, size_t lda, const T* HWY_RESTRICT pb,
                      T* HWY_RESTRICT C, int ldc, int rows, int cols, T alpha, T beta, bool first) {
  constexpr int MR = kMR;
  constexpr size_t L = hn::MaxLanes(D());
  using V = hn::Vec<D>;
  V acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = hn::Zero(d);
  for (int k = 0; k < kc; ++k) {
    const V b0 = hn::Load(d, pb + size_t(k) * 2 * L);
    const V b1 = hn::Load(d, pb + size_t(k) * 2 * L + L);
    for (int r = 0; r < MR; ++r) {
      const V av = hn::Set(d, kPackedA ? pa[size_t(k) * MR + r] : pa[size_t(r) * lda + k]);
      acc0[r] = hn::MulAdd(av, b0, acc0[r]);
      acc1[r] = hn::MulAdd(av, b1, acc1[r]);
    }
  }
  const V va = hn::Set(d, alpha), vb = hn::Set(d, beta);
  const bool overwrite = first && beta == T(0), scale = first && beta != T(1);
  auto update = [&](T* c, V acc) {
    if (overwrite) return hn::StoreU(hn::Mul(va, acc), d, c);
    const V old = hn::LoadU(d, c);
    hn::StoreU(hn::MulAdd(va, acc, scale ? hn::Mul(vb, old) : old), d, c);
  };
  if (rows == MR && cols == int(2 * L)) {
    for (int r = 0; r < MR; ++r) {
      update(C + size_t(r) * ldc, acc0[r]);
      update(C + size_t(r) * ldc + L, acc1[r]);
    }
    return;
  }
  HWY_ALIGN T buf[2 * L];
  for (int r = 0; r < rows; ++r) {
    hn::Store(acc0[r], d, buf);
    hn::Store(acc1[r], d, buf + L);
    T* c = C + size_t(r) * ldc;
    for (int j = 0; j < cols; ++j) {
      const T prod = alpha * buf[j];
      c[j] = overwrite ? prod : prod + (scale ? beta * c[j] : c[j]);
    }
  }
}

template <typename T>
void GemmBlockedImpl(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                     T beta, T* C, int ldc) {
  const Tag<T> d;
  constexpr int MR = kMR, NR = kNR<T>;
  // kc: K in equal blocks of at most kMaxKc; nc: as many NR panels as fit the block size with that kc.
  const int kblocks = (K + kMaxKc<T> - 1) / kMaxKc<T>;
  const int kc_max = (K + kblocks - 1) / kblocks;
  const int nc_max = std::max(NR, int(kBlockBytes / (sizeof(T) * size_t(kc_max))) / NR * NR);
  Buffers<T>& buf = buffers<T>();
  T* pb = buf.get_b(size_t(kc_max) * size_t(std::min(nc_max, (N + NR - 1) / NR * NR)));
  T* pa = buf.get_a(size_t(kc_max) * MR);
  for (int n0 = 0; n0 < N; n0 += nc_max) {
    const int nc = std::min(nc_max, N - n0);
    for (int k0 = 0; k0 < K; k0 += kc_max) {
      const int kc = std::min(kc_max, K - k0);
      const bool first = k0 == 0;
      PackB(tb, B, ldb, k0, kc, n0, nc, pb);
      for (int m0 = 0; m0 < M; m0 += MR) {
        const int rows = std::min(MR, M - m0);
        T* c_row = C + size_t(m0) * ldc + n0;
        auto panels = [&](auto trans_a, const T* a, size_t ld) {
          for (int j0 = 0; j0 < nc; j0 += NR)
            Micro<decltype(trans_a)::value>(d, kc, a, ld, pb + size_t(j0) * kc, c_row + j0, ldc, rows,
                                            std::min(NR, nc - j0), alpha, beta, first);
        };
        if (rows < MR || ta) {  // copied (the last rows zero-padded to a whole block)
          PackA(ta, A, lda, m0, rows, k0, kc, pa);
          panels(std::true_type{}, pa, 0);
        } else {
          panels(std::false_type{}, A + size_t(m0) * lda + k0, lda);
        }
      }
    }
  }
}

void GemmBlockedF(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc) {
  GemmBlockedImpl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void GemmBlockedD(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                  int ldb, double beta, double* C, int ldc) {
  GemmBlockedImpl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit {

HWY_EXPORT(GemmBlockedF);
HWY_EXPORT(GemmBlockedD);

void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc) {
  HWY_DYNAMIC_DISPATCH(GemmBlockedF)(ta == Trans::Yes, tb == Trans::Yes, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                     ldc);
}

void gemm_blocked(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                  int ldb, double beta, double* C, int ldc) {
  HWY_DYNAMIC_DISPATCH(GemmBlockedD)(ta == Trans::Yes, tb == Trans::Yes, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                     ldc);
}

}  // namespace rnnkit
#endif  // HWY_ONCE
