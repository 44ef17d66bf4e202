// Recurrent layers: the cells' step equations and the one time loop (forward and BPTT) they share.
#include "rnnkit/nn/recurrent.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "rnnkit/core/error.h"
#include "rnnkit/core/gemm.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/nn/dropout.h"
#include "src/core/blocked_gemm.h"
#include "src/nn/gates.h"

namespace rnnkit {

int gate_count(CellKind cell) {
  switch (cell) {
    case CellKind::RnnTanh:
    case CellKind::RnnRelu: return 1;
    case CellKind::Lstm: return 4;
    case CellKind::Gru: return 3;
  }
  return 0;
}

const char* cell_name(CellKind cell) {
  switch (cell) {
    case CellKind::RnnTanh: return "rnn_tanh";
    case CellKind::RnnRelu: return "rnn_relu";
    case CellKind::Lstm: return "lstm";
    case CellKind::Gru: return "gru";
  }
  return "?";
}

CellKind parse_cell(const std::string& name) {
  for (CellKind c : {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru})
    if (name == cell_name(c)) return c;
  if (name == "rnn") return CellKind::RnnTanh;
  throw Error("unknown cell '" + name + "': expected one of rnn, rnn_tanh, rnn_relu, lstm, gru");
}

namespace {

// ---------------------------------------------------------------------------------------------------
// Cells. Each states G and two functions whose arithmetic is the vectorised kernels of gates.h:
//   forward(rows, xp, hp, folded, h, c, h', c', act, aux, y): over `rows` consecutive sequences at one
//   step; xp = W_ih x + b_ih, hp = W_hh h + b_hh, both (G*H) a row, except that the first `folded`
//   columns of hp are already summed into xp; act / aux / y may be null (inference).
//   backward(rows, ...): over `rows` consecutive sequences, from dh' (dh + dy) and dc', gives the
//   pre-activation gradients dgi (for W_ih, b_ih, x) and dgh (for W_hh, b_hh, h), the direct part of
//   dh (not through W_hh), and dc for the previous step.
// kOwnGates: how many gates (the last of a row) have a gradient for W_hh that differs from dgi's:
// none for every cell but the GRU, whose reset gate scales the n part's (dgh_n = dgi_n * r). Backward
// writes dgh's own columns only, (kOwnGates * H) a row; elsewhere W_hh's gradient is dgi's.
// kFoldBias: the pre-activation is the plain sum xp + hp, so b_hh joins b_ih in the input projection
// and each step's recurrent product adds onto it in place (hp null). The GRU's reset gate scales the
// n part of hp, which therefore stays separate; its r and z parts fold in the same way when they end
// on a panel boundary of the packed W_hh (H a multiple of 16).
// ---------------------------------------------------------------------------------------------------

template <bool kRelu>
struct SimpleCell {
  static constexpr int kGates = 1;
  static constexpr bool kHasCell = false;
  static constexpr int kOwnGates = 0;
  static constexpr bool kFoldBias = true;

  template <typename Real>
  static void forward(int rows, int H, const Real* xp, const Real* hp, int, const Real*, const Real*, Real* h_next,
                      Real*, Real*, Real*, Real* y, int64_t ldy) {
    gates::rnn_forward(rows, H, kRelu, xp, hp, h_next, y, ldy);
  }

  template <typename Real>
  static void backward(int rows, int H, const Real*, const Real*, const Real*, const Real*, const Real*,
                       const Real* h_next, const Real* dh, const Real* dy, int64_t ldy, Real*, Real* dgi, Real*,
                       Real* dh_direct) {
    gates::rnn_backward(rows, H, kRelu, h_next, dh, dy, ldy, dgi);
    std::fill_n(dh_direct, int64_t(rows) * H, Real(0));
  }
};

struct LstmCell {
  static constexpr int kGates = 4;
  static constexpr bool kHasCell = true;
  static constexpr int kOwnGates = 0;
  static constexpr bool kFoldBias = true;

  template <typename Real>
  static void forward(int rows, int H, const Real* xp, const Real* hp, int, const Real*, const Real* c,
                      Real* h_next, Real* c_next, Real* act, Real*, Real* y, int64_t ldy) {
    gates::lstm_forward(rows, H, xp, hp, c, h_next, c_next, act, y, ldy);
  }

  template <typename Real>
  static void backward(int rows, int H, const Real* act, const Real*, const Real*, const Real* c, const Real* c_next,
                       const Real*, const Real* dh, const Real* dy, int64_t ldy, Real* dc, Real* dgi, Real*,
                       Real* dh_direct) {
    gates::lstm_backward(rows, H, act, c, c_next, dh, dy, ldy, dc, dgi);
    std::fill_n(dh_direct, int64_t(rows) * H, Real(0));
  }
};

struct GruCell {
  static constexpr int kGates = 3;
  static constexpr bool kHasCell = false;
  static constexpr int kOwnGates = 1;
  static constexpr bool kFoldBias = false;

  template <typename Real>
  static void forward(int rows, int H, const Real* xp, const Real* hp, int folded, const Real* h, const Real*,
                      Real* h_next, Real*, Real* act, Real* aux, Real* y, int64_t ldy) {
    gates::gru_forward(rows, H, xp, hp, folded == 2 * H, h, h_next, act, aux, y, ldy);
  }

  template <typename Real>
  static void backward(int rows, int H, const Real* act, const Real* aux, const Real* h, const Real*, const Real*,
                       const Real*, const Real* dh, const Real* dy, int64_t ldy, Real*, Real* dgi, Real* dgh,
                       Real* dh_direct) {
    gates::gru_backward(rows, H, act, aux, h, dh, dy, ldy, dgi, dgh, dh_direct);
  }
};

// dst[t, b] = src[len_b - 1 - t, b] for t < len_b, src[t, b] otherwise (W values per row; row
// strides lds, ldd). Its own inverse. The steps are split over the threads (a slice copies at least
// 64 KB): after the two directions, the reverse one's output is put back in order while the other
// thread would wait.
template <typename Real>
int steps_per_slice(int B, int W) {
  return std::max<int64_t>(1, (int64_t(64) << 10) / std::max<int64_t>(1, int64_t(B) * W * int64_t(sizeof(Real))));
}

template <typename Real>
void reverse_in_lengths(const Real* src, int64_t lds, Real* dst, int64_t ldd, int T, int B, int W,
                        const int* lengths) {
  parallel_slices(T, steps_per_slice<Real>(B, W), [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t)
      for (int b = 0; b < B; ++b) {
        const int s = t < lengths[b] ? lengths[b] - 1 - t : t;
        std::copy_n(src + (int64_t(s) * B + b) * lds, W, dst + (int64_t(t) * B + b) * ldd);
      }
  });
}

// dst[t, b] += src[len_b - 1 - t, b] (the reverse direction's input gradient, back in input order),
// the steps split over the threads.
template <typename Real>
void add_reversed(const Real* src, Real* dst, int T, int B, int W, const int* lengths) {
  parallel_slices(T, steps_per_slice<Real>(B, W), [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t)
      for (int b = 0; b < B; ++b) {
        const int s = t < lengths[b] ? lengths[b] - 1 - t : t;
        const Real* in = src + (int64_t(s) * B + b) * W;
        Real* out = dst + (int64_t(t) * B + b) * W;
        for (int k = 0; k < W; ++k) out[k] += in[k];
      }
  });
}

// Rows per thread below which a direction's time loop is not split over threads.
constexpr int kMinRowsPerThread = 8;

// What a row block of the per-step product costs besides its rows' own work, in rows: each block of
// the kernel's rows streams all of the weights. `bench_gemm M 64 128 512` (the smallest LSTM's step):
// 4.4 us for one row, 8.6 for eight, 13.7 for nine. Measured before the wide kernel for a product's
// last 1-4 rows (bench/README.md step 44), which made such a block cheaper (the same shape: 2.9 us
// for one row, 7.4 for eight, 10.3 for nine). A lower cost, 3, moves the smallest case's cut from 24
// rows to 23; timed at 2 threads it was level (bench/README.md, after step 44), so 7 stays.
constexpr int64_t kBlockCost = 7;

