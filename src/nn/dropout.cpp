// Dropout masks.
#include "rnnkit/nn/dropout.h"

#include "rnnkit/core/error.h"

namespace rnnkit {

template <typename Real>
void dropout_forward(Real* x, int64_t N, double p, Rng& rng, std::vector<Real>& mask) {
  require(p >= 0.0 && p < 1.0, "dropout probability must lie in [0, 1), got " + std::to_string(p));
  mask.resize(N);
  const Real keep_scale = static_cast<Real>(1.0 / (1.0 - p));
  for (int64_t i = 0; i < N; ++i) {
    mask[i] = rng.uniform() < p ? Real(0) : keep_scale;
    x[i] *= mask[i];
  }
}

template <typename Real>
void dropout_backward(Real* dx, const std::vector<Real>& mask) {
  for (size_t i = 0; i < mask.size(); ++i) dx[i] *= mask[i];
}

template void dropout_forward<float>(float*, int64_t, double, Rng&, std::vector<float>&);
template void dropout_forward<double>(double*, int64_t, double, Rng&, std::vector<double>&);
template void dropout_backward<float>(float*, const std::vector<float>&);
template void dropout_backward<double>(double*, const std::vector<double>&);

}  // namespace rnnkit
