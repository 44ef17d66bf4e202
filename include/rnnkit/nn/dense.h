// Dense: y = x W^T + b, like torch.nn.Linear.
#pragma once

#include <string>

#include "rnnkit/core/params.h"
#include "rnnkit/core/rng.h"

namespace rnnkit {

struct DenseConfig {
  int in_features = 0;
  int out_features = 0;
  bool bias = true;
};

template <typename Real>
class Dense {
 public:
  // Registers "<prefix>.weight" (O, In) and "<prefix>.bias" (O).
  Dense(const DenseConfig& config, ParamStore<Real>& params, const std::string& prefix);

  // weight and bias ~ U(-1/sqrt(In), 1/sqrt(In)) (PyTorch's default).
  void init(ParamStore<Real>& params, Rng& rng) const;

  // y (N, O) = x (N, In) W^T + b
  void forward(const ParamStore<Real>& params, const Real* x, int N, Real* y) const;

  // dW += dy^T x; db += sum_n dy; dx (N, In) = dy W, overwritten (dx may be null).
  void backward(ParamStore<Real>& params, const Real* x, int N, const Real* dy, Real* dx) const;

  const DenseConfig& config() const { return config_; }

 private:
  DenseConfig config_;
  int weight_ = -1;
  int bias_ = -1;
};

}  // namespace rnnkit
