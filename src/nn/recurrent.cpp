// Recurrent layers: the cells' step equations and the one time loop (forward and BPTT) they share.
#include "rnnkit/nn/recurrent.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "rnnkit/core/error.h"
#include "rnnkit/core/gemm.h"
#include "rnnkit/nn/dropout.h"
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
// Cells. Each states G and two row-wise functions over one sequence b at one step, whose arithmetic is
// the vectorised kernels of gates.h:
//   forward(xp, hp, h, c, h', c', act, aux): xp = W_ih x + b_ih, hp = W_hh h + b_hh, both (G*H)
//   backward(...): from dh' (and dc') gives the pre-activation gradients dgi (for W_ih, b_ih, x) and
//   dgh (for W_hh, b_hh, h), the direct part of dh (not through W_hh), and dc for the previous step.
// kSharedGrad: dgh == dgi (every cell but the GRU), so backward writes dgi only and one buffer serves.
// ---------------------------------------------------------------------------------------------------

template <bool kRelu>
struct SimpleCell {
  static constexpr int kGates = 1;
  static constexpr bool kHasCell = false;
  static constexpr bool kSharedGrad = true;
  static constexpr bool kStoresAct = false;  // backward reads h' instead

  template <typename Real>
  static void forward(int H, const Real* xp, const Real* hp, const Real*, const Real*, Real* h_next, Real*, Real*,
                      Real*) {
    gates::rnn_forward(H, kRelu, xp, hp, h_next);
  }

  template <typename Real>
  static void backward(int H, const Real*, const Real*, const Real*, const Real*, const Real*, const Real* h_next,
                       const Real* dh, Real*, Real* dgi, Real*, Real* dh_direct) {
    gates::rnn_backward(H, kRelu, h_next, dh, dgi);
    std::fill_n(dh_direct, H, Real(0));
  }
};

struct LstmCell {
  static constexpr int kGates = 4;
  static constexpr bool kHasCell = true;
  static constexpr bool kSharedGrad = true;
  static constexpr bool kStoresAct = true;

  template <typename Real>
  static void forward(int H, const Real* xp, const Real* hp, const Real*, const Real* c, Real* h_next,
                      Real* c_next, Real* act, Real*) {
    gates::lstm_forward(H, xp, hp, c, h_next, c_next, act);
  }

  template <typename Real>
  static void backward(int H, const Real* act, const Real*, const Real*, const Real* c, const Real* c_next,
                       const Real*, const Real* dh, Real* dc, Real* dgi, Real*, Real* dh_direct) {
    gates::lstm_backward(H, act, c, c_next, dh, dc, dgi);
    std::fill_n(dh_direct, H, Real(0));
  }
};

struct GruCell {
  static constexpr int kGates = 3;
  static constexpr bool kHasCell = false;
  static constexpr bool kSharedGrad = false;
  static constexpr bool kStoresAct = true;

  template <typename Real>
  static void forward(int H, const Real* xp, const Real* hp, const Real* h, const Real*, Real* h_next,
                      Real*, Real* act, Real* aux) {
    gates::gru_forward(H, xp, hp, h, h_next, act, aux);
  }

  template <typename Real>
  static void backward(int H, const Real* act, const Real* aux, const Real* h, const Real*, const Real*,
                       const Real*, const Real* dh, Real*, Real* dgi, Real* dgh, Real* dh_direct) {
    gates::gru_backward(H, act, aux, h, dh, dgi, dgh, dh_direct);
  }
};

template <typename Real>
void add_bias_rows(Real* y, int64_t rows, int width, const Real* bias) {
  for (int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < width; ++k) y[r * width + k] += bias[k];
}

template <typename Real>
void add_column_sums(const Real* x, int64_t rows, int width, Real* sums) {
  for (int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < width; ++k) sums[k] += x[r * width + k];
}

// dst[t, b] = src[len_b - 1 - t, b] for t < len_b, src[t, b] otherwise. Its own inverse.
template <typename Real>
void reverse_in_lengths(const Real* src, Real* dst, int T, int B, int W, const int* lengths) {
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b) {
      const int s = t < lengths[b] ? lengths[b] - 1 - t : t;
      std::copy_n(src + (int64_t(s) * B + b) * W, W, dst + (int64_t(t) * B + b) * W);
    }
}

struct DirectionWeights {
  int I, H;
};

