// Gradient clipping over the trainable parameters, as torch.nn.utils.clip_grad_norm_ / _value_.
#pragma once

#include "rnnkit/core/params.h"

namespace rnnkit {

// Scales every trainable gradient by max_norm / (norm + 1e-6) when that is below 1.
// Returns the global L2 norm before clipping.
template <typename Real>
double clip_grad_norm(ParamStore<Real>& params, double max_norm);
// The same with the norm already taken (grad_norm of these gradients): one pass over them fewer.
template <typename Real>
double clip_grad_norm(ParamStore<Real>& params, double max_norm, double norm);

// The global L2 norm of the trainable gradients.
template <typename Real>
double grad_norm(const ParamStore<Real>& params);

// Clamps every trainable gradient element to [-limit, limit].
template <typename Real>
void clip_grad_value(ParamStore<Real>& params, double limit);

}  // namespace rnnkit