// The time loop of a direction over batch slices, one per thread. A full batch is cut evenly. A padded
// one is cut where the largest slice's cost is least, a slice's cost being, over the steps, kBlockCost
// for each row block its running rows fill plus one for each running row. Cutting by length alone
// (parallel_slices_weighted) had given the smallest padded LSTM's long sequences ten rows, a block of
// eight and one of two on every step, and that thread took 25 % longer than the other (763 against
// 611 us of forward; with eight rows 511 against 683).
template <typename F>
void time_loop_slices(int B, int T, const int* lengths, bool padded, F&& fn) {
  const int slices = parallel_slice_count(B, kMinRowsPerThread);
  if (!padded || slices == 1) return parallel_slices_weighted(B, kMinRowsPerThread, lengths, fn);
  thread_local std::vector<int> bounds;
  bounds.resize(size_t(slices) + 1);
  block_balanced_bounds(B, T, lengths, slices, kMinRowsPerThread, gemm_row_block(), kBlockCost, bounds.data());
  parallel_slices_at(B, slices, bounds.data(), fn);
}

// The sequences of [b0, b1) still running at step t: n of them, from row lo to row hi - 1 (lo == hi
// when none; hi - lo == n when they lie side by side, as in a batch sorted by length).
struct Running {
  int lo, hi, n;
};
inline Running running_rows(int t, int b0, int b1, const int* lengths) {
  Running r{b1, b1, 0};
  for (int b = b0; b < b1; ++b)
    if (t < lengths[b]) r.lo = std::min(r.lo, b), r.hi = b + 1, ++r.n;
  if (r.n == 0) r.lo = r.hi = b0;
  return r;
}

// How many sequences ahead of row b0 are still running at step t: where the valid rows of [b0, ..)
// at step t begin among that step's valid rows (live_rows order, step_start in RecurrentCache).
inline int running_before(int t, int b0, const int* lengths) {
  int before = 0;
  for (int b = 0; b < b0; ++b) before += t < lengths[b];
  return before;
}

// Whether each step's product is better split by columns of W_hh than the time loop by rows: with
// fewer than 16 rows a thread, every thread would stream all of a large W_hh on every step (and the
// kernel's row blocks would be mostly empty); the per-step hand-over costs little next to the
// product when W_hh (G*H x H) is this large.
inline bool split_columns(int B, int GH, int H) {
  return thread_count() > 1 && B < 16 * thread_count() && int64_t(GH) * H >= (int64_t(1) << 18);
}

// Whether a bidirectional layer runs its two directions side by side, one on each of two threads (each
// over the whole batch: larger per-step products, no hand-over inside the loop): with exactly two
// threads and work enough to pay for the hand-over (not a streaming step at batch 1, where it cost
// 10-20 us a step).
inline bool directions_side_by_side(int D, int T, int B, int GH, int K) {
  return D == 2 && thread_count() == 2 && double(T) * B * GH * K >= double(1 << 20);
}

// Whether a direction computes its input projection step by step (each step's rows times W_ih packed
// once, in the same kernel pass as the recurrent product) instead of in one GEMM over all steps before
// the loop. Step by step the projection never leaves the cache (one GEMM over all steps writes it to
// memory and the cells read it back), and a padded batch projects its running rows only; W_ih is then
// read once per step: worth it up to 2 MB, or up to 64 KB a row of the batch (at most 8 MB; measured
// on the 512-unit cases, B = 64, a 4 MB W_ih: 4 % faster forward and training; at B = 16 a 4-16 MB
// W_ih read every step cost 5-25 %); `rows` is the batch, or with padding the running rows a step on
// average. The choice must not depend on the thread count: the two ways round differently.
template <typename Real>
bool input_per_step(int T, int64_t rows, int GH, int I) {
  const int64_t bytes = int64_t(GH) * I * int64_t(sizeof(Real));
  const int64_t limit = std::max<int64_t>(int64_t(2) << 20, std::min<int64_t>(int64_t(8) << 20, rows << 16));
  return T >= 2 && bytes <= limit;
}

