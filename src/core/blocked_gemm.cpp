// rnnkit's own GEMM kernels (see blocked_gemm.h and packed_gemm.h). Highway compiles this file once
// per instruction set (foreach_target.h re-includes it) and dispatches at run time, so the products
// run the widest vectors the CPU has, whatever BLAS library rnnkit is linked with or however it is
// configured.
//
// Both products share one micro-kernel: it keeps an MR x W block of C in registers (W = two vectors)
// while it runs over k, reading B from a panel of kPanel = 32 columns (row k of the panel at
// k * kPanel) and A either where it lies (row r at r * lda) or from a packed micro-panel (kc x MR,
// k-major). A panel wider than W (narrower vectors) takes several passes.
//
// gemm_blocked follows Goto's loops (as OpenBLAS and BLIS do): op(B) is packed kc rows by nc columns
// at a time into kc x 32 panels; each panel then stays in L1 while the row blocks of an mc x kc block
// of A, in L2, pass over it. gemm_packed multiplies a few rows by a matrix packed once into K x 32
// panels (W_hh, reused by every step).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/core/blocked_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/aligned_allocator.h>
#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "src/core/blocked_gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace rnnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Arrays of vectors need a fixed-size vector type: at most 512 bits (x86's widest).
template <typename T>
using Tag = hn::CappedTag<T, 64 / sizeof(T)>;
template <typename T>
constexpr int kLanes = int(hn::MaxLanes(Tag<T>()));
template <typename T>
constexpr int kW = 2 * kLanes<T>;  // columns of C per micro-kernel call
constexpr int kPanel = kGemmPanel;  // columns per packed panel (a multiple of every kW)

// MR x 2 accumulators, two B vectors and a broadcast must fit the register file: 32 registers with
// AVX-512 (8 x 2 + 3), 16 elsewhere (6 x 2 + 3). Eight rows divide the batch slices the recurrent
// step multiplies (16, 32, 64 rows) and ran as fast as twelve (215-240 GFLOP/s on one Zen 5 core).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3_ZEN4 || \
    HWY_TARGET == HWY_AVX3_SPR
constexpr int kMR = 8;
constexpr int kVectorRegisters = 32;
#else
constexpr int kMR = 6;
constexpr int kVectorRegisters = 16;
#endif

// Block sizes of gemm_blocked: a kc x 32 panel of B fills at most 32 KB (L1), an mc x kc block of A
// at most 240 KB and the kc x nc block of B 512 KB (L2 holds both on current x86 cores).
template <typename T>
constexpr int kMaxKc = 1024 / int(sizeof(T));  // 256 floats, 128 doubles
constexpr int kMaxMc = 240;                    // a multiple of every kMR
// The longest k block of gemm_packed's panels: 256 KB (2048 floats, 1024 doubles), in L2.
template <typename T>
constexpr int kMaxPackedKc = 256 * 1024 / int(sizeof(T)) / kPanel;
template <typename T>
constexpr int kMaxNc = 512 * 1024 / int(sizeof(T)) / kMaxKc<T> / kPanel * kPanel;  // 512 columns

// What one micro-kernel call computes: C[0..rows) x [0..cols) (cols <= kW) = alpha * (A block x panel
// columns, over kc values of k, plus the same for a second A block and panel when kc2 > 0) + (first ?
// beta * C : C); or, with a bias, that sum plus bias[0..cols) (C not read). beta == 0 on a first block
// writes C without reading it. A's element (r, k) is a[k * lda + r] (kPackedA: packed micro-panels,
// lda = MR, or a transposed A read in place) or a[r * lda + k]. With
// kPrefetch, the prefetch_lines cache lines from `prefetch` (prefetch2_lines from prefetch2 for the
// second) are requested evenly over the kc (kc2) values of k: the part of B the next block will read,
// from memory or L3 when B is too large to stay in cache between calls.
template <typename T>
struct MicroArgs {
  const T* a;
  size_t lda;
  const T* panel;
  int kc;
  const T* a2 = nullptr;
  size_t lda2 = 0;
  const T* panel2 = nullptr;
  int kc2 = 0;
  T* C;
  size_t ldc;
  int rows, cols;
  T alpha = T(1), beta = T(1);
  bool first = false;
  const T* bias = nullptr;
  const T* prefetch = nullptr;
  const T* prefetch2 = nullptr;
  int prefetch_lines = 0, prefetch2_lines = 0;
};

// acc += the A block (MR rows) times the panel columns over kc values of k (see MicroArgs).
template <bool kPackedA, bool kPrefetch, int MR, class D, typename T = hn::TFromD<D>>
HWY_INLINE void Accumulate(D d, hn::Vec<D> (&acc0)[MR], hn::Vec<D> (&acc1)[MR], const T* HWY_RESTRICT pa,
                           size_t lda, const T* HWY_RESTRICT panel, int kc, const T* prefetch, int lines) {
  constexpr size_t L = hn::MaxLanes(D());
  using V = hn::Vec<D>;
  int due = 0;  // lines * k, less kc per line requested (lines / kc of them per k, spread evenly)
  for (int k = 0; k < kc; ++k) {
    if constexpr (kPrefetch)
      for (due += lines; due >= kc; due -= kc, prefetch += 64 / sizeof(T)) hwy::Prefetch(prefetch);
    const V b0 = hn::LoadU(d, panel + size_t(k) * kPanel);  // panels start on 128 bytes (aligned.h)
    const V b1 = hn::LoadU(d, panel + size_t(k) * kPanel + L);
    HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
      const V av = hn::Set(d, kPackedA ? pa[size_t(k) * lda + r] : pa[size_t(r) * lda + k]);
      acc0[r] = hn::MulAdd(av, b0, acc0[r]);
      acc1[r] = hn::MulAdd(av, b1, acc1[r]);
    }
  }
}

