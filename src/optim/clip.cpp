// Gradient clipping.
#include "rnnkit/optim/clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rnnkit/core/parallel.h"
#include "src/optim/kernels.h"

namespace rnnkit {

// The sum of squares in fixed chunks of every parameter, then the chunks' sums in order: the same
// result whatever the thread count.
template <typename Real>
double grad_norm(const ParamStore<Real>& params) {
  constexpr size_t kChunk = size_t(1) << 15;
  double sum = 0;
  std::vector<double> partial;
  for (const ParamInfo& p : params.infos()) {
    if (!p.trainable || p.size == 0) continue;
    const Real* g = params.grads().data() + p.offset;
    const int chunks = int((p.size + kChunk - 1) / kChunk);
    partial.assign(size_t(chunks), 0.0);
    parallel_slices(chunks, 1, [&](int c0, int c1) {
      for (int c = c0; c < c1; ++c) {
        const size_t begin = size_t(c) * kChunk;
        partial[size_t(c)] = optim_kernels::sum_squares(std::min(kChunk, p.size - begin), g + begin);
      }
    });
    for (double s : partial) sum += s;
  }
  return std::sqrt(sum);
}

template <typename Real>
double clip_grad_norm(ParamStore<Real>& params, double max_norm) {
  return clip_grad_norm(params, max_norm, grad_norm(params));
}

template <typename Real>
double clip_grad_norm(ParamStore<Real>& params, double max_norm, double total) {
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    Real* g = params.grads().data();
    optim_kernels::for_trainable_ranges(params, [&](size_t i, size_t n) {
      for (size_t k = i; k < i + n; ++k) g[k] = static_cast<Real>(double(g[k]) * coef);
    });
  }
  return total;
}

template <typename Real>
void clip_grad_value(ParamStore<Real>& params, double limit) {
  const Real lo = static_cast<Real>(-limit), hi = static_cast<Real>(limit);
  Real* g = params.grads().data();
  optim_kernels::for_trainable_ranges(params, [&](size_t i, size_t n) {
    for (size_t k = i; k < i + n; ++k) g[k] = std::clamp(g[k], lo, hi);
  });
}

template double grad_norm<float>(const ParamStore<float>&);
template double grad_norm<double>(const ParamStore<double>&);
template double clip_grad_norm<float>(ParamStore<float>&, double);
template double clip_grad_norm<double>(ParamStore<double>&, double);
template double clip_grad_norm<float>(ParamStore<float>&, double, double);
template double clip_grad_norm<double>(ParamStore<double>&, double, double);
template void clip_grad_value<float>(ParamStore<float>&, double);
template void clip_grad_value<double>(ParamStore<double>&, double);

}  // namespace rnnkit