// One direction of one layer, forward over t = 0..T-1. y (row stride ldy) gets h' on valid steps and
// 0 elsewhere. A sequence's steps depend only on its own earlier steps, so the time loop runs on
// contiguous slices of the batch, one per thread, with no synchronisation inside it; each step's
// recurrent product uses W_hh^T packed once before the loop. Nothing is allocated per step.
//
// The input: without step_input, x holds R rows (every step, or with padding the valid rows only, in
// live_rows order) and one GEMM projects all steps before the loop; with it, step t's rows are at
// x + t * x_step (row b at + b * I; x_step < 0 runs the steps backwards: the reverse direction reading
// its input in place) and each step projects its own rows. Without `keep` (an inference cache), no
// activation is kept for backward (act holds only the pre-activations).
template <typename Cell, typename Real>
void direction_forward(const ParamStore<Real>& params, const RecurrentWeights& w, int I, int H, int T, int B,
                       const int* lengths, const Real* h0, const Real* c0,
                       typename RecurrentCache<Real>::Direction& cache,
                       typename RecurrentCache<Real>::Scratch& scratch, Real* y, int64_t ldy,
                       const std::vector<int64_t>& live_rows, const std::vector<int64_t>& step_start, const Real* x,
                       int64_t x_step, bool step_input, bool keep) {
  constexpr int G = Cell::kGates;
  constexpr int kPanel = PackedMatrix<Real>::kPanel;
  const int GH = G * H;
  const int64_t TB = int64_t(T) * B, BH = int64_t(B) * H;
  // The first F columns of the recurrent product add onto act in place, their b_hh folded into the
  // bias (all of them for LSTM and RNN, the GRU's r and z when they end on a panel boundary); the rest
  // (the GRU's n part) go to hp = b_hh + h W_hh^T. pF: the panels of the packed W_hh^T before F.
  const int F = Cell::kFoldBias ? GH : H % (kPanel / 2) == 0 ? 2 * H : 0;
  const int pF = F == GH ? (GH + kPanel - 1) / kPanel : F / kPanel;
  const bool has_hp = F < GH;

  // The bias of the pre-activation rows: b_ih, plus b_hh in the folded columns.
  auto& bias = scratch.bias;
  const Real* b_ih = params.value(w.b_ih);
  const Real* bhh = params.value(w.b_hh);
  bias.assign(b_ih, b_ih + GH);
  for (int k = 0; k < F; ++k) bias[size_t(k)] += bhh[k];
  // hp rows (row stride G*H) get b_hh in the columns that do not fold ([F, G*H), or those of the
  // panels [p0, p1) among them).
  auto fill_hp = [&](Real* hp_rows, int rows, int p0 = 0, int p1 = -1) {
    const int c0 = std::max(F, p0 * kPanel), c1 = p1 < 0 ? GH : std::min(GH, p1 * kPanel);
    for (int r = 0; r < rows && c0 < c1; ++r) std::copy(bhh + c0, bhh + c1, hp_rows + int64_t(r) * GH + c0);
  };

  // op(W) = W^T (K, G*H) packed for the products: into the scratch in training (the weights change
  // every step), into the cache's own matrices for inference, once while the parameters stay the same.
  auto pack_weights = [&](typename RecurrentCache<Real>::Direction::Packed& own, PackedMatrix<Real>& per_call, int K,
                    int index) -> const PackedMatrix<Real>& {
    const Real* src = params.value(index);
    if (keep) return per_call.pack(Trans::Yes, K, GH, src, K), per_call;
    if (own.stamp != params.stamp() || own.from != src || own.m.rows() != K || own.m.cols() != GH) {
      own.m.pack(Trans::Yes, K, GH, src, K);
      own.stamp = params.stamp(), own.from = src;
    }
    return own.m;
  };

  // act (T*B, G*H) holds each step's pre-activations (input projection, bias, and for kFoldBias cells
  // the recurrent product); the gate kernel overwrites them with the activations backward needs.
  // Before the loop when the input is not projected per step: bias + x W_ih^T in one pass (W_ih^T
  // packed, the rows split over the threads; a single row through BLAS's GEMV onto the bias). With
  // padding, cache.x holds the valid rows only (R of them): the product fills act's first R rows,
  // which then move to their time-major places (descending, so no row is overwritten before it moves).
  //
  // Without `keep` and with the input projected step by step, nothing of a step outlives the next:
  // act holds one step's rows and h, c two steps' (alternating), so the loop works in cache whatever T.
  const bool roll = !keep && step_input;
  cache.act.resize(roll ? int64_t(B) * GH : TB * GH);
  auto act_step = [&](int t) { return cache.act.data() + (roll ? 0 : int64_t(t) * B * GH); };
  auto h_step = [&](int t) { return cache.h.data() + (roll ? t & 1 : t) * BH; };
  auto c_step = [&](int t) { return cache.c.data() + (roll ? t & 1 : t) * BH; };
  cache.final_state = roll ? (T & 1) * BH : TB * H;
  const PackedMatrix<Real>* w_ih = nullptr;  // W_ih^T (I, G*H), packed unless a single row is projected
  if (!step_input) {
    const int64_t R = live_rows.empty() ? TB : int64_t(live_rows.size());
    Real* act = cache.act.data();
    if (R == 1) {
      std::copy_n(bias.data(), GH, act);
      gemm(Trans::No, Trans::Yes, 1, GH, I, Real(1), x, I, params.value(w.w_ih), I, Real(1), act, GH);
    } else {
      // (training packs W_ih into the scratch W_hh takes after this product: no more memory than W_hh's)
      w_ih = &pack_weights(cache.w_ih, scratch.w_hh, I, w.w_ih);
      parallel_slices(int(R), 16, [&](int r0, int r1) {
        gemm_packed_sum<Real>(r1 - r0, x + int64_t(r0) * I, I, *w_ih, nullptr, 0, nullptr, bias.data(),
                              act + int64_t(r0) * GH, GH);
      });
    }
    for (int64_t k = R - 1; k >= 0 && !live_rows.empty(); --k)
      if (live_rows[size_t(k)] != k) std::copy_n(act + k * GH, GH, act + live_rows[size_t(k)] * GH);
  } else {
    w_ih = &pack_weights(cache.w_ih, scratch.w_ih, I, w.w_ih);
  }

  // Every row of h (T+1, B, H) and c after the first is written below: by the cell or by copying.
  cache.h.resize(roll ? 2 * BH : TB * H + BH);
  if (h0) std::copy_n(h0, BH, cache.h.data());
  else std::fill_n(cache.h.data(), BH, Real(0));
  if (Cell::kHasCell) {
    cache.c.resize(roll ? 2 * BH : TB * H + BH);
    if (c0) std::copy_n(c0, BH, cache.c.data());
    else std::fill_n(cache.c.data(), BH, Real(0));
  }
  if (std::is_same_v<Cell, GruCell> && keep) cache.aux.resize(TB * H);
  if (!keep) cache.aux.clear();
  // Packing costs about one step's product, so it pays from two steps on; a single step (streaming)
  // goes through BLAS, which takes one row as a matrix-vector product.
  const bool packed = T >= 2;
  const PackedMatrix<Real>* w_hh = packed ? &pack_weights(cache.w_hh, scratch.w_hh, H, w.w_hh) : nullptr;
  const Real* whh = params.value(w.w_hh);

  // The recurrent product of `rows` rows of h over the panels [p0, p1): onto act_rows in the folded
  // columns, into hp_rows = b_hh + h W_hh^T in the others. h null: the first step from a zero state,
  // whose product is zero (act stays, hp = b_hh). Adding its zeros would not change a bit: x + 0 = x.
  auto product = [&](int rows, const Real* h, Real* act_rows, Real* hp_rows, int p0, int p1) {
    if (!h) return fill_hp(hp_rows, rows, p0, p1);
    if (p0 < std::min(p1, pF)) gemm_packed(rows, h, H, *w_hh, act_rows, GH, p0, std::min(p1, pF));
    if (std::max(p0, pF) < p1)
      gemm_packed_sum<Real>(rows, h, H, *w_hh, nullptr, 0, nullptr, bhh, hp_rows, GH, std::max(p0, pF), p1);
  };

  // With the input projected step by step (every row runs), the products of `rows` rows over the panels
  // [p0, p1): act = bias + x_t W_ih^T + h_t W_hh^T in one pass over the folded columns; in the others
  // act = bias + x_t W_ih^T and hp = b_hh + h_t W_hh^T.
  // h_rows null: a zero state (the input's products only, hp = b_hh).
  auto step_products = [&](int rows, const Real* x_rows, const Real* h_rows, Real* act_rows, Real* hp_rows, int p0,
                           int p1) {
    if (p0 < std::min(p1, pF))
      gemm_packed_sum(rows, x_rows, I, *w_ih, h_rows, H, h_rows ? w_hh : nullptr, bias.data(), act_rows, GH, p0,
                      std::min(p1, pF));
    if (std::max(p0, pF) < p1) {
      gemm_packed_sum<Real>(rows, x_rows, I, *w_ih, nullptr, 0, nullptr, bias.data(), act_rows, GH, std::max(p0, pF),
                            p1);
      if (h_rows)
        gemm_packed_sum<Real>(rows, h_rows, H, *w_hh, nullptr, 0, nullptr, bhh, hp_rows, GH, std::max(p0, pF), p1);
      else
        fill_hp(hp_rows, rows, p0, p1);
    }
  };
  // The state the step's products read: null for the first step from a zero state (no initial state
  // given), which skips its recurrent product (1 of T, 4 % of the recurrent work at T = 25).
  cache.zero_h0 = !h0;
  auto zero_state = [&](int t) { return t == 0 && !h0; };
  auto state_rows = [&](int t, const Real* rows) -> const Real* { return zero_state(t) ? nullptr : rows; };

  // The cells over rows [b0, b1) at step t; the recurrent products of those rows are in act (the
  // folded columns) and hp (the others; row b at hp_rows + (b - b0) * GH).
  auto step_rows = [&](int t, int b0, int b1, const Real* hp_rows) {
    const Real* h_t = h_step(t);
    Real* h_next = h_step(t + 1);
    Real* c_t = Cell::kHasCell ? c_step(t) : nullptr;
    Real* c_next = Cell::kHasCell ? c_step(t + 1) : nullptr;
    auto cells = [&](int r0, int r1) {  // sequences r0 .. r1 - 1, all running at step t
      const int64_t row = int64_t(t) * B + r0;
      Real* act = act_step(t) + int64_t(r0) * GH;
      Cell::forward(r1 - r0, H, act, has_hp ? hp_rows + int64_t(r0 - b0) * GH : nullptr, F, h_t + int64_t(r0) * H,
                    Cell::kHasCell ? c_t + int64_t(r0) * H : nullptr, h_next + int64_t(r0) * H,
                    Cell::kHasCell ? c_next + int64_t(r0) * H : nullptr, keep ? act : nullptr,
                    cache.aux.empty() ? nullptr : cache.aux.data() + row * H, y + row * ldy, ldy);
    };
    int b = b0;
    while (b < b1) {
      if (t < lengths[b]) {  // a run of sequences still running, in one call
        int e = b + 1;
        while (e < b1 && t < lengths[e]) ++e;
        cells(b, e);
        b = e;
        continue;
      }
      // padded step: the state passes through unchanged. Kept from step to step only when h and c
      // roll over two buffers; otherwise nothing reads an ended sequence's later rows (backward reads
      // the valid steps' only) but the final state, which carry_final_states fills after the loop.
      const int64_t row = int64_t(t) * B + b;
      if (roll) {
        std::copy_n(h_t + int64_t(b) * H, H, h_next + int64_t(b) * H);
        if (Cell::kHasCell) std::copy_n(c_t + int64_t(b) * H, H, c_next + int64_t(b) * H);
      }
      std::fill_n(y + row * ldy, H, Real(0));
      ++b;
    }
  };

  // The final state (row T of h and c) of each sequence that ended before T, from its last step.
  auto carry_final_states = [&] {
    if (roll) return;
    for (int b = 0; b < B; ++b) {
      if (lengths[b] >= T) continue;
      std::copy_n(h_step(lengths[b]) + int64_t(b) * H, H, h_step(T) + int64_t(b) * H);
      if (Cell::kHasCell) std::copy_n(c_step(lengths[b]) + int64_t(b) * H, H, c_step(T) + int64_t(b) * H);
    }
  };

  // With padding and the input projected step by step, x holds the valid rows only (in live_rows
  // order): step t's start at row step_start[t]. step_input_rows(t) lays out step t's input as B rows
  // (those of ended sequences zero) for the column split, which runs every row.
  const bool padded = !live_rows.empty();
  auto step_input_rows = [&](int t) {
    Real* rows = scratch.x_rows.data();
    const Real* src = x + step_start[size_t(t)] * I;
    for (int b = 0; b < B; ++b) {
      Real* row = rows + int64_t(b) * I;
      if (t < lengths[b]) std::copy_n(src, I, row), src += I;
      else std::fill_n(row, I, Real(0));
    }
    return static_cast<const Real*>(rows);
  };

  // Per-step buffers come from the cache (each slice uses its own rows), so a call allocates
  // nothing once the sizes have settled: streaming calls forward once per step.
  if (has_hp) scratch.hp.resize(int64_t(B) * GH);
  const int P = (GH + kPanel - 1) / kPanel;
  if (packed && split_columns(B, GH, H)) {
    // Few rows per thread and a large W_hh: each step's products are split by columns (each thread
    // reads its part of the weights once), then the cells by rows; two hand-overs per step. Each
    // column's sums run in the same order as in the split by rows, so the results do not change.
    // Padded, the products take the rows from the first running sequence to the last ([lo, hi): all of
    // them in a batch sorted by length), so that a step costs what its running rows do.
    Real* hp = has_hp ? scratch.hp.data() : nullptr;
    if (step_input && padded) scratch.x_rows.resize(int64_t(B) * I);
    for (int t = 0; t < T; ++t) {
      const Real* h_t = h_step(t);
      Real* act_t = act_step(t);
      const Running run = running_rows(t, 0, B, lengths);
      const int lo = run.lo, hi = run.hi;
      // Padded, the step's input rows come from the valid rows (the others' results are not used): in
      // place when [lo, hi) are all running (they are then the step's valid rows, in order).
      const Real* x_t = x + int64_t(t) * x_step + int64_t(lo) * I;
      if (step_input && padded)
        x_t = run.n == hi - lo ? x + step_start[size_t(t)] * I : step_input_rows(t) + int64_t(lo) * I;
      const int n = hi - lo;
      const Real* h_lo = h_t + int64_t(lo) * H;
      Real* act_lo = act_t + int64_t(lo) * GH;
      Real* hp_lo = has_hp ? hp + int64_t(lo) * GH : nullptr;
      if (n > 0)
        parallel_slices(P, 1, [&](int p0, int p1) {
          if (step_input) step_products(n, x_t, state_rows(t, h_lo), act_lo, hp_lo, p0, p1);
          else product(n, state_rows(t, h_lo), act_lo, hp_lo, p0, p1);
        });
      parallel_slices(B, 1, [&](int b0, int b1) { step_rows(t, b0, b1, has_hp ? hp + int64_t(b0) * GH : nullptr); });
    }
    carry_final_states();
    return;
  }
  if (packed) {
    scratch.h_live.resize(BH);
    scratch.hp_live.resize(int64_t(B) * GH);
    scratch.live.resize(size_t(B));
    if (step_input && padded) scratch.act_live.resize(int64_t(B) * GH);
  }
  time_loop_slices(B, T, lengths, padded, [&](int b0, int b1) {
    const int rows = b1 - b0;
    Real* hp = has_hp ? scratch.hp.data() + int64_t(b0) * GH : nullptr;  // (rows, G*H)
    for (int t = 0; t < T; ++t) {
      const Real* h_t = h_step(t);
      Real* act_t = act_step(t) + int64_t(b0) * GH;  // (rows, G*H)
      if (step_input && !padded) {
        // Every row runs: act = bias + x_t W_ih^T + h_t W_hh^T in one pass over the folded columns; in
        // the others act = bias + x_t W_ih^T and hp = b_hh + h_t W_hh^T.
        step_products(rows, x + int64_t(t) * x_step + int64_t(b0) * I, state_rows(t, h_t + int64_t(b0) * H), act_t,
                      hp, 0, P);
        step_rows(t, b0, b1, hp);
        continue;
      }
      // The rows still running (how many, the first and past the last). When some have ended, the
      // products run on the running rows only, so a padded batch costs its real steps (each row's
      // result is the same as in the full product): in place when they lie side by side (a batch
      // sorted by length), otherwise gathered into live / h_live (scratch sized when packed).
      const Running run = running_rows(t, b0, b1, lengths);  // (plain names: the lambdas below take them)
      const int lo = run.lo, hi = run.hi, n = run.n;
      const bool in_place = hi - lo == n;
      int* live = packed ? scratch.live.data() + b0 : nullptr;
      Real* h_live = packed ? scratch.h_live.data() + int64_t(b0) * H : nullptr;
      Real* hp_live = packed ? scratch.hp_live.data() + int64_t(b0) * GH : nullptr;
      auto gather = [&] {
        for (int b = b0, k = 0; b < b1; ++b)
          if (t < lengths[b]) live[k++] = b;
        for (int k = 0; k < n; ++k) std::copy_n(h_t + int64_t(live[k]) * H, H, h_live + int64_t(k) * H);
      };
      if (step_input) {
        // x holds the valid rows only, step by step in batch order: the slice's running rows at step
        // t lie side by side there, after the `before` rows running ahead of b0.
        const Real* x_rows = x + (step_start[size_t(t)] + running_before(t, b0, lengths)) * I;
        if (n > 0 && in_place) {
          step_products(n, x_rows, state_rows(t, h_t + int64_t(lo) * H), act_t + int64_t(lo - b0) * GH,
                        has_hp ? hp + int64_t(lo - b0) * GH : nullptr, 0, P);
        } else if (n > 0) {
          Real* act_live = scratch.act_live.data() + int64_t(b0) * GH;
          gather();
          step_products(n, x_rows, state_rows(t, h_live), act_live, hp_live, 0, P);
          for (int k = 0; k < n; ++k) {
            std::copy_n(act_live + int64_t(k) * GH, GH, act_t + int64_t(live[k] - b0) * GH);
            if (has_hp)
              std::copy(hp_live + int64_t(k) * GH + F, hp_live + int64_t(k + 1) * GH,
                        hp + int64_t(live[k] - b0) * GH + F);
          }
        }
        step_rows(t, b0, b1, hp);
        continue;
      }
      if (packed && n > 0 && n < rows && in_place) {
        product(n, state_rows(t, h_t + int64_t(lo) * H), act_t + int64_t(lo - b0) * GH,
                has_hp ? hp + int64_t(lo - b0) * GH : nullptr, 0, P);
      } else if (packed && n > 0 && n < rows) {
        gather();
        // (The folded columns start from the rows' act, so that every sum runs in the same order as
        // in the product straight onto act: the results do not depend on which rows run together.)
        for (int k = 0; k < n; ++k) std::copy_n(act_t + int64_t(live[k] - b0) * GH, F, hp_live + int64_t(k) * GH);
        if (has_hp) fill_hp(hp_live, n);
        if (!zero_state(t)) gemm_packed(n, h_live, H, *w_hh, hp_live, GH);
        for (int k = 0; k < n; ++k) {
          const Real* src = hp_live + int64_t(k) * GH;
          std::copy_n(src, F, act_t + int64_t(live[k] - b0) * GH);
          if (has_hp) std::copy(src + F, src + GH, hp + int64_t(live[k] - b0) * GH + F);
        }
      } else if (n > 0) {
        const Real* h_rows = h_t + int64_t(b0) * H;
        if (packed) {
          product(rows, state_rows(t, h_rows), act_t, hp, 0, P);
        } else {  // one step (streaming): through gemm(), one row a matrix-vector product
          if (has_hp) fill_hp(hp, rows);
          if (F > 0) gemm(Trans::No, Trans::Yes, rows, F, H, Real(1), h_rows, H, whh, H, Real(1), act_t, GH);
          if (has_hp)
            gemm(Trans::No, Trans::Yes, rows, GH - F, H, Real(1), h_rows, H, whh + int64_t(F) * H, H, Real(1), hp + F,
                 GH);
        }
      }
      step_rows(t, b0, b1, hp);
    }
  });
  carry_final_states();
}

