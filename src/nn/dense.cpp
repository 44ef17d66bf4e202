// Dense forward and backward.
#include "rnnkit/nn/dense.h"

#include <cmath>
#include <utility>

#include "rnnkit/core/error.h"
#include "rnnkit/core/gemm.h"

namespace rnnkit {

template <typename Real>
Dense<Real>::Dense(const DenseConfig& config, ParamStore<Real>& params, const std::string& prefix)
    : config_(config) {
  require(config.in_features > 0 && config.out_features > 0,
          "dense layer needs positive sizes, got " + std::to_string(config.in_features) + " -> " +
              std::to_string(config.out_features));
  weight_ = params.add(prefix + ".weight", {config.out_features, config.in_features});
  if (config.bias) bias_ = params.add(prefix + ".bias", {config.out_features});
}

template <typename Real>
void Dense<Real>::init(ParamStore<Real>& params, Rng& rng) const {
  const double bound = 1.0 / std::sqrt(double(config_.in_features));
  Real* w = params.value(weight_);
  for (int64_t i = 0; i < int64_t(config_.in_features) * config_.out_features; ++i)
    w[i] = static_cast<Real>(rng.uniform(-bound, bound));
  if (bias_ >= 0) {
    Real* b = params.value(bias_);
    for (int o = 0; o < config_.out_features; ++o) b[o] = static_cast<Real>(rng.uniform(-bound, bound));
  }
}

template <typename Real>
void Dense<Real>::forward(const ParamStore<Real>& params, const Real* x, int N, Real* y) const {
  const int In = config_.in_features, O = config_.out_features;
  gemm(Trans::No, Trans::Yes, N, O, In, Real(1), x, In, params.value(weight_), In, Real(0), y, O);
  if (bias_ >= 0) {
    const Real* b = params.value(bias_);
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < O; ++o) y[int64_t(n) * O + o] += b[o];
  }
}

template <typename Real>
void Dense<Real>::backward(ParamStore<Real>& params, const Real* x, int N, const Real* dy, Real* dx) const {
  const int In = config_.in_features, O = config_.out_features;
  // dW (O, In) += dy^T (O, N) x (N, In): all of it written, over it while it is marked zero
  Real beta;
  Real* dw = params.product_grad(weight_, beta);
  gemm(Trans::Yes, Trans::No, O, In, N, Real(1), dy, O, x, In, beta, dw, In);
  if (bias_ >= 0) {
    Real* db = params.grad(bias_);
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < O; ++o) db[o] += dy[int64_t(n) * O + o];
  }
  // dx (N, In) = dy (N, O) W (O, In)
  if (dx)  // (the weights read through the const view: a non-const access re-stamps the store)
    gemm(Trans::No, Trans::No, N, In, O, Real(1), dy, O, std::as_const(params).value(weight_), In, Real(0), dx, In);
}

template class Dense<float>;
template class Dense<double>;

}  // namespace rnnkit
