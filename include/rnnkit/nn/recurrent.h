// Recurrent: stacked, optionally bidirectional RNN / LSTM / GRU layers with PyTorch's weights and
// equations, over time-major padded batches with per-sequence lengths (packed-sequence semantics).
//
//   RNN : h' = f(W_ih x + b_ih + W_hh h + b_hh),             f = tanh or relu
//   LSTM: i,f,g,o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh) split in 4
//         c' = f * c + i * g;   h' = o * tanh(c')
//   GRU : r,z = sigma of (W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
//         n = tanh(W_in x + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h
//
// Shapes (time-major, like PyTorch's batch_first=False): x (T, B, I), y (T, B, D*H),
// states (L*D, B, H) with index l*D + d. Padded steps (t >= length) change no state, output zeros
// and get no gradient; the reverse direction runs over each sequence's own valid part.
#pragma once

#include <string>
#include <vector>

#include "rnnkit/core/aligned.h"

#include "rnnkit/core/packed_gemm.h"
#include "rnnkit/core/params.h"
#include "rnnkit/core/rng.h"

namespace rnnkit {

enum class CellKind { RnnTanh, RnnRelu, Lstm, Gru };

int gate_count(CellKind cell);             // G: 1, 1, 4, 3
const char* cell_name(CellKind cell);      // "rnn_tanh", "rnn_relu", "lstm", "gru"
CellKind parse_cell(const std::string& name);  // throws Error naming the accepted values

struct RecurrentConfig {
  CellKind cell = CellKind::Lstm;
  int input_size = 0;    // I
  int hidden_size = 0;   // H
  int num_layers = 1;    // L
  bool bidirectional = false;
  double dropout = 0.0;  // on the outputs of every layer but the last, in training
  int directions() const { return bidirectional ? 2 : 1; }  // D
};

// The parameter indices of one layer and direction.
struct RecurrentWeights {
  int w_ih, w_hh, b_ih, b_hh;
};

// What backward needs from forward. The caller owns it, so one model serves many callers.
template <typename Real>
struct RecurrentCache {
  struct Direction {
    AlignedVector<Real> x;    // (R, I_l) the input this direction read (time-reversed for d = 1), valid steps only;
                            // empty after an inference pass that read the input in place
    AlignedVector<Real> h;    // (T+1, B, H) h_0 .. h_T; after an inference pass, maybe two steps only
    AlignedVector<Real> c;    // (T+1, B, H) LSTM cell states, as h
    AlignedVector<Real> act;  // (T, B, G*H) gate activations (RNN: unused pre-activations); after an
                            // inference pass, pre-activations only, maybe of one step only
    int64_t final_state = 0;  // where h_T (and c_T) start in h (and c)
    // h_0 was zero (no initial state given): the first step ran without a recurrent product, and
    // backward leaves out the first step's rows from W_hh's gradient (their h_0 terms are all zero).
    bool zero_h0 = false;
    AlignedVector<Real> aux;  // (T, B, H) GRU: W_hn h + b_hn (training only)
    // An inference cache's own W_hh^T and W_ih^T packed for the products, kept from call to call
    // while the parameters' stamp (ParamStore::stamp) and place stay the same. Training packs into
    // the scratch on every call instead: its weights change after every step.
    struct Packed {
      PackedMatrix<Real> m;
      uint64_t stamp = 0;
      const Real* from = nullptr;
    };
    Packed w_hh, w_ih;
  };
  // Set by a caller that never runs backward on this cache (prediction, evaluation, streaming):
  // forward then keeps no activations and reads its input in place where it can; backward refuses it.
  bool inference = false;
  int T = 0, B = 0;
  std::vector<int> lengths;                      // (B)
  // The time-major rows t*B + b of the valid steps (t < lengths[b]), ascending: R of them. The
  // batched GEMMs (input projection, weight and input gradients) run over these rows only, so a
  // padded batch costs its real steps. Empty when every step is valid (R = T*B, no gathering).
  std::vector<int64_t> live_rows;
  // With live_rows: step t's valid rows are live_rows[step_start[t] .. step_start[t + 1]) ((T + 1)
  // values; empty when live_rows is).
  std::vector<int64_t> step_start;
  std::vector<Direction> dirs;                   // (L*D)
  std::vector<std::vector<Real>> dropout_masks;  // [l] (T*B, D*H) on layer l's input, l >= 1