// BPTT over one direction, t = T-1..0 (on batch slices, one per thread, as in forward), then the
// weight gradients for all steps in batched GEMMs. dy (T*B, row stride ldy) or null; dh_final,
// dc_final (B, H) or null; dh0, dc0 (B, H) written or null. Leaves the pre-activation gradient for
// W_ih and x in dgi: (T*B, G*H), or with padding (live_rows given) the valid rows only, (R, G*H) in
// live_rows order; dgh (the GRU's own columns) is scratch.
template <typename Cell, typename Real>
void direction_backward(ParamStore<Real>& params, const RecurrentWeights& w, int I, int H, int T, int B,
                        const int* lengths, const typename RecurrentCache<Real>::Direction& cache, const Real* dy,
                        int64_t ldy, const Real* dh_final, const Real* dc_final, Real* dh0, Real* dc0,
                        AlignedVector<Real>& dgi_buf, AlignedVector<Real>& dgh_buf, PackedMatrix<Real>& w_hh,
                        PackedMatrix<Real>& w_hh_own, const std::vector<int64_t>& live_rows,
                        const std::vector<int64_t>& step_start, AlignedVector<Real>& h_rows,
                        AlignedVector<Real>& bias_sums) {
  constexpr int G = Cell::kGates;
  // W_hh's gradient is dgi's in its first S columns, dgh's (OH a row) in the rest.
  const int GH = G * H, OH = Cell::kOwnGates * H, S = GH - OH;
  const int64_t TB = int64_t(T) * B, BH = int64_t(B) * H;

  // dgi (T*B, G*H) and dgh (T*B, OH); every row is written below (padded rows with zeros where the
  // column split reads them).
  dgi_buf.resize(TB * GH);
  dgh_buf.resize(TB * OH);
  Real* dgi = dgi_buf.data();
  Real* dgh = dgh_buf.data();
  const bool packed = T >= 2;  // as in forward
  const bool split = packed && split_columns(B, GH, H);
  // With padding and the time loop split by rows, dgi and dgh hold the valid rows only, written in
  // place in live_rows order: step t's from row step_start[t], in batch order. A slice's running rows
  // at a step then lie side by side whatever the gaps between them, and no serial pass moves the
  // rows down after the loop (at 2 threads that pass read every row the other core wrote: 150-190 us
  // of the smallest cases' 2.0-2.6 ms step). The column split reads each step's rows from the first
  // running sequence to the last, zeros included, so it keeps the full layout and moves them after.
  const bool compact = !live_rows.empty() && !split;
  // The row of dgi (and dgh) of sequence b at step t: t * B + b, or with compact step_start[t] +
  // before, `before` being the sequences running at step t ahead of b.
  auto grad_row = [&](int t, int b, int before) -> int64_t {
    return compact ? step_start[size_t(t)] + before : int64_t(t) * B + b;
  };
  // (W_hh read through the const view: a non-const access re-stamps the store, and with two threads
  // the two directions' backward run at once.)
  const Real* whh = std::as_const(params).value(w.w_hh);
  // op = W_hh (G*H, H) in two parts: rows [0, S) (times dgi's first S columns) and the own rows [S, G*H)
  // (times dgh), so that each step's product sums both in one pass of the kernel.
  if (packed) {
    w_hh.pack(Trans::No, S, H, whh, H);
    if (OH > 0) w_hh_own.pack(Trans::No, OH, H, whh + int64_t(S) * H, H);
  }
  // dh_prev (rows, H) += gi[:, :S] W_hh[:S] + gh W_hh[S:] over the panels [p0, p1) of its columns.
  auto step_product = [&](int rows, const Real* gi, int ld_gi, const Real* gh, int ld_gh, Real* dh_prev, int p0,
                          int p1) {
    gemm_packed_sum<Real>(rows, gi, ld_gi, w_hh, gh, ld_gh, OH > 0 ? &w_hh_own : nullptr, nullptr, dh_prev, H, p0,
                          p1);
  };

  // The bias gradients (column sums of dgi, and of dgh for the GRU) are summed in the loop while each
  // step's rows are still in cache: each sequence into its own row of bias_sums, the rows added up in
  // order after the loop, so the sums do not depend on how the batch is sliced over threads.
  const int sums_width = GH + OH;
  bias_sums.assign(size_t(B) * sums_width, Real(0));

  // The cell's backward over rows [b0, b1) at step t: dh, dc, dh_prev hold those rows (row b at (b - b0) * H).
  auto back_rows = [&](int t, int b0, int b1, Real* dh, Real* dc, Real* dh_prev) {
    const Real* h_t = cache.h.data() + int64_t(t) * BH;
    int b = b0;
    int before = compact ? running_before(t, b0, lengths) : 0;  // (compact: those running at step t ahead of b)
    while (b < b1) {
      const int64_t row = int64_t(t) * B + b, local = int64_t(b - b0) * H;
      if (t < lengths[b]) {  // a run of sequences still running, in one call
        int e = b + 1;
        while (e < b1 && t < lengths[e]) ++e;
        const int64_t g = grad_row(t, b, before);
        Cell::backward(e - b, H, cache.act.data() + row * GH, cache.aux.empty() ? nullptr : cache.aux.data() + row * H,
                       h_t + int64_t(b) * H, Cell::kHasCell ? cache.c.data() + row * H : nullptr,
                       Cell::kHasCell ? cache.c.data() + (row + B) * H : nullptr, cache.h.data() + (row + B) * H,
                       dh + local, dy ? dy + row * ldy : nullptr, ldy, dc + local, dgi + g * GH,
                       OH > 0 ? dgh + g * OH : nullptr, dh_prev + local);
        Real* sums = bias_sums.data() + int64_t(b) * sums_width;
        add_rows(e - b, GH, dgi + g * GH, GH, sums, sums_width);
        if (OH > 0) add_rows(e - b, OH, dgh + g * OH, OH, sums + GH, sums_width);
        before += e - b;
        b = e;
        continue;
      }
      // padded step: the gradient passes through (dh and dh_prev both hold the final state's gradient
      // until the sequence's last step: run_slice starts them equal, and nothing writes an ended row),
      // the gates get none (their rows are read only by the column split's product, which takes every
      // row and adds their zeros onto dh_prev; elsewhere only the valid rows are)
      if (split) {
        std::fill_n(dgi + row * GH, GH, Real(0));
        if (OH > 0) std::fill_n(dgh + row * OH, OH, Real(0));
      }
      ++b;
    }
  };

  auto run_slice = [&](int b0, int b1, bool split) {
    const int rows = b1 - b0;
    const int64_t RH = int64_t(rows) * H;
    std::vector<Real> dh(RH, Real(0)), dh_prev(RH, Real(0)), dc(RH, Real(0));  // (rows, H) each
    std::vector<Real> dh_live;  // the dh_prev rows of the sequences still running, gathered
    std::vector<int> live;
    if (dh_final) std::copy_n(dh_final + int64_t(b0) * H, RH, dh.data()), dh_prev = dh;
    if (dc_final && Cell::kHasCell) std::copy_n(dc_final + int64_t(b0) * H, RH, dc.data());
    for (int t = T - 1; t >= 0; --t) {
      // dh_prev (rows, H) += the gradients of rows b0..b1 at step t times W_hh (G*H, H): those rows of
      // dgi and dgh, or with compact the slice's running rows, side by side. At t = 0 dh_prev is the
      // gradient of h_0, whose product is left out when nobody asked for it (1 of T products).
      const bool product_wanted = t > 0 || dh0;
      const int64_t g = grad_row(t, b0, compact ? running_before(t, b0, lengths) : 0);
      const Real* dgi_t = dgi + g * GH;
      const Real* dgh_t = OH > 0 ? dgh + g * OH : nullptr;
      if (split) {  // all rows: the cells by row slices, the product by column slices
        parallel_slices(B, 1, [&](int r0, int r1) {
          back_rows(t, r0, r1, dh.data() + int64_t(r0) * H, dc.data() + int64_t(r0) * H,
                    dh_prev.data() + int64_t(r0) * H);
        });
        // (the rows from the first running sequence to the last: the others' gate gradients are zero)
        const Running run = running_rows(t, 0, B, lengths);
        const int lo = run.lo, rows_run = run.hi - run.lo;
        if (run.n > 0 && product_wanted)
          parallel_slices(w_hh.panels(), 1, [&](int p0, int p1) {
            step_product(rows_run, dgi_t + int64_t(lo) * GH, GH, OH > 0 ? dgh_t + int64_t(lo) * OH : nullptr, OH,
                         dh_prev.data() + int64_t(lo) * H, p0, p1);
          });
      } else {
        back_rows(t, b0, b1, dh.data(), dc.data(), dh_prev.data());
        const Running run = running_rows(t, b0, b1, lengths);
        const int n = product_wanted ? run.n : 0;
        // Ended sequences (n < rows) mean padding, so dgi and dgh are compact here: the slice's running
        // rows lie side by side from dgi_t, dgh_t on, and their gate gradients are read in place.
        if (packed && n > 0 && n < rows && run.hi - run.lo == n) {  // their dh_prev side by side too
          step_product(n, dgi_t, GH, dgh_t, OH, dh_prev.data() + int64_t(run.lo - b0) * H, 0, -1);
        } else if (packed && n > 0 && n < rows) {  // gaps between them: their dh_prev gathered
          // (dh_live starts from the rows' dh_prev, as the product straight onto dh_prev would: the
          // same sums in the same order)
          live.clear();
          for (int b = b0; b < b1; ++b)
            if (t < lengths[b]) live.push_back(b);
          dh_live.resize(int64_t(n) * H);
          for (int k = 0; k < n; ++k)
            std::copy_n(dh_prev.data() + int64_t(live[size_t(k)] - b0) * H, H, dh_live.data() + int64_t(k) * H);
          step_product(n, dgi_t, GH, dgh_t, OH, dh_live.data(), 0, -1);
          for (int k = 0; k < n; ++k)
            std::copy_n(dh_live.data() + int64_t(k) * H, H, dh_prev.data() + int64_t(live[size_t(k)] - b0) * H);
        } else if (n > 0) {
          if (packed) {
            step_product(rows, dgi_t, GH, dgh_t, OH, dh_prev.data(), 0, -1);
          } else {
            gemm(Trans::No, Trans::No, rows, H, S, Real(1), dgi_t, GH, whh, H, Real(1), dh_prev.data(), H);
            if (OH > 0)
              gemm(Trans::No, Trans::No, rows, H, OH, Real(1), dgh_t, OH, whh + int64_t(S) * H, H, Real(1),
                   dh_prev.data(), H);
          }
        }
      }
      dh.swap(dh_prev);
    }
    if (dh0) std::copy_n(dh.data(), RH, dh0 + int64_t(b0) * H);
    if (dc0 && Cell::kHasCell) std::copy_n(dc.data(), RH, dc0 + int64_t(b0) * H);
  };
  if (split) run_slice(0, B, true);
  else time_loop_slices(B, T, lengths, !live_rows.empty(), [&](int b0, int b1) { run_slice(b0, b1, false); });

  // dW_ih (G*H, I) += dgi^T x;  dW_hh (G*H, H) += [dgi's first S columns | dgh]^T h_{0..T-1};  biases
  // += column sums. With padding, over the valid rows only: after the column split dgi (and dgh) move
  // to their first R rows (ascending: each row moves down, never onto a row still to move; compact
  // wrote them there), h's valid rows are gathered (over the threads), x is already compact.
  const Real* h_prev = cache.h.data();
  int64_t R = TB;
  // From a zero state the first step's rows of h are zero: W_hh's gradient leaves them out (r0 rows).
  const int64_t r0 = !cache.zero_h0 || T == 0 ? 0 : live_rows.empty() ? B : step_start[1];
  if (!live_rows.empty()) {
    R = int64_t(live_rows.size());
    for (int64_t k = 0; k < R && !compact; ++k) {
      const int64_t r = live_rows[size_t(k)];
      if (r == k) continue;
      std::copy_n(dgi + r * GH, GH, dgi + k * GH);
      if (OH > 0) std::copy_n(dgh + r * OH, OH, dgh + k * OH);
    }
    h_rows.resize(R * H);
    parallel_slices(int(R - r0), 64, [&](int k0, int k1) {
      for (int64_t k = r0 + k0; k < r0 + k1; ++k)
        std::copy_n(cache.h.data() + live_rows[size_t(k)] * H, H, h_rows.data() + k * H);
    });
    h_prev = h_rows.data();
  }
  // (Each product writes all of its gradient: onto it, or over it while it is marked zero.)
  Real beta_ih, beta_hh;
  Real* dw_ih = params.product_grad(w.w_ih, beta_ih);
  Real* dw_hh = params.product_grad(w.w_hh, beta_hh);
  gemm(Trans::Yes, Trans::No, GH, I, int(R), Real(1), dgi, GH, cache.x.data(), I, beta_ih, dw_ih, I);
  gemm(Trans::Yes, Trans::No, S, H, int(R - r0), Real(1), dgi + r0 * GH, GH, h_prev + r0 * H, H, beta_hh, dw_hh, H);
  if (OH > 0)
    gemm(Trans::Yes, Trans::No, OH, H, int(R - r0), Real(1), dgh + r0 * OH, OH, h_prev + r0 * H, H, beta_hh,
         dw_hh + int64_t(S) * H, H);
  Real* db_ih = params.grad(w.b_ih);
  Real* db_hh = params.grad(w.b_hh);
  // the sequences' sums, added in order (each into the same row: ldd 0)
  add_rows(B, GH, bias_sums.data(), sums_width, db_ih, 0);
  add_rows(B, S, bias_sums.data(), sums_width, db_hh, 0);
  if (OH > 0) add_rows(B, OH, bias_sums.data() + GH, sums_width, db_hh + S, 0);
}

