// The element-wise gate arithmetic of one sequence at one step, vectorised with Highway and dispatched
// at run time to the best instruction set of the machine (AVX-512, AVX2, SSE4, ... or scalar).
// Internal to rnnkit_nn: the cells in recurrent.cpp call these, nothing else does.
//
// Every pointer addresses H (or G*H for gate rows) contiguous values; rows never alias each other.
// The functions are defined for float and double.
//
// The forward kernels run over `rows` consecutive sequences of one step: gate rows (xp, hp, act) are
// G*H values apart, state rows (c, h, h_next, c_next, aux) H apart, output rows (y) ldy apart. hp may
// be null when xp already holds the whole pre-activation (input projection, recurrent product and
// both biases); act, aux and y may be null (inference keeps no activations). act may be xp (in place).
#pragma once

#include <cstdint>

namespace rnnkit::gates {

// RNN: h' = f(xp + hp), f = tanh or relu; y = h'.
template <typename Real>
void rnn_forward(int rows, int H, bool relu, const Real* xp, const Real* hp, Real* h_next, Real* y, int64_t ldy);
// The backward kernels run over `rows` consecutive sequences too, laid out as in forward; dh is the
// state gradient from the step after (and through W_hh), dy (rows ldy apart, or null) the gradient
// of this step's output: the kernels use dh + dy.
//
// da = (dh + dy) * f'(a) from h' (f' = 1 - h'^2 for tanh, [h' > 0] for relu).
template <typename Real>
void rnn_backward(int rows, int H, bool relu, const Real* h_next, const Real* dh, const Real* dy, int64_t ldy,
                  Real* da);

// LSTM: act = (i, f, g, o) (4H); c' = f c + i g; h' = o tanh(c'); y = h'.
template <typename Real>
void lstm_forward(int rows, int H, const Real* xp, const Real* hp, const Real* c, Real* h_next, Real* c_next,
                  Real* act, Real* y, int64_t ldy);
// From dh' (dh + dy) and dc' (in dc, replaced by dc for the previous step): the pre-activation
// gradient dg (4H).
template <typename Real>
void lstm_backward(int rows, int H, const Real* act, const Real* c, const Real* c_next, const Real* dh, const Real* dy,
                   int64_t ldy, Real* dc, Real* dg);

// GRU: act = (r, z, n) (3H); aux = W_hn h + b_hn (the hp slice the reset gate scales); y = h'. hp is
// required for its n part; with rz_folded its r and z parts are not read (xp holds their whole sums).
template <typename Real>
void gru_forward(int rows, int H, const Real* xp, const Real* hp, bool rz_folded, const Real* h, Real* h_next,
                 Real* act, Real* aux, Real* y, int64_t ldy);
// dgi (3H) for W_ih / b_ih / x and for the r and z rows of W_hh / b_hh; dgh (H a row) for the n rows of
// W_hh / b_hh (the reset gate scales that part); dh_direct = dh' z (the path around W_hh).
template <typename Real>
void gru_backward(int rows, int H, const Real* act, const Real* aux, const Real* h, const Real* dh, const Real* dy,
                  int64_t ldy, Real* dgi, Real* dgh, Real* dh_direct);

}  // namespace rnnkit::gates
