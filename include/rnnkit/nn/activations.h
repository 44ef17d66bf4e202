// Scalar activations shared by the cells and heads.
#pragma once

#include <cmath>

namespace rnnkit {

template <typename Real>
inline Real sigmoid(Real x) {
  // Stable on both tails: exp of a non-positive number only.
  if (x >= Real(0)) return Real(1) / (Real(1) + std::exp(-x));
  const Real e = std::exp(x);
  return e / (Real(1) + e);
}

}  // namespace rnnkit