// Dispatches a call templated on the cell to the configured cell.
template <typename F>
void with_cell(CellKind cell, F&& f) {
  switch (cell) {
    case CellKind::RnnTanh: return f(SimpleCell<false>{});
    case CellKind::RnnRelu: return f(SimpleCell<true>{});
    case CellKind::Lstm: return f(LstmCell{});
    case CellKind::Gru: return f(GruCell{});
  }
}

}  // namespace

template <typename Real>
Recurrent<Real>::Recurrent(const RecurrentConfig& config, ParamStore<Real>& params, const std::string& prefix)
    : config_(config) {
  require(config.input_size > 0, "recurrent layer needs a positive input size, got " +
                                     std::to_string(config.input_size));
  require(config.hidden_size > 0, "recurrent layer needs a positive hidden size, got " +
                                      std::to_string(config.hidden_size));
  require(config.num_layers >= 1, "recurrent layer needs at least 1 layer, got " +
                                      std::to_string(config.num_layers));
  require(config.dropout >= 0.0 && config.dropout < 1.0,
          "recurrent dropout must lie in [0, 1), got " + std::to_string(config.dropout));
  const int G = gate_count(config.cell), H = config.hidden_size, D = config.directions();
  for (int l = 0; l < config.num_layers; ++l) {
    const int I = l == 0 ? config.input_size : D * H;
    for (int d = 0; d < D; ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      RecurrentWeights w;
      w.w_ih = params.add(prefix + ".weight_ih" + suffix, {G * H, I});
      w.w_hh = params.add(prefix + ".weight_hh" + suffix, {G * H, H});
      w.b_ih = params.add(prefix + ".bias_ih" + suffix, {G * H});
      w.b_hh = params.add(prefix + ".bias_hh" + suffix, {G * H});
      weights_.push_back(w);
    }
  }
}

