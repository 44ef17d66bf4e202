// The optimizers' element-wise arithmetic over one contiguous range of parameters, vectorised with
// Highway (dispatched at run time to the machine's best instruction set). Internal to rnnkit_optim.
// The arithmetic is done in Real, in the order torch.optim (1.13) does it for tensors of that type.
#pragma once

#include <algorithm>
#include <cstddef>

#include "rnnkit/core/parallel.h"
#include "rnnkit/core/params.h"

namespace rnnkit::optim_kernels {

// Calls f(begin, count) over every trainable parameter's elements in contiguous ranges, a large
// parameter's ranges spread over the threads (element-wise updates: the result does not depend on
// the split).
template <typename Real, typename F>
void for_trainable_ranges(const ParamStore<Real>& params, F&& f) {
  constexpr size_t kBlock = 4096;  // elements; a thread takes at least 8 blocks
  for (const ParamInfo& p : params.infos()) {
    if (!p.trainable || p.size == 0) continue;
    const int blocks = int((p.size + kBlock - 1) / kBlock);
    parallel_slices(blocks, 8, [&](int b0, int b1) {
      const size_t begin = size_t(b0) * kBlock, end = std::min(p.size, size_t(b1) * kBlock);
      f(p.offset + begin, end - begin);
    });
  }
}

// Adam / AdamW for one step: m = beta1 m + (1 - beta1) g', v = beta2 v + (1 - beta2) g'^2,
// p -= step_size m / (sqrt(v) / bc2_sqrt + eps), where g' = g + weight_decay p (Adam, L2) or
// p *= decay first (AdamW, decoupled; then weight_decay is 0 here).
struct AdamCoefficients {
  double beta1, beta2, step_size, bc2_sqrt, eps, weight_decay, decay;
  bool decoupled;
};

template <typename Real>
void adam(size_t n, Real* p, const Real* g, Real* m, Real* v, const AdamCoefficients& c);

// SGD for one step: d = g + weight_decay p; with momentum, buf = d on the first step, else
// momentum buf + (1 - dampening) d, and d = d + momentum buf (Nesterov) or buf; p -= lr d.
// buf is null without momentum.
struct SgdCoefficients {
  double lr, weight_decay, momentum, dampening;
  bool nesterov, first;
};

template <typename Real>
void sgd(size_t n, Real* p, const Real* g, Real* buf, const SgdCoefficients& c);

// RMSprop for one step: d = g + weight_decay p, sq = alpha sq + (1 - alpha) d^2; centered: ga = alpha
// ga + (1 - alpha) d and avg = sqrt(sq - ga^2) + eps, else avg = sqrt(sq) + eps; with momentum buf =
// momentum buf + d / avg and p -= lr buf, else p -= lr d / avg. ga and buf are null when unused.
struct RmsPropCoefficients {
  double lr, alpha, eps, weight_decay, momentum;
};

template <typename Real>
void rmsprop(size_t n, Real* p, const Real* g, Real* sq, Real* ga, Real* buf, const RmsPropCoefficients& c);

// Adagrad for one step: d = g + weight_decay p, sum += d^2, p -= clr d / (sqrt(sum) + eps).
struct AdagradCoefficients {
  double clr, eps, weight_decay;
};

template <typename Real>
void adagrad(size_t n, Real* p, const Real* g, Real* sum, const AdagradCoefficients& c);

// Sum of g[i]^2, accumulated in double.
template <typename Real>
double sum_squares(size_t n, const Real* g);

}  // namespace rnnkit::optim_kernels