// One direction of one layer, forward over t = 0..T-1. y (T*B, H) gets h' on valid steps, 0 elsewhere.
template <typename Cell, typename Real>
void direction_forward(const ParamStore<Real>& params, int w_ih, int w_hh, int b_ih, int b_hh, int I,
                       int H, int T, int B, const int* lengths, const Real* h0, const Real* c0,
                       typename RecurrentCache<Real>::Direction& cache, Real* y) {
  constexpr int G = Cell::kGates;
  const int GH = G * H;
  const int64_t TB = int64_t(T) * B;
  const Real* x = cache.x.data();  // (T*B, I)

  // xp (T*B, G*H) = x W_ih^T + b_ih: the input projection of every step in one GEMM.
  std::vector<Real> xp(TB * GH);
  gemm(Trans::No, Trans::Yes, int(TB), GH, I, Real(1), x, I, params.value(w_ih), I, Real(0), xp.data(), GH);
  add_bias_rows(xp.data(), TB, GH, params.value(b_ih));

  cache.h.assign((TB + B) * H, Real(0));  // (T+1, B, H)
  if (h0) std::copy_n(h0, int64_t(B) * H, cache.h.data());
  if (Cell::kHasCell) {
    cache.c.assign((TB + B) * H, Real(0));
    if (c0) std::copy_n(c0, int64_t(B) * H, cache.c.data());
  }
  if (Cell::kStoresAct) cache.act.assign(TB * GH, Real(0));
  else cache.act.clear();
  if (std::is_same_v<Cell, GruCell>) cache.aux.assign(TB * H, Real(0));

  std::vector<Real> hp(int64_t(B) * GH);  // (B, G*H)
  const Real* bhh = params.value(b_hh);
  for (int t = 0; t < T; ++t) {
    const Real* h_t = cache.h.data() + int64_t(t) * B * H;
    Real* h_next = cache.h.data() + int64_t(t + 1) * B * H;
    // hp (B, G*H) = h_t W_hh^T + b_hh
    gemm(Trans::No, Trans::Yes, B, GH, H, Real(1), h_t, H, params.value(w_hh), H, Real(0), hp.data(), GH);
    add_bias_rows(hp.data(), B, GH, bhh);
    for (int b = 0; b < B; ++b) {
      const int64_t row = int64_t(t) * B + b;
      const Real* c_t = Cell::kHasCell ? cache.c.data() + (int64_t(t) * B + b) * H : nullptr;
      Real* c_next = Cell::kHasCell ? cache.c.data() + (int64_t(t + 1) * B + b) * H : nullptr;
      if (t < lengths[b]) {
        Cell::forward(H, xp.data() + row * GH, hp.data() + int64_t(b) * GH, h_t + int64_t(b) * H, c_t,
                      h_next + int64_t(b) * H, c_next, Cell::kStoresAct ? cache.act.data() + row * GH : nullptr,
                      cache.aux.empty() ? nullptr : cache.aux.data() + row * H);
        std::copy_n(h_next + int64_t(b) * H, H, y + row * H);
      } else {  // padded step: the state passes through unchanged
        std::copy_n(h_t + int64_t(b) * H, H, h_next + int64_t(b) * H);
        if (Cell::kHasCell) std::copy_n(c_t, H, c_next);
        std::fill_n(y + row * H, H, Real(0));
      }
    }
  }
}