template <typename Real>
void Recurrent<Real>::init(ParamStore<Real>& params, Rng& rng) const {
  const double bound = 1.0 / std::sqrt(double(config_.hidden_size));
  for (const RecurrentWeights& w : weights_)
    for (int idx : {w.w_ih, w.w_hh, w.b_ih, w.b_hh}) {
      Real* v = params.value(idx);
      for (size_t i = 0; i < params.info(idx).size; ++i) v[i] = static_cast<Real>(rng.uniform(-bound, bound));
    }
}

template <typename Real>
void Recurrent<Real>::forward(const ParamStore<Real>& params, const Real* x, int T, int B, const int* lengths,
                              const Real* h0, const Real* c0, Real* y, Real* hn, Real* cn,
                              RecurrentCache<Real>& cache, bool training, Rng* rng) const {
  const int H = config_.hidden_size, D = config_.directions(), L = config_.num_layers;
  const int64_t TB = int64_t(T) * B, BH = int64_t(B) * H;
  require(T >= 0 && B >= 0,
          [&] { return "negative batch dimensions T=" + std::to_string(T) + " B=" + std::to_string(B); });
  for (int b = 0; b < B; ++b)
    require(lengths[b] >= 0 && lengths[b] <= T, [&] {
      return "sequence " + std::to_string(b) + " has length " + std::to_string(lengths[b]) + ", outside [0, " +
             std::to_string(T) + "]";
    });
  const bool use_dropout = training && config_.dropout > 0.0 && L > 1;
  require(!use_dropout || rng, "recurrent dropout in training needs a random generator");

  cache.T = T, cache.B = B;
  cache.lengths.assign(lengths, lengths + B);
  int64_t valid = 0;
  for (int b = 0; b < B; ++b) valid += lengths[b];
  cache.live_rows.clear();
  cache.step_start.clear();
  if (valid < TB) {
    cache.live_rows.reserve(size_t(valid));
    cache.step_start.reserve(size_t(T) + 1);
    for (int t = 0; t < T; ++t) {
      cache.step_start.push_back(int64_t(cache.live_rows.size()));
      for (int b = 0; b < B; ++b)
        if (t < lengths[b]) cache.live_rows.push_back(int64_t(t) * B + b);
    }
    cache.step_start.push_back(int64_t(cache.live_rows.size()));
  }
  const std::vector<int64_t>& live = cache.live_rows;
  const int64_t R = live.empty() ? TB : int64_t(live.size());
  cache.dirs.resize(size_t(L) * D);
  cache.dropout_masks.resize(L);
  for (auto& m : cache.dropout_masks) m.clear();

  // Layer l < L-1 writes cache.layer_out[l % 2] (T*B, D*H), which layer l+1 reads; the last writes y.
  for (int l = 0; l < L; ++l) {
    const int I = l == 0 ? config_.input_size : D * H;
    Real* input = l == 0 ? nullptr : cache.layer_out[(l - 1) % 2].data();
    if (l < L - 1) cache.layer_out[l % 2].resize(TB * D * H);
    Real* out = l == L - 1 ? y : cache.layer_out[l % 2].data();
    if (l > 0 && use_dropout)  // in place on the previous layer's output, which nothing else reads
      dropout_forward(input, TB * I, config_.dropout, *rng, cache.dropout_masks[l]);
    // With two threads the two directions run side by side, one on each thread (each with all of the
    // batch: larger per-step products, no hand-over inside the loop); otherwise one after the other,
    // each over batch slices on every thread.
    const bool side_by_side = directions_side_by_side(D, T, B, gate_count(config_.cell) * H, I + H);
    if (D == 2) cache.y_rev.resize(TB * H);
    auto run_direction = [&](int d) {
      auto& dc = cache.dirs[size_t(l) * D + d];
      const Real* in = l == 0 ? x : input;
      // The input this direction reads. A copy is kept for backward (the next layer's output or dropout
      // may overwrite `in`): every row, time-reversed for d = 1, or with padding the valid rows only. An
      // inference cache reads `in` where it lies when it can: every step valid, and for d = 1 only when
      // the input is projected step by step (then read backwards).
      const int G = gate_count(config_.cell);
      const bool per_step = input_per_step<Real>(T, T > 0 ? R / T : B, G * H, I);
      const Real* xs = nullptr;
      int64_t x_step = int64_t(B) * I;
      if (cache.inference && live.empty() && (d == 0 || per_step)) {
        xs = d == 0 ? in : in + (TB - B) * I;
        if (d == 1) x_step = -x_step;
        dc.x.clear();
      } else {
        dc.x.resize(R * I);
        if (live.empty() && d == 0) {
          parallel_slices(int(TB), 256, [&](int r0, int r1) {
            std::copy_n(in + int64_t(r0) * I, int64_t(r1 - r0) * I, dc.x.data() + int64_t(r0) * I);
          });
        } else if (live.empty()) {
          reverse_in_lengths(in, I, dc.x.data(), I, T, B, I, lengths);
        } else {  // the valid rows only; the reverse direction reads row (t, b) from step len_b - 1 - t
          parallel_slices(int(R), 256, [&](int k0, int k1) {
            for (int64_t k = k0; k < k1; ++k) {
              const int64_t r = live[size_t(k)], t = r / B, b = r % B;
              const int64_t src = d == 0 ? r : (lengths[b] - 1 - t) * B + b;
              std::copy_n(in + src * I, I, dc.x.data() + k * I);
            }
          });
        }
        xs = dc.x.data();
      }
      const RecurrentWeights& w = weights_[size_t(l) * D + d];
      const Real* h0_ld = h0 ? h0 + int64_t(l * D + d) * BH : nullptr;
      const Real* c0_ld = c0 ? c0 + int64_t(l * D + d) * BH : nullptr;
      // The forward direction writes its half of the output rows in place; the reverse one writes
      // time-reversed rows to y_rev, put back in order after.
      Real* y_d = d == 0 ? out : cache.y_rev.data();
      const int64_t ld = d == 0 ? int64_t(D) * H : H;
      with_cell(config_.cell, [&](auto cell) {
        direction_forward<decltype(cell)>(params, w, I, H, T, B, lengths, h0_ld, c0_ld, dc,
                                          cache.scratch[side_by_side ? d : 0], y_d, ld, live, cache.step_start, xs,
                                          x_step, per_step, !cache.inference);
      });
      if (hn) std::copy_n(dc.h.data() + dc.final_state, BH, hn + int64_t(l * D + d) * BH);
      if (cn && config_.cell == CellKind::Lstm)
        std::copy_n(dc.c.data() + dc.final_state, BH, cn + int64_t(l * D + d) * BH);
    };
    if (side_by_side) {
      parallel_slices(2, 1, [&](int d0, int d1) {
        for (int d = d0; d < d1; ++d) run_direction(d);
      });
    } else {
      for (int d = 0; d < D; ++d) run_direction(d);
    }
    if (D == 2) reverse_in_lengths(cache.y_rev.data(), H, out + H, int64_t(D) * H, T, B, H, lengths);
  }
}