// MR rows of C (m.rows <= MR; a packed A's micro-panels keep their kMR-row stride whatever MR). Kept
// out of line: inlined into its callers, the compiler ran out of registers and spilled
// a B vector.
template <bool kPackedA, bool kPrefetch, int MR = kMR, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void Micro(D d, const MicroArgs<T>& m) {
  constexpr size_t L = hn::MaxLanes(D());
  using V = hn::Vec<D>;
  // The block of C this call adds to, asked for before the k loop: a C too large for the caches (the
  // 16 MB weight gradient of an LSTM with H = 1024) is read from memory at the end of every call,
  // where the loads stalled the core (M=4096 N=1024 K=400, A transposed: 164-168 GFLOP/s unasked).
  const bool reads_c = !m.bias && !(m.first && m.beta == T(0));
  if (reads_c)
    HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
      if (r < m.rows) {
        hwy::Prefetch(m.C + size_t(r) * m.ldc);
        hwy::Prefetch(m.C + size_t(r) * m.ldc + m.cols - 1);
      }
    }
  V acc0[MR], acc1[MR];
  HWY_UNROLL(16) for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = hn::Zero(d);
  Accumulate<kPackedA, kPrefetch, MR>(d, acc0, acc1, m.a, m.lda, m.panel, m.kc, m.prefetch, m.prefetch_lines);
  if (m.kc2 > 0)
    Accumulate<kPackedA, kPrefetch, MR>(d, acc0, acc1, m.a2, m.lda2, m.panel2, m.kc2, m.prefetch2,
                                        m.prefetch2_lines);
  T* HWY_RESTRICT C = m.C;
  const size_t ldc = m.ldc;
  const V va = hn::Set(d, m.alpha), vb = hn::Set(d, m.beta);
  const bool overwrite = m.first && m.beta == T(0), scale = m.first && m.beta != T(1);
  if (m.rows == MR && m.cols == int(2 * L)) {
    if (m.bias) {
      const V bias0 = hn::LoadU(d, m.bias), bias1 = hn::LoadU(d, m.bias + L);
      HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
        hn::StoreU(hn::MulAdd(va, acc0[r], bias0), d, C + size_t(r) * ldc);
        hn::StoreU(hn::MulAdd(va, acc1[r], bias1), d, C + size_t(r) * ldc + L);
      }
      return;
    }
    auto update = [&](T* c, V acc) {
      if (overwrite) return hn::StoreU(hn::Mul(va, acc), d, c);
      const V old = hn::LoadU(d, c);
      hn::StoreU(hn::MulAdd(va, acc, scale ? hn::Mul(vb, old) : old), d, c);
    };
    HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
      update(C + size_t(r) * ldc, acc0[r]);
      update(C + size_t(r) * ldc + L, acc1[r]);
    }
    return;
  }
  // A partial block: all MR rows to a buffer first (constant indices keep every accumulator in a
  // register; a loop over `rows` would put them all in memory), then the part that exists.
  HWY_ALIGN T tile[MR][2 * L];
  HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
    hn::Store(acc0[r], d, tile[r]);
    hn::Store(acc1[r], d, tile[r] + L);
  }
  for (int r = 0; r < m.rows; ++r) {
    T* c = C + size_t(r) * ldc;
    for (int j = 0; j < m.cols; ++j) {
      const T prod = m.alpha * tile[r][j];
      c[j] = m.bias ? prod + m.bias[j] : overwrite ? prod : prod + (scale ? m.beta * c[j] : c[j]);
    }
  }
}

// The kernel for exactly m.rows rows of an A read in place (gemm_packed's blocks: 1 to kMR rows).
template <bool kPrefetch, int MR = kMR, class D, typename T = hn::TFromD<D>>
HWY_INLINE void MicroInPlace(D d, const MicroArgs<T>& m) {
  if constexpr (MR > 1)
    if (m.rows < MR) return MicroInPlace<kPrefetch, MR - 1>(d, m);
  Micro<false, kPrefetch, MR>(d, m);
}

// A block of fewer rows than kMR runs a kernel for that many rows (an A read in place: gemm_packed's
// last rows) or for 1, 2 or 4 where they suffice (a packed A): the 8-row kernel would do 8 rows'
// multiplications for one. Each row's sums are the same in every kernel.
template <bool kPackedA, bool kPrefetch, class D, typename T = hn::TFromD<D>>
HWY_INLINE void MicroRows(D d, const MicroArgs<T>& m) {
  if constexpr (kPackedA) {
    if (m.rows == 1) return Micro<true, kPrefetch, 1>(d, m);
    if (m.rows == 2) return Micro<true, kPrefetch, 2>(d, m);
    if (m.rows <= 4 && kMR > 4) return Micro<true, kPrefetch, 4>(d, m);
    Micro<true, kPrefetch>(d, m);
  } else {
    MicroInPlace<kPrefetch>(d, m);
  }
}