// BPTT over one direction, t = T-1..0, then the weight gradients for all steps in batched GEMMs.
// dy (T*B, H) or null; dh_final, dc_final (B, H) or null; dx (T*B, I) +=; dh0, dc0 (B, H) written or null.
template <typename Cell, typename Real>
void direction_backward(ParamStore<Real>& params, int w_ih, int w_hh, int b_ih, int b_hh, int I, int H,
                        int T, int B, const int* lengths,
                        const typename RecurrentCache<Real>::Direction& cache, const Real* dy,
                        const Real* dh_final, const Real* dc_final, Real* dx, Real* dh0, Real* dc0) {
  constexpr int G = Cell::kGates;
  const int GH = G * H;
  const int64_t TB = int64_t(T) * B;

  std::vector<Real> dh(int64_t(B) * H, Real(0)), dh_prev(int64_t(B) * H);  // (B, H)
  std::vector<Real> dc(int64_t(B) * H, Real(0));                             // (B, H)
  if (dh_final) std::copy_n(dh_final, dh.size(), dh.data());
  if (dc_final && Cell::kHasCell) std::copy_n(dc_final, dc.size(), dc.data());
  // (T*B, G*H) each; padded rows stay zero. dgh is dgi for the cells whose two gradients agree.
  std::vector<Real> dgi(TB * GH, Real(0)), dgh_own(Cell::kSharedGrad ? 0 : TB * GH, Real(0));
  Real* dgh = Cell::kSharedGrad ? dgi.data() : dgh_own.data();

  for (int t = T - 1; t >= 0; --t) {
    const Real* h_t = cache.h.data() + int64_t(t) * B * H;
    for (int b = 0; b < B; ++b) {
      const int64_t row = int64_t(t) * B + b;
      Real* dh_b = dh.data() + int64_t(b) * H;
      if (t < lengths[b]) {
        if (dy)
          for (int j = 0; j < H; ++j) dh_b[j] += dy[row * H + j];
        Cell::backward(H, Cell::kStoresAct ? cache.act.data() + row * GH : nullptr,
                       cache.aux.empty() ? nullptr : cache.aux.data() + row * H, h_t + int64_t(b) * H,
                       Cell::kHasCell ? cache.c.data() + row * H : nullptr,
                       Cell::kHasCell ? cache.c.data() + (row + B) * H : nullptr, cache.h.data() + (row + B) * H,
                       dh_b, dc.data() + int64_t(b) * H, dgi.data() + row * GH, dgh + row * GH,
                       dh_prev.data() + int64_t(b) * H);
      } else {  // padded step: the gradient passes through, the gates get none
        std::copy_n(dh_b, H, dh_prev.data() + int64_t(b) * H);
      }
    }
    // dh_prev (B, H) += dgh_t (B, G*H) W_hh (G*H, H)
    gemm(Trans::No, Trans::No, B, H, GH, Real(1), dgh + int64_t(t) * B * GH, GH, params.value(w_hh), H,
         Real(1), dh_prev.data(), H);
    dh.swap(dh_prev);
  }
  if (dh0) std::copy_n(dh.data(), dh.size(), dh0);
  if (dc0 && Cell::kHasCell) std::copy_n(dc.data(), dc.size(), dc0);

  // dW_ih (G*H, I) += dgi^T x;  dW_hh (G*H, H) += dgh^T h_{0..T-1};  biases += column sums
  gemm(Trans::Yes, Trans::No, GH, I, int(TB), Real(1), dgi.data(), GH, cache.x.data(), I, Real(1),
       params.grad(w_ih), I);
  gemm(Trans::Yes, Trans::No, GH, H, int(TB), Real(1), dgh, GH, cache.h.data(), H, Real(1),
       params.grad(w_hh), H);
  add_column_sums(dgi.data(), TB, GH, params.grad(b_ih));
  add_column_sums(dgh, TB, GH, params.grad(b_hh));
  // dx (T*B, I) += dgi W_ih
  if (dx) gemm(Trans::No, Trans::No, int(TB), I, GH, Real(1), dgi.data(), GH, params.value(w_ih), I, Real(1), dx, I);
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
      Weights w;
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
  for (const Weights& w : weights_)
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
  require(T >= 0 && B >= 0, "negative batch dimensions T=" + std::to_string(T) + " B=" + std::to_string(B));
  for (int b = 0; b < B; ++b)
    require(lengths[b] >= 0 && lengths[b] <= T, "sequence " + std::to_string(b) + " has length " +
                                                    std::to_string(lengths[b]) + ", outside [0, " +
                                                    std::to_string(T) + "]");
  const bool use_dropout = training && config_.dropout > 0.0 && L > 1;
  require(!use_dropout || rng, "recurrent dropout in training needs a random generator");

  cache.T = T, cache.B = B;
  cache.lengths.assign(lengths, lengths + B);
  cache.dirs.resize(size_t(L) * D);
  cache.dropout_masks.assign(L, {});

  // Layer l reads `layer_in` and writes `layer_out` (the last layer writes y); they swap per layer.
  std::vector<Real> layer_in, layer_out, y_dir(TB * H), y_rev(TB * H);  // (T*B, D*H), (T*B, H)
  if (L > 1) layer_out.resize(TB * D * H);
  for (int l = 0; l < L; ++l) {
    const int I = l == 0 ? config_.input_size : D * H;
    if (l > 0) layer_in.swap(layer_out);
    if (l > 0 && l < L - 1) layer_out.resize(TB * D * H);
    const Real* input = l == 0 ? x : layer_in.data();
    Real* out = l == L - 1 ? y : layer_out.data();
    if (l > 0 && use_dropout) {  // in place on layer_in, which nothing else reads
      dropout_forward(layer_in.data(), TB * I, config_.dropout, *rng, cache.dropout_masks[l]);
    }
    for (int d = 0; d < D; ++d) {
      auto& dc = cache.dirs[size_t(l) * D + d];
      dc.x.resize(TB * I);
      if (d == 0) std::copy_n(input, TB * I, dc.x.data());
      else reverse_in_lengths(input, dc.x.data(), T, B, I, lengths);
      const Weights& w = weights_[size_t(l) * D + d];
      const Real* h0_ld = h0 ? h0 + int64_t(l * D + d) * BH : nullptr;
      const Real* c0_ld = c0 ? c0 + int64_t(l * D + d) * BH : nullptr;
      with_cell(config_.cell, [&](auto cell) {
        direction_forward<decltype(cell)>(params, w.w_ih, w.w_hh, w.b_ih, w.b_hh, I, H, T, B, lengths, h0_ld,
                                          c0_ld, dc, y_dir.data());
      });
      const Real* y_src = y_dir.data();
      if (d == 1) {
        reverse_in_lengths(y_dir.data(), y_rev.data(), T, B, H, lengths);
        y_src = y_rev.data();
      }
      for (int64_t r = 0; r < TB; ++r) std::copy_n(y_src + r * H, H, out + r * D * H + int64_t(d) * H);
      if (hn) std::copy_n(dc.h.data() + TB * H, BH, hn + int64_t(l * D + d) * BH);
      if (cn && config_.cell == CellKind::Lstm) std::copy_n(dc.c.data() + TB * H, BH, cn + int64_t(l * D + d) * BH);
    }
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
  const bool lstm = config_.cell == CellKind::Lstm;

  // dlayer: the gradient of layer l's output (T*B, D*H); null means zero (only possible at the top).
  std::vector<Real> dlayer, dinput, dy_dir(TB * H), dy_rev(TB * H), dx_dir, dx_rev;
  const Real* dout = dy;
  for (int l = L - 1; l >= 0; --l) {
    const int I = l == 0 ? config_.input_size : D * H;
    const bool want_dx = l > 0 || dx != nullptr;
    if (want_dx) {
      dinput.assign(TB * I, Real(0));
      dx_dir.resize(TB * I);
      if (D == 2) dx_rev.resize(TB * I);
    }
    for (int d = 0; d < D; ++d) {
      const auto& dc = cache.dirs[size_t(l) * D + d];
      const Weights& w = weights_[size_t(l) * D + d];
      const Real* dy_src = nullptr;
      if (dout) {
        for (int64_t r = 0; r < TB; ++r) std::copy_n(dout + r * D * H + int64_t(d) * H, H, dy_dir.data() + r * H);
        dy_src = dy_dir.data();
        if (d == 1) {
          reverse_in_lengths(dy_dir.data(), dy_rev.data(), T, B, H, lengths);
          dy_src = dy_rev.data();
        }
      }
      const int64_t state = int64_t(l * D + d) * BH;
      if (want_dx) std::fill(dx_dir.begin(), dx_dir.end(), Real(0));
      with_cell(config_.cell, [&](auto cell) {
        direction_backward<decltype(cell)>(params, w.w_ih, w.w_hh, w.b_ih, w.b_hh, I, H, T, B, lengths, dc, dy_src,
                                           dhn ? dhn + state : nullptr, dcn && lstm ? dcn + state : nullptr,
                                           want_dx ? dx_dir.data() : nullptr, dh0 ? dh0 + state : nullptr,
                                           dc0 && lstm ? dc0 + state : nullptr);
      });
      if (want_dx) {
        const Real* src = dx_dir.data();
        if (d == 1) {
          reverse_in_lengths(dx_dir.data(), dx_rev.data(), T, B, I, lengths);
          src = dx_rev.data();
        }
        for (int64_t k = 0; k < TB * I; ++k) dinput[k] += src[k];
      }
    }
    if (l > 0) {
      if (!cache.dropout_masks[l].empty()) dropout_backward(dinput.data(), cache.dropout_masks[l]);
      dlayer.swap(dinput);
      dout = dlayer.data();
    } else if (dx) {
      for (int64_t k = 0; k < TB * I; ++k) dx[k] += dinput[k];
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