template <typename Real>
void Recurrent<Real>::backward(ParamStore<Real>& params, const RecurrentCache<Real>& cache, const Real* dy,
                               const Real* dhn, const Real* dcn, Real* dx, Real* dh0, Real* dc0) const {
  const int H = config_.hidden_size, D = config_.directions(), L = config_.num_layers;
  const int T = cache.T, B = cache.B;
  const int64_t TB = int64_t(T) * B, BH = int64_t(B) * H;
  const int* lengths = cache.lengths.data();
  require(cache.dirs.size() == size_t(L) * D, "recurrent backward called without a matching forward");
  require(!cache.inference, "recurrent backward needs a forward pass that kept its activations (an inference "
                            "cache keeps none)");
  const bool lstm = config_.cell == CellKind::Lstm;
  auto& scratch = cache.scratch;

  // dout: the gradient of layer l's output (T*B, D*H); null means zero (only possible at the top).
  // Layer l > 0 writes its input gradient to scratch[0].dlayer[l % 2], which layer l-1 reads as dout.
  const Real* dout = dy;
  for (int l = L - 1; l >= 0; --l) {
    const int I = l == 0 ? config_.input_size : D * H;
    Real* dinput = nullptr;  // (T*B, I), accumulated over the directions
    bool dinput_empty = false;
    if (l > 0) {
      scratch[0].dlayer[l % 2].resize(TB * I);
      dinput = scratch[0].dlayer[l % 2].data();
      dinput_empty = true;
    } else {
      dinput = dx;  // the caller's: += semantics
    }
    // As in forward: with two threads the two directions' time loops run side by side.
    const bool side_by_side = directions_side_by_side(D, T, B, gate_count(config_.cell) * H, I + H);
    auto run_direction = [&](int d) {
      const auto& dc = cache.dirs[size_t(l) * D + d];
      const RecurrentWeights& w = weights_[size_t(l) * D + d];
      auto& sc = scratch[side_by_side ? d : 0];
      const Real* dy_d = nullptr;
      int64_t ld = int64_t(D) * H;
      if (dout && d == 0) dy_d = dout;
      if (dout && d == 1) {
        sc.dy_rev.resize(TB * H);
        reverse_in_lengths(dout + H, int64_t(D) * H, sc.dy_rev.data(), H, T, B, H, lengths);
        dy_d = sc.dy_rev.data(), ld = H;
      }
      const int64_t state = int64_t(l * D + d) * BH;
      with_cell(config_.cell, [&](auto cell) {
        direction_backward<decltype(cell)>(params, w, I, H, T, B, lengths, dc, dy_d, ld, dhn ? dhn + state : nullptr,
                                           dcn && lstm ? dcn + state : nullptr, dh0 ? dh0 + state : nullptr,
                                           dc0 && lstm ? dc0 + state : nullptr, sc.dgi, sc.dgh, sc.w_hh, sc.w_ih,
                                           cache.live_rows, cache.step_start, sc.h_rows, sc.bias_sums);
      });
    };
    // dinput (T*B, I) += dgi W_ih, back in input order for the reverse direction
    auto add_input_gradient = [&](int d) {
      const RecurrentWeights& w = weights_[size_t(l) * D + d];
      auto& sc = scratch[side_by_side ? d : 0];
      const int GH = gate_count(config_.cell) * H;
      const Real* w_ih = std::as_const(params).value(w.w_ih);
      if (!cache.live_rows.empty()) {
        // dgi holds the valid rows only: their input gradients, added at their places (padded rows
        // get none).
        const std::vector<int64_t>& live = cache.live_rows;
        const int64_t R = int64_t(live.size());
        sc.dx_rev.resize(R * I);
        gemm(Trans::No, Trans::No, int(R), I, GH, Real(1), sc.dgi.data(), GH, w_ih, I, Real(0), sc.dx_rev.data(), I);
        if (dinput_empty)  // the padded rows get zeros, the valid ones their gradient below
          for (int t = 0; t < T; ++t)
            for (int b = 0; b < B; ++b)
              if (t >= lengths[b]) std::fill_n(dinput + (int64_t(t) * B + b) * I, I, Real(0));
        for (int64_t k = 0; k < R; ++k) {
          const int64_t r = live[size_t(k)], t = r / B, b = r % B;
          Real* out = dinput + (d == 0 ? r : (cache.lengths[size_t(b)] - 1 - t) * B + b) * I;
          const Real* g = sc.dx_rev.data() + k * I;
          if (dinput_empty) std::copy_n(g, I, out);
          else
            for (int j = 0; j < I; ++j) out[j] += g[j];
        }
      } else if (d == 0) {
        gemm(Trans::No, Trans::No, int(TB), I, GH, Real(1), sc.dgi.data(), GH, w_ih, I,
             dinput_empty ? Real(0) : Real(1), dinput, I);
      } else {
        sc.dx_rev.resize(TB * I);
        gemm(Trans::No, Trans::No, int(TB), I, GH, Real(1), sc.dgi.data(), GH, w_ih, I, Real(0), sc.dx_rev.data(),
             I);
        if (dinput_empty) std::fill_n(dinput, TB * I, Real(0));
        add_reversed(sc.dx_rev.data(), dinput, T, B, I, lengths);
      }
      dinput_empty = false;
    };
    if (side_by_side) {
      parallel_slices(2, 1, [&](int d0, int d1) {
        for (int d = d0; d < d1; ++d) run_direction(d);
      });
      if (dinput)
        for (int d = 0; d < D; ++d) add_input_gradient(d);
    } else {
      for (int d = 0; d < D; ++d) {
        run_direction(d);
        if (dinput) add_input_gradient(d);
      }
    }
    if (l > 0) {
      if (!cache.dropout_masks[l].empty()) dropout_backward(dinput, cache.dropout_masks[l]);
      dout = dinput;
    }
  }
}