// gemm_packed's last rows when they are few (1 to 4 with AVX-512, 1 or 2 with AVX2; WideVectors). The
// kernels above keep two vectors of columns per row: one row has two chains of FMAs, each waiting for
// the one before (4 cycles), and 2 rows ran slower than 3 (M x K x N = M x (64 + 128) x 512, the
// smallest LSTM's padded step: 1 row 3.6 us, 2 rows 5.6, 3 rows 4.7, 8 rows 7.3). Here MR rows run
// against NV vectors of columns that go on from one panel into the next: MR x NV chains, 8 or more.
// Each value of C is the same sum, in the same order, as in the kernels above: a row's bits do not
// depend on the rows that share its product. One thread, GFLOP/s before -> after, K = 64 + 128,
// N = 512: 2 rows 70 -> 105, 3 rows 123 -> 144; K = 128 + 256, N = 768 (a GRU at H = 256, its
// weights in L3): 1 row 44 -> 48, 2 rows 62 -> 77, 3 rows 89 -> 110, 4 rows 133 -> 162.
template <typename T>
struct WideArgs {
  const T* a;  // row r, value k at a[r * lda + k]
  size_t lda;
  const T* panel;  // the first panel (B's panels follow, `stride` apart)
  size_t stride;
  int kc;
  const T* a2 = nullptr;  // the second source, kc2 > 0
  size_t lda2 = 0;
  const T* panel2 = nullptr;
  size_t stride2 = 0;
  int kc2 = 0;
  const T* bias = nullptr;  // C = bias + the product, or C += the product when null
  T* C;
  size_t ldc;
  int cols;  // the columns of C that exist from the first panel's first (all NV vectors' or fewer)
};

// Keeps v in a register. For 2 or 3 rows GCC folded the load of a B vector into each row's FMA, a
// load per FMA, and the loads bound the kernel: 3 rows x K = 128 + 256 x N = 768 ran at 71-76 GFLOP/s
// so, slower than the packed 4-row kernel (83-89), and 110 with the vectors kept.
template <class V>
HWY_INLINE void InRegister(V& v) {
#if HWY_ARCH_X86 && (HWY_COMPILER_GCC || HWY_COMPILER_CLANG) && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  asm("" : "+v"(v.raw));
#else
  (void)v;
#endif
}

template <int MR, int NV, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void MicroWide(D d, const WideArgs<T>& m) {
  constexpr int L = int(hn::MaxLanes(D()));
  using V = hn::Vec<D>;
  V acc[MR][NV];
  HWY_UNROLL(16) for (int r = 0; r < MR; ++r) HWY_UNROLL(16) for (int v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  auto accumulate = [&](const T* HWY_RESTRICT a, size_t lda, const T* panel, size_t stride, int kc) {
    const T* b[NV];  // vector v: columns [v L, v L + L) of the panels, side by side
    HWY_UNROLL(16) for (int v = 0; v < NV; ++v) b[v] = panel + size_t(v * L / kPanel) * stride + v * L % kPanel;
    for (int k = 0; k < kc; ++k) {
      V bk[NV];
      HWY_UNROLL(16) for (int v = 0; v < NV; ++v) {
        bk[v] = hn::LoadU(d, b[v] + size_t(k) * kPanel);
        if constexpr (MR > 1) InRegister(bk[v]);
      }
      HWY_UNROLL(16) for (int r = 0; r < MR; ++r) {
        const V av = hn::Set(d, a[size_t(r) * lda + k]);
        HWY_UNROLL(16) for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bk[v], acc[r][v]);
      }
    }
  };
  accumulate(m.a, m.lda, m.panel, m.stride, m.kc);
  if (m.kc2 > 0) accumulate(m.a2, m.lda2, m.panel2, m.stride2, m.kc2);
  // C = bias + acc or C + acc: the kernels above compute alpha * acc + that in one rounding, and
  // gemm_packed's alpha is 1
  auto store = [&](T* c, const T* bias, V sum) {
    hn::StoreU(hn::Add(sum, bias ? hn::LoadU(d, bias) : hn::LoadU(d, c)), d, c);
  };
  if (m.cols == NV * L) {
    HWY_UNROLL(16) for (int r = 0; r < MR; ++r) HWY_UNROLL(16) for (int v = 0; v < NV; ++v)
      store(m.C + size_t(r) * m.ldc + v * L, m.bias ? m.bias + v * L : nullptr, acc[r][v]);
    return;
  }
  HWY_ALIGN T tile[MR][NV * L];  // the last panels: the columns that exist
  HWY_UNROLL(16) for (int r = 0; r < MR; ++r) HWY_UNROLL(16) for (int v = 0; v < NV; ++v)
    hn::Store(acc[r][v], d, tile[r] + v * L);
  for (int r = 0; r < MR; ++r) {
    T* c = m.C + size_t(r) * m.ldc;
    for (int j = 0; j < m.cols; ++j) c[j] = tile[r][j] + (m.bias ? m.bias[j] : c[j]);
  }
}

// The vectors of columns the wide kernel takes for `rows` rows (1 to 4: from 5 rows on the kernels
// above run 10 chains or more): 8, or 4 where 8 would not fit the registers (the accumulators, the B
// vectors that more than one row uses, a broadcast); 0 where that is less than a panel.
template <typename T>
constexpr int WideVectors(int rows) {
  auto fits = [rows](int nv) { return rows * nv + (rows > 1 ? nv : 0) + 1 <= kVectorRegisters; };
  const int nv = rows > 4 ? 0 : fits(8) ? 8 : fits(4) ? 4 : 0;
  return nv * kLanes<T> >= kPanel ? nv : 0;
}