  // Scratch reused from call to call, so that a cache kept across training steps allocates nothing
  // once the sizes settle. Backward takes the cache as const and borrows its part.
  AlignedVector<Real> layer_out[2];  // layers' outputs (T*B, D*H), alternating
  AlignedVector<Real> y_rev;         // the reverse direction's output in its own time order (T*B, H)
  struct Scratch {
    AlignedVector<Real> dgi, dgh, dlayer[2], dy_rev, dx_rev;
    AlignedVector<Real> hp, h_live, hp_live;  // forward: per-step recurrent products, live rows gathered
    AlignedVector<Real> act_live, x_rows;     // forward, padded, input per step: gathered rows, a step's input
    AlignedVector<Real> h_rows;               // backward: h_t of the valid rows, gathered (R, H)
    AlignedVector<Real> bias_sums;            // backward: each batch slice's bias-gradient sums
    std::vector<int> live;
    PackedMatrix<Real> w_hh;  // a direction's W_hh^T (forward) or W_hh (backward), packed per call; W_ih^T
                              // first, for the input projection before the loop
    PackedMatrix<Real> w_ih;  // W_ih^T, packed per call when the input is projected step by step;
                              // backward: the rows of W_hh of the GRU's n gate
    AlignedVector<Real> bias;   // b_ih (+ b_hh for the cells that fold it in), (G*H)
  };
  // One per direction that may run at once: with two threads a bidirectional layer runs its two
  // directions side by side, one on each thread (scratch[1] stays empty otherwise).
  mutable Scratch scratch[2];
};

template <typename Real>
class Recurrent {
 public:
  // Registers, per layer k and direction: "<prefix>.weight_ih_l{k}[_reverse]" (G*H, I_k),
  // "weight_hh" (G*H, H), "bias_ih" (G*H), "bias_hh" (G*H), in PyTorch's state_dict order.
  Recurrent(const RecurrentConfig& config, ParamStore<Real>& params, const std::string& prefix);

  // Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default).
  void init(ParamStore<Real>& params, Rng& rng) const;

  // x (T*B, I); lengths (B) each in [0, T]; h0, c0 (L*D, B, H) or null for zeros (c0: LSTM only).
  // Writes y (T*B, D*H), and hn, cn (L*D, B, H) when not null. rng is needed when training with
  // dropout. The cache is filled for backward (unless cache.inference); it is required.
  void forward(const ParamStore<Real>& params, const Real* x, int T, int B, const int* lengths,
               const Real* h0, const Real* c0, Real* y, Real* hn, Real* cn, RecurrentCache<Real>& cache,
               bool training, Rng* rng) const;

  // dy (T*B, D*H), dhn, dcn (L*D, B, H): any may be null (zero). Adds parameter gradients into
  // params; dx (T*B, I) += input gradient when not null; dh0, dc0 (L*D, B, H) are written when not null.
  void backward(ParamStore<Real>& params, const RecurrentCache<Real>& cache, const Real* dy,
                const Real* dhn, const Real* dcn, Real* dx, Real* dh0, Real* dc0) const;

  const RecurrentConfig& config() const { return config_; }

 private:
  RecurrentConfig config_;
  std::vector<RecurrentWeights> weights_;  // (L*D)
};

// The output of the last valid step of each sequence: for the forward direction y[len-1],
// for the reverse direction y[0] (its final state). y (T*B, D*H) -> last (B, D*H).
template <typename Real>
void gather_last(const Real* y, int T, int B, int D, int H, const int* lengths, Real* last);

// The backward of gather_last: dy (T*B, D*H) += scatter of dlast (B, D*H).
template <typename Real>
void scatter_last(const Real* dlast, int T, int B, int D, int H, const int* lengths, Real* dy);

}  // namespace rnnkit
