// Dropout (inverted, like torch.nn.Dropout): in training, zero each element with probability p and
// scale the rest by 1/(1-p); at inference, the identity.
#pragma once

#include <vector>

#include "rnnkit/core/rng.h"

namespace rnnkit {

// Draws mask (N) with values 0 or 1/(1-p) and applies it in place: x *= mask.
template <typename Real>
void dropout_forward(Real* x, int64_t N, double p, Rng& rng, std::vector<Real>& mask);

// dx = dy * mask, in place.
template <typename Real>
void dropout_backward(Real* dx, const std::vector<Real>& mask);

}  // namespace rnnkit