// MR rows against `panels` panels (n_left columns of C from the first): NV vectors a call, or half as
// many for the last panels.
template <int MR, int NV, typename T>
void WidePanels(WideArgs<T> m, int panels, int n_left) {
  const Tag<T> d;
  constexpr int kPanels = NV * kLanes<T> / kPanel;  // per call
  for (; panels >= kPanels; panels -= kPanels) {
    m.cols = std::min(n_left, NV * kLanes<T>);
    MicroWide<MR, NV>(d, m);
    m.panel += kPanels * m.stride, m.C += kPanels * kPanel, n_left -= kPanels * kPanel;
    if (m.panel2) m.panel2 += kPanels * m.stride2;
    if (m.bias) m.bias += kPanels * kPanel;
  }
  if constexpr (NV / 2 * kLanes<T> >= kPanel)
    if (panels > 0) WidePanels<MR, NV / 2>(m, panels, n_left);
}

template <typename T>
void WideRows(int rows, const WideArgs<T>& m, int panels, int n_left) {
  switch (rows) {
#define RNNKIT_WIDE(R)                                                                 \
  case R:                                                                              \
    if constexpr (WideVectors<T>(R) > 0) WidePanels<R, WideVectors<T>(R)>(m, panels, n_left); \
    return;
    RNNKIT_WIDE(1)
    RNNKIT_WIDE(2)
    RNNKIT_WIDE(3)
    RNNKIT_WIDE(4)
#undef RNNKIT_WIDE
    default:
      break;
  }
}

// One block of rows against one panel of `ncols` (<= kPanel) columns (and the second source's panel),
// in passes of kW columns: m holds the first pass's pointers, m.cols is ignored; the first pass
// requests all the lines to prefetch.
template <bool kPackedA, bool kPrefetch = false, typename T>
HWY_INLINE void MicroPanel(MicroArgs<T> m, int ncols) {
  const Tag<T> d;
  for (int j = 0; j < ncols; j += kW<T>) {
    MicroArgs<T> pass = m;
    pass.panel += j, pass.C += j, pass.cols = std::min(kW<T>, ncols - j);
    if (pass.panel2) pass.panel2 += j;
    if (pass.bias) pass.bias += j;
    if (j > 0) pass.prefetch_lines = pass.prefetch2_lines = 0;
    MicroRows<kPackedA, kPrefetch>(d, pass);
  }
}

// dst row r (ldd apart) += src row r (lds apart), n values a row; ldd 0 adds every row into the same
// one, in order (add_rows in blocked_gemm.h).
template <typename T>
void AddRows(int rows, int n, const T* src, int64_t lds, T* dst, int64_t ldd) {
  const hn::ScalableTag<T> d;
  const size_t N = hn::Lanes(d);
  for (int r = 0; r < rows; ++r) {
    const T* HWY_RESTRICT s = src + r * lds;
    T* HWY_RESTRICT o = dst + r * ldd;
    size_t i = 0;
    for (; i + N <= size_t(n); i += N) hn::StoreU(hn::Add(hn::LoadU(d, o + i), hn::LoadU(d, s + i)), d, o + i);
    for (; i < size_t(n); ++i) o[i] += s[i];
  }
}

// The blocked GEMM's call: one source, the alpha / beta update.
template <bool kPackedA, typename T>
HWY_INLINE void MicroPanel(int kc, const T* pa, size_t lda, const T* panel, T* C, size_t ldc, int rows, int ncols,
                           T alpha, T beta, bool first) {
  MicroArgs<T> m{.a = pa, .lda = lda, .panel = panel, .kc = kc, .C = C, .ldc = ldc, .rows = rows, .cols = 0};
  m.alpha = alpha, m.beta = beta, m.first = first;
  MicroPanel<kPackedA>(m, ncols);
}

// Scratch per thread, grown to the largest sizes seen (nothing is allocated once they settle).
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

// One panel from a transposed B: out[k * kPanel + j] = rows[j][k] for k < kc, j < cols (rows: B's rows,
// ldb apart, from column k0), zero for j >= cols. Blocks of 8 x 8 go through registers and come out
// transposed (three rounds of interleaves, as in the classic AVX 8x8 float transpose) wherever the
// vectors hold 8 floats; the rest one value at a time.
template <typename T>
void PackPanelTransposed(const T* B, size_t ldb, int k0, int kc, int cols, T* out) {
  if (cols < kPanel) std::fill_n(out, size_t(kc) * kPanel, T(0));
  int k = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (sizeof(T) == 4) {
    const hn::CappedTag<T, 8> d;
    if constexpr (hn::MaxLanes(d) == 8) {
      const hn::Repartition<uint64_t, decltype(d)> du;
      using V = hn::Vec<decltype(d)>;
      for (; k + 8 <= kc; k += 8)
        for (int j0 = 0; j0 + 8 <= cols; j0 += 8) {
          V r[8];
          for (int i = 0; i < 8; ++i) r[i] = hn::LoadU(d, B + size_t(j0 + i) * ldb + k0 + k);
          V t[8];  // pairs of rows interleaved by 32 bits (within each 128-bit half)
          for (int i = 0; i < 8; i += 2) {
            t[i] = hn::InterleaveLower(d, r[i], r[i + 1]);
            t[i + 1] = hn::InterleaveUpper(d, r[i], r[i + 1]);
          }
          V u[8];  // then pairs of pairs by 64 bits: rows (a b c d) and (e f g h) of one column each half
          for (int i = 0; i < 8; i += 4)
            for (int h = 0; h < 2; ++h) {
              const auto lo = hn::BitCast(du, t[i + h]), hi = hn::BitCast(du, t[i + 2 + h]);
              u[i + 2 * h] = hn::BitCast(d, hn::InterleaveLower(du, lo, hi));
              u[i + 2 * h + 1] = hn::BitCast(d, hn::InterleaveUpper(du, lo, hi));
            }
          for (int c = 0; c < 4; ++c) {  // the 128-bit halves of (a..d) and (e..h) make columns c, c + 4
            hn::StoreU(hn::ConcatLowerLower(d, u[4 + c], u[c]), d, out + size_t(k + c) * kPanel + j0);
            hn::StoreU(hn::ConcatUpperUpper(d, u[4 + c], u[c]), d, out + size_t(k + c + 4) * kPanel + j0);
          }
        }
      // columns of the panel past the last whole group of 8 rows, for these k
      for (int j = cols / 8 * 8; j < cols; ++j)
        for (int kk = 0; kk < k; ++kk) out[size_t(kk) * kPanel + j] = B[size_t(j) * ldb + k0 + kk];
    }
  }
#endif
  for (int j = 0; j < cols; ++j) {  // the k past the last whole block of 8 (all of them, elsewhere)
    const T* src = B + size_t(j) * ldb + k0;
    for (int kk = k; kk < kc; ++kk) out[size_t(kk) * kPanel + j] = src[kk];
  }
}

