// Gradient clipping.
#include "rnnkit/optim/clip.h"

#include <algorithm>
#include <cmath>

namespace rnnkit {

template <typename Real>
double grad_norm(const ParamStore<Real>& params) {
  double sum = 0;
  for (const ParamInfo& p : params.infos()) {
    if (!p.trainable) continue;
    const Real* g = params.grads().data() + p.offset;
    for (size_t i = 0; i < p.size; ++i) sum += double(g[i]) * double(g[i]);
  }
  return std::sqrt(sum);
}

template <typename Real>
double clip_grad_norm(ParamStore<Real>& params, double max_norm) {
  const double total = grad_norm(params);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (const ParamInfo& p : params.infos()) {
      if (!p.trainable) continue;
      Real* g = params.grads().data() + p.offset;
      for (size_t i = 0; i < p.size; ++i) g[i] = static_cast<Real>(double(g[i]) * coef);
    }
  }
  return total;
}

template <typename Real>
void clip_grad_value(ParamStore<Real>& params, double limit) {
  const Real lo = static_cast<Real>(-limit), hi = static_cast<Real>(limit);
  for (const ParamInfo& p : params.infos()) {
    if (!p.trainable) continue;
    Real* g = params.grads().data() + p.offset;
    for (size_t i = 0; i < p.size; ++i) g[i] = std::clamp(g[i], lo, hi);
  }
}

template double grad_norm<float>(const ParamStore<float>&);
template double grad_norm<double>(const ParamStore<double>&);
template double clip_grad_norm<float>(ParamStore<float>&, double);
template double clip_grad_norm<double>(ParamStore<double>&, double);
template void clip_grad_value<float>(ParamStore<float>&, double);
template void clip_grad_value<double>(ParamStore<double>&, double);

}  // namespace rnnkit