template <typename Real>
void gather_last(const Real* y, int T, int B, int D, int H, const int* lengths, Real* last) {
  const int W = D * H;
  for (int b = 0; b < B; ++b) {
    Real* out = last + int64_t(b) * W;
    if (lengths[b] <= 0 || T == 0) {
      std::fill_n(out, W, Real(0));
      continue;
    }
    const int64_t fwd = (int64_t(lengths[b] - 1) * B + b) * W, rev = int64_t(b) * W;
    std::copy_n(y + fwd, H, out);
    if (D == 2) std::copy_n(y + rev + H, H, out + H);
  }
}

template <typename Real>
void scatter_last(const Real* dlast, int T, int B, int D, int H, const int* lengths, Real* dy) {
  const int W = D * H;
  for (int b = 0; b < B; ++b) {
    if (lengths[b] <= 0 || T == 0) continue;
    const Real* g = dlast + int64_t(b) * W;
    Real* fwd = dy + (int64_t(lengths[b] - 1) * B + b) * W;
    for (int j = 0; j < H; ++j) fwd[j] += g[j];
    if (D == 2) {
      Real* rev = dy + int64_t(b) * W + H;
      for (int j = 0; j < H; ++j) rev[j] += g[H + j];
    }
  }
}

template class Recurrent<float>;
template class Recurrent<double>;
template void gather_last(const float*, int, int, int, int, const int*, float*);
template void gather_last(const double*, int, int, int, int, const int*, double*);
template void scatter_last(const float*, int, int, int, int, const int*, float*);
template void scatter_last(const double*, int, int, int, int, const int*, double*);

}  // namespace rnnkit