// Packs op(B)[k0 .. k0+kc) x [n0 .. n0+nc) into panels of kPanel columns, each kc x kPanel with row k
// at k * kPanel, zero beyond N. B is (K, N) with row stride ldb, or (N, K) when transposed.
template <typename T>
void PackB(bool trans, const T* B, size_t ldb, int k0, int kc, int n0, int nc, T* out) {
  const Tag<T> d;
  constexpr int L = kLanes<T>;
  for (int j0 = 0; j0 < nc; j0 += kPanel, out += size_t(kc) * kPanel) {
    const int cols = std::min(kPanel, nc - j0);
    if (!trans && cols == kPanel) {  // whole rows of the panel, a vector at a time
      const T* src = B + size_t(k0) * ldb + n0 + j0;
      for (int k = 0; k < kc; ++k, src += ldb)
        for (int j = 0; j < kPanel; j += L) hn::Store(hn::LoadU(d, src + j), d, out + size_t(k) * kPanel + j);
    } else if (!trans) {
      for (int k = 0; k < kc; ++k) {
        const T* src = B + size_t(k0 + k) * ldb + n0 + j0;
        T* dst = out + size_t(k) * kPanel;
        for (int j = 0; j < cols; ++j) dst[j] = src[j];
        for (int j = cols; j < kPanel; ++j) dst[j] = T(0);
      }
    } else {  // column j of the panel is row n0 + j0 + j of B
      PackPanelTransposed(B + size_t(n0 + j0) * ldb, ldb, k0, kc, cols, out);
    }
  }
}

// A transposed A is packed only where reading it in place costs more than the copy:
// - with fewer than four column panels reusing the block, never (M=1024 N=64 K=6400: 131-152 GFLOP/s
//   in place, 100-114 packed);
// - otherwise only when lda spans a multiple of 4 KB. Read in place, the mc x kc block (mc = 240:
//   15 cache lines a k, lda apart, kc = 256) is meant to stay in L2 while every panel passes. With
//   lda a multiple of 4 KB its 3840 lines fall into 240 of the 1024 sets of a 1 MB, 16-way L2 (Zen 5),
//   exactly their capacity: with B and C passing through the same sets, it streams from L3 again
//   for every panel. Any other stride spreads it over most of the sets, and in place is faster than
//   the copy. One thread, alternating, GFLOP/s packed -> in place, M N K: 512 128 1600: 176-189 ->
//   191-201; 768 256 6400: 174-175 -> 188-193; 512 256 6400: 165-175 -> 180-196; 384 128 1600:
//   190-200 -> 211-213; 256 256 6400: 171-177 -> 181-191; 1536 512 3200: 190-192 -> 190-196. With
//   4 KB strides packing stays ahead: 2048 512 3200: 170-171 in place, 184-189 packed; 1024 256 6400:
//   160-163, 167-168; 3072 1024 400: 168, 191-198.
template <typename T>
bool PackTransposedA(size_t lda, int nc) {
  return nc >= 4 * kPanel && lda * sizeof(T) % 4096 == 0;
}

// A transposed ((K, M), row stride lda): the block of rows [m0, m0 + mc) of op(A) over [k0, k0 + kc) as
// micro-panels of MR rows (kc x MR each, panel r / MR at out + r * kc), zero beyond mc. It runs along
// A's rows, each k's mc values read side by side, and scatters them to the panels: packing one panel
// after another instead read MR values a k, lda apart, one cache line (and at 1024 columns one 4 KB
// page) per k, and took 18 % of M=1024 N=256 K=6400 (a weight gradient of the 2-layer LSTM case).
template <typename T>
void PackATransposedBlock(const T* A, size_t lda, int m0, int mc, int k0, int kc, T* out) {
  constexpr int MR = kMR;
  const hn::CappedTag<T, MR> d;
  const int L = int(hn::Lanes(d));
  const int full = mc / MR * MR;
  if (full < mc) std::fill_n(out + size_t(full) * kc, size_t(kc) * MR, T(0));
  for (int k = 0; k < kc; ++k) {
    const T* src = A + size_t(k0 + k) * lda + m0;
    T* dst = out + size_t(k) * MR;
    for (int r = 0; r < full; r += MR) {
      int j = 0;  // vectors of L lanes, and one value at a time where L does not divide MR (AVX2: 6 of 4)
      for (; j + L <= MR; j += L) hn::StoreU(hn::LoadU(d, src + r + j), d, dst + size_t(r) * kc + j);
      for (; j < MR; ++j) dst[size_t(r) * kc + j] = src[r + j];
    }
    for (int r = full; r < mc; ++r) dst[size_t(full) * kc + (r - full)] = src[r];
  }
}

// op(A)[m0 .. m0+rows) x [k0 .. k0+kc) (rows < MR: the last rows of a block) as a kc x MR
// micro-panel, row k at k * MR, zero beyond `rows`. A is (M, K) with row stride lda, or (K, M) when
// transposed.
template <typename T>
void PackA(bool trans, const T* A, size_t lda, int m0, int rows, int k0, int kc, T* out) {
  constexpr int MR = kMR;
  std::fill_n(out, size_t(kc) * MR, T(0));
  for (int k = 0; k < kc; ++k)
    for (int r = 0; r < rows; ++r)
      out[size_t(k) * MR + r] = trans ? A[size_t(k0 + k) * lda + m0 + r] : A[size_t(m0 + r) * lda + k0 + k];
}

// The size of the blocks that split n into equal blocks of at most max_block, rounded up to a multiple.
inline int Balanced(int n, int max_block, int multiple) {
  const int blocks = (n + max_block - 1) / max_block;
  const int size = (n + blocks - 1) / blocks;
  return (size + multiple - 1) / multiple * multiple;
}

template <typename T>
void GemmBlockedImpl(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, size_t lda, const T* B, size_t ldb,
                     T beta, T* C, size_t ldc) {
  constexpr int MR = kMR;
  // K, M and N in equal blocks of at most the maximum sizes (no thin last block).
  const int kc_max = Balanced(K, kMaxKc<T>, 1), mc_max = Balanced(M, kMaxMc, MR);
  const int nc_max = Balanced(N, kMaxNc<T>, kPanel);
  Buffers<T>& buf = buffers<T>();
  T* pb = buf.get_b(size_t(kc_max) * size_t(nc_max));
  // A transposed: the mc x kc block packed (micro-panels of MR rows) where PackTransposedA says so;
  // elsewhere full row blocks read A in place (MR consecutive values per k). Untransposed: only the
  // last, partial block of rows is packed.
  T* pa = buf.get_a(size_t(kc_max) * size_t(ta ? mc_max : MR));
  for (int n0 = 0; n0 < N; n0 += nc_max) {
    const int nc = std::min(nc_max, N - n0);
    const bool pack_a = ta && PackTransposedA<T>(lda, nc);
    for (int k0 = 0; k0 < K; k0 += kc_max) {
      const int kc = std::min(kc_max, K - k0);
      const bool first = k0 == 0;
      PackB(tb, B, ldb, k0, kc, n0, nc, pb);
      for (int m0 = 0; m0 < M; m0 += mc_max) {
        const int mc = std::min(mc_max, M - m0);
        if (pack_a) {
          PackATransposedBlock(A, lda, m0, mc, k0, kc, pa);
        } else if (mc % MR) {  // the last, partial block of rows, zero-padded
          PackA(ta, A, lda, m0 + mc / MR * MR, mc % MR, k0, kc, pa);
        }
        for (int j0 = 0; j0 < nc; j0 += kPanel) {
          const T* panel = pb + size_t(j0) * kc;
          const int ncols = std::min(kPanel, nc - j0);
          for (int r = 0; r < mc; r += MR) {
            const int rows = std::min(MR, mc - r);
            T* c = C + size_t(m0 + r) * ldc + n0 + j0;
            if (pack_a) MicroPanel<true>(kc, pa + size_t(r) * kc, MR, panel, c, ldc, rows, ncols, alpha, beta, first);
            else if (ta && rows == MR)  // MR consecutive values of A per k: read in place
              MicroPanel<true>(kc, A + size_t(k0) * lda + m0 + r, lda, panel, c, ldc, rows, ncols, alpha, beta, first);
            else if (rows < MR)  // the last rows of the block, packed (A transposed or not)
              MicroPanel<true>(kc, pa, MR, panel, c, ldc, rows, ncols, alpha, beta, first);
            else
              MicroPanel<false>(kc, A + size_t(m0 + r) * lda + k0, lda, panel, c, ldc, rows, ncols, alpha, beta,
                                first);
          }
        }
      }
    }
  }
}

// C (M, N) over the panels [p0, p1) = (bias, or C itself when bias is null) + A (M, K) times B packed
// into K x kPanel panels (+ A2 (M, K2) times B2, packed alike, when K2 > 0). A panel runs whole, or
// in equal k blocks of at most kMaxPackedKc rows (256 KB): the row blocks after the first read it
// from L2 rather than L1, but each block of C is loaded and stored once per k block, and fewer blocks
// won. Blocks of 256 rows (each in L1) against whole panels, one thread, alternating: M=16 K=1024
// N=3072 (a GRU step's product at H = 1024) 157-173 -> 161-185 GFLOP/s; the same K with 400 rows (its
// input projection) 171-186 -> 184-196; M=16 K=4096 N=1024 (an LSTM's backward step, in two blocks of
// 2048) 144-173 -> 156-186; one 4096-row block was slower than 256 (128-149). The blocks depend on K
// alone, so every row's sums run in the same order whatever rows or threads share the product.
//
// While they compute one block (a panel, or a k block of one), the row blocks request the next, each
// an equal share of its lines spread over its k, so that it arrives from L3 or memory in time without
// a burst of requests filling the queue of misses (the first row block alone requesting all of it
// cost 5-10 % at 16 rows, M=16 K=1024 N=3072: 170-178 GFLOP/s, 188 spread). A single row block leaves
// it to the hardware's prefetcher (M=8 K=1024 N=1024: 192 GFLOP/s without, 171 with).
template <typename T>
void GemmPackedImpl(int M, int N, int K, const T* A, size_t lda, const T* packed, int K2, const T* A2, size_t lda2,
                    const T* packed2, const T* bias, T* C, size_t ldc, int p0, int p1) {
  constexpr int MR = kMR;
  constexpr int kLinesPerRow = kPanel * int(sizeof(T)) / 64;  // cache lines in a row of a panel
  // Blocks of MR rows, and the last rows (fewer): through the wide kernel where it takes them, else in
  // one block read in place by a kernel for exactly that many rows; but 2 or 3 rows (where the wide
  // kernel does not take them) are packed (zero-padded to micro-panels, K x MR then K2 x MR) for the
  // packed 2- and 4-row kernels: compiled for an A in place, those two reload B for every FMA.
  // M=5 K=64+128 N=512 (a padded step of the smallest LSTM case), 1 thread: 8.1-8.5 us through the
  // packed 8-row kernel, 5.5-5.7 in place; 6 and 7 rows 8.3-8.4 -> 6.0-6.9; 1 and 4 rows 4-20 %
  // faster without the packing; 3 rows in place 7.5-8.1 against 5.0-5.2 packed.
  const int full = M / MR * MR, tail_rows = M - full;
  // The last rows through the wide kernel, after each group of panels the full blocks have just read
  // (at most 512 KB of panels: in L2 still), where it has a kernel for them
  const bool wide = tail_rows > 0 && WideVectors<T>(tail_rows) > 0;
  const int group = std::max<int>(1, 512 * 1024 / int(sizeof(T)) / kPanel / (K + K2));
  const int blocks = wide ? full / MR : (M + MR - 1) / MR;  // row blocks of the panel loop
  T* tail = nullptr;
  if (!wide && (tail_rows == 2 || tail_rows == 3)) {
    tail = buffers<T>().get_a(size_t(K + K2) * MR);
    PackA(false, A, lda, full, tail_rows, 0, K, tail);
    if (K2 > 0) PackA(false, A2, lda2, full, tail_rows, 0, K2, tail + size_t(K) * MR);
  }
  // k blocks: the whole of K (and K2) at once, or equal blocks for one long product
  const int kc = K2 > 0 ? K : Balanced(K, kMaxPackedKc<T>, 1);
  const size_t stride = size_t(K) * kPanel, stride2 = size_t(K2) * kPanel;
  int g0 = p0;  // the first panel the wide kernel has not run
  for (int p = p0; p < p1; ++p) {
    const T* panel = packed + size_t(p) * stride;
    const int ncols = std::min(kPanel, N - p * kPanel);
    T* Cp = C + size_t(p) * kPanel;
    for (int k0 = 0; k0 < K; k0 += kc) {
      const int kb = std::min(kc, K - k0);
      MicroArgs<T> m{.a = A + k0, .lda = lda, .panel = panel + size_t(k0) * kPanel, .kc = kb, .C = nullptr,
                     .ldc = ldc, .rows = MR, .cols = 0};
      if (K2 > 0) m.a2 = A2, m.lda2 = lda2, m.panel2 = packed2 + size_t(p) * stride2, m.kc2 = K2;
      m.bias = bias && k0 == 0 ? bias + size_t(p) * kPanel : nullptr;  // later blocks add onto C
      // the next block: the next k block of this panel, or the next panel (its first kb rows, and K2)
      const bool prefetch = blocks > 1 && (k0 + kb < K || p + 1 < p1);
      const T* next = k0 + kb < K ? m.panel + size_t(kb) * kPanel : panel + stride;
      const T* next2 = K2 > 0 ? m.panel2 + stride2 : nullptr;
      const int lines = kb * kLinesPerRow, lines2 = K2 * kLinesPerRow;
      for (int b = 0; b < blocks; ++b) {
        const int r = b * MR;
        const bool packed_a = r == full && tail;
        MicroArgs<T> block = m;
        block.C = Cp + size_t(r) * ldc;
        block.rows = std::min(MR, M - r);
        if (!packed_a) {
          block.a = A + size_t(r) * lda + k0;
          if (K2 > 0) block.a2 = A2 + size_t(r) * lda2;
        } else {
          block.a = tail + size_t(k0) * MR, block.lda = MR;
          if (K2 > 0) block.a2 = tail + size_t(K) * MR, block.lda2 = MR;
        }
        if (!prefetch) {
          if (!packed_a) MicroPanel<false>(block, ncols);
          else MicroPanel<true>(block, ncols);
          continue;
        }
        // this block's share of the lines: [lines * b / blocks, lines * (b + 1) / blocks)
        const int l0 = lines * b / blocks, l2 = lines2 * b / blocks;
        block.prefetch = next + size_t(l0) * (64 / sizeof(T));
        block.prefetch_lines = lines * (b + 1) / blocks - l0;
        if (K2 > 0) {
          block.prefetch2 = next2 + size_t(l2) * (64 / sizeof(T));
          block.prefetch2_lines = lines2 * (b + 1) / blocks - l2;
        }
        if (!packed_a) MicroPanel<false, true>(block, ncols);
        else MicroPanel<true, true>(block, ncols);
      }
    }
    if (wide && (p + 1 - g0 == group || p + 1 == p1)) {  // the last rows over panels [g0, p]
      for (int k0 = 0; k0 < K; k0 += kc) {
        WideArgs<T> w{.a = A + size_t(full) * lda + k0, .lda = lda,
                      .panel = packed + size_t(g0) * stride + size_t(k0) * kPanel, .stride = stride,
                      .kc = std::min(kc, K - k0), .C = C + size_t(full) * ldc + size_t(g0) * kPanel, .ldc = ldc,
                      .cols = 0};
        if (K2 > 0) {
          w.a2 = A2 + size_t(full) * lda2, w.lda2 = lda2;
          w.panel2 = packed2 + size_t(g0) * stride2, w.stride2 = stride2, w.kc2 = K2;
        }
        w.bias = bias && k0 == 0 ? bias + size_t(g0) * kPanel : nullptr;
        WideRows(tail_rows, w, p + 1 - g0, N - g0 * kPanel);
      }
      g0 = p + 1;
    }
  }
}

void PackTransposedF(const float* B, int ldb, int K, int N, int p0, int p1, float* out) {
  for (int p = p0; p < p1; ++p)
    PackPanelTransposed(B + size_t(p) * kPanel * size_t(ldb), size_t(ldb), 0, K, std::min(kPanel, N - p * kPanel),
                        out + size_t(p) * size_t(K) * kPanel);
}
void PackTransposedD(const double* B, int ldb, int K, int N, int p0, int p1, double* out) {
  for (int p = p0; p < p1; ++p)
    PackPanelTransposed(B + size_t(p) * kPanel * size_t(ldb), size_t(ldb), 0, K, std::min(kPanel, N - p * kPanel),
                        out + size_t(p) * size_t(K) * kPanel);
}

void GemmBlockedF(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc) {
  GemmBlockedImpl(ta, tb, M, N, K, alpha, A, size_t(lda), B, size_t(ldb), beta, C, size_t(ldc));
}
void GemmBlockedD(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                  int ldb, double beta, double* C, int ldc) {
  GemmBlockedImpl(ta, tb, M, N, K, alpha, A, size_t(lda), B, size_t(ldb), beta, C, size_t(ldc));
}
void GemmPackedF(int M, int N, int K, const float* A, int lda, const float* packed, int K2, const float* A2, int lda2,
                 const float* packed2, const float* bias, float* C, int ldc, int p0, int p1) {
  GemmPackedImpl(M, N, K, A, size_t(lda), packed, K2, A2, size_t(lda2), packed2, bias, C, size_t(ldc), p0, p1);
}
void AddRowsF(int rows, int n, const float* src, int64_t lds, float* dst, int64_t ldd) {
  AddRows(rows, n, src, lds, dst, ldd);
}
void AddRowsD(int rows, int n, const double* src, int64_t lds, double* dst, int64_t ldd) {
  AddRows(rows, n, src, lds, dst, ldd);
}
void GemmPackedD(int M, int N, int K, const double* A, int lda, const double* packed, int K2, const double* A2,
                 int lda2, const double* packed2, const double* bias, double* C, int ldc, int p0, int p1) {
  GemmPackedImpl(M, N, K, A, size_t(lda), packed, K2, A2, size_t(lda2), packed2, bias, C, size_t(ldc), p0, p1);
}

int RowBlock() { return kMR; }

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit {

HWY_EXPORT(GemmBlockedF);
HWY_EXPORT(GemmBlockedD);
HWY_EXPORT(GemmPackedF);
HWY_EXPORT(GemmPackedD);
HWY_EXPORT(PackTransposedF);
HWY_EXPORT(PackTransposedD);
HWY_EXPORT(AddRowsF);
HWY_EXPORT(AddRowsD);
HWY_EXPORT(RowBlock);

void add_rows(int rows, int n, const float* src, int64_t lds, float* dst, int64_t ldd) {
  HWY_DYNAMIC_DISPATCH(AddRowsF)(rows, n, src, lds, dst, ldd);
}

void add_rows(int rows, int n, const double* src, int64_t lds, double* dst, int64_t ldd) {
  HWY_DYNAMIC_DISPATCH(AddRowsD)(rows, n, src, lds, dst, ldd);
}

void pack_panels_transposed(const float* B, int ldb, int K, int N, int p0, int p1, float* out) {
  HWY_DYNAMIC_DISPATCH(PackTransposedF)(B, ldb, K, N, p0, p1, out);
}

void pack_panels_transposed(const double* B, int ldb, int K, int N, int p0, int p1, double* out) {
  HWY_DYNAMIC_DISPATCH(PackTransposedD)(B, ldb, K, N, p0, p1, out);
}

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

void gemm_packed_panels(int M, int N, int K, const float* A, int lda, const float* packed, int K2, const float* A2,
                        int lda2, const float* packed2, const float* bias, float* C, int ldc, int p0, int p1) {
  HWY_DYNAMIC_DISPATCH(GemmPackedF)(M, N, K, A, lda, packed, K2, A2, lda2, packed2, bias, C, ldc, p0, p1);
}

void gemm_packed_panels(int M, int N, int K, const double* A, int lda, const double* packed, int K2, const double* A2,
                        int lda2, const double* packed2, const double* bias, double* C, int ldc, int p0, int p1) {
  HWY_DYNAMIC_DISPATCH(GemmPackedD)(M, N, K, A, lda, packed, K2, A2, lda2, packed2, bias, C, ldc, p0, p1);
}

int gemm_row_block() {
  static const int rows = HWY_DYNAMIC_DISPATCH(RowBlock)();
  return rows;
}

}  // namespace rnnkit
#endif  // HWY_ONCE
