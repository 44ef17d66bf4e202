// SGD, Adam, AdamW, RMSprop and Adagrad, element by element as torch.optim (1.13) computes them.
#include "rnnkit/optim/optimizer.h"

#include <cmath>

#include "rnnkit/core/error.h"
#include "src/optim/kernels.h"

namespace rnnkit {

const char* optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd: return "sgd";
    case OptimizerKind::Adam: return "adam";
    case OptimizerKind::AdamW: return "adamw";
    case OptimizerKind::RmsProp: return "rmsprop";
    case OptimizerKind::Adagrad: return "adagrad";
  }
  return "?";
}

OptimizerKind parse_optimizer(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::RmsProp,
                          OptimizerKind::Adagrad})
    if (name == optimizer_name(k)) return k;
  throw Error("unknown optimizer '" + name + "': expected one of sgd, adam, adamw, rmsprop, adagrad");
}

OptimizerConfig OptimizerConfig::defaults_for(OptimizerKind kind) {
  OptimizerConfig c;
  c.kind = kind;
  switch (kind) {
    case OptimizerKind::Sgd: c.lr = 0.01; break;  // PyTorch requires lr for SGD; 0.01 is Keras's default
    case OptimizerKind::Adam: break;
    case OptimizerKind::AdamW: c.weight_decay = 0.01; break;
    case OptimizerKind::RmsProp: c.lr = 0.01; break;
    case OptimizerKind::Adagrad: c.lr = 0.01; c.eps = 1e-10; break;
  }
  return c;
}

void OptimizerConfig::validate() const {
  auto check = [](bool ok, const std::string& what) { require(ok, "optimizer " + what); };
  check(lr >= 0.0 && std::isfinite(lr), "lr must be a finite number >= 0, got " + std::to_string(lr));
  check(weight_decay >= 0.0, "weight_decay must be >= 0, got " + std::to_string(weight_decay));
  check(momentum >= 0.0, "momentum must be >= 0, got " + std::to_string(momentum));
  check(!nesterov || (momentum > 0.0 && dampening == 0.0), "nesterov needs momentum > 0 and dampening 0");
  check(beta1 >= 0.0 && beta1 < 1.0, "beta1 must lie in [0, 1), got " + std::to_string(beta1));
  check(beta2 >= 0.0 && beta2 < 1.0, "beta2 must lie in [0, 1), got " + std::to_string(beta2));
  check(eps >= 0.0, "eps must be >= 0, got " + std::to_string(eps));
  check(alpha >= 0.0, "alpha must be >= 0, got " + std::to_string(alpha));
  check(lr_decay >= 0.0, "lr_decay must be >= 0, got " + std::to_string(lr_decay));
  check(initial_accumulator >= 0.0, "initial_accumulator must be >= 0");
}

template <typename Real>
std::vector<Real>& Optimizer<Real>::buffer(const std::string& name, size_t size, Real fill) {
  auto& b = state_[name];
  if (b.size() != size) b.assign(size, fill);
  return b;
}

namespace {

// Calls f(i) for every element index i of every trainable parameter.
template <typename Real, typename F>
void for_trainable(const ParamStore<Real>& params, F&& f) {
  for (const ParamInfo& p : params.infos())
    if (p.trainable)
      for (size_t i = p.offset; i < p.offset + p.size; ++i) f(i);
}

// SGD, RMSprop and Adagrad do their arithmetic in double and store Real, which matches float32
// PyTorch within rounding; Adam and AdamW (the defaults, and the ones whose cost shows: four arrays
// a step) run vectorised in Real, as PyTorch does (optim_kernels::adam).
template <typename Real>
class Sgd final : public Optimizer<Real> {
 public:
  explicit Sgd(const OptimizerConfig& config) : Optimizer<Real>(config) {}
  void step(ParamStore<Real>& params) override {
    const OptimizerConfig& c = this->config_;
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    const bool first = this->steps_ == 0;
    std::vector<Real>* buf = c.momentum != 0.0 ? &this->buffer("momentum_buffer", params.size()) : nullptr;
    for_trainable(params, [&](size_t i) {
      double d = double(g[i]) + c.weight_decay * double(p[i]);
      if (buf) {
        Real& b = (*buf)[i];
        b = static_cast<Real>(first ? d : c.momentum * double(b) + (1.0 - c.dampening) * d);
        d = c.nesterov ? d + c.momentum * double(b) : double(b);
      }
      p[i] = static_cast<Real>(double(p[i]) - c.lr * d);
    });
    ++this->steps_;
  }
};

template <typename Real>
class Adam final : public Optimizer<Real> {
 public:
  Adam(const OptimizerConfig& config, bool decoupled) : Optimizer<Real>(config), decoupled_(decoupled) {}
  void step(ParamStore<Real>& params) override {
    const OptimizerConfig& c = this->config_;
    auto& m = this->buffer("exp_avg", params.size());
    auto& v = this->buffer("exp_avg_sq", params.size());
    const long t = ++this->steps_;
    const double bc1 = 1.0 - std::pow(c.beta1, double(t)), bc2 = 1.0 - std::pow(c.beta2, double(t));
    const optim_kernels::AdamCoefficients k{.beta1 = c.beta1,
                                            .beta2 = c.beta2,
                                            .step_size = c.lr / bc1,
                                            .bc2_sqrt = std::sqrt(bc2),
                                            .eps = c.eps,
                                            .weight_decay = decoupled_ ? 0.0 : c.weight_decay,
                                            .decay = 1.0 - c.lr * c.weight_decay,
                                            .decoupled = decoupled_ && c.weight_decay != 0.0};
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    optim_kernels::for_trainable_ranges(params, [&](size_t i, size_t n) {
      optim_kernels::adam(n, p + i, g + i, m.data() + i, v.data() + i, k);
    });
  }

 private:
  bool decoupled_;
};

template <typename Real>
class RmsProp final : public Optimizer<Real> {
 public:
  explicit RmsProp(const OptimizerConfig& config) : Optimizer<Real>(config) {}
  void step(ParamStore<Real>& params) override {
    const OptimizerConfig& c = this->config_;
    auto& sq = this->buffer("square_avg", params.size());
    std::vector<Real>* ga = c.centered ? &this->buffer("grad_avg", params.size()) : nullptr;
    std::vector<Real>* buf = c.momentum > 0.0 ? &this->buffer("momentum_buffer", params.size()) : nullptr;
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    for_trainable(params, [&](size_t i) {
      const double gi = double(g[i]) + c.weight_decay * double(p[i]);
      sq[i] = static_cast<Real>(c.alpha * double(sq[i]) + (1.0 - c.alpha) * gi * gi);
      double avg;
      if (ga) {
        (*ga)[i] = static_cast<Real>(c.alpha * double((*ga)[i]) + (1.0 - c.alpha) * gi);
        avg = std::sqrt(double(sq[i]) - double((*ga)[i]) * double((*ga)[i])) + c.eps;
      } else {
        avg = std::sqrt(double(sq[i])) + c.eps;
      }
      if (buf) {
        (*buf)[i] = static_cast<Real>(c.momentum * double((*buf)[i]) + gi / avg);
        p[i] = static_cast<Real>(double(p[i]) - c.lr * double((*buf)[i]));
      } else {
        p[i] = static_cast<Real>(double(p[i]) - c.lr * gi / avg);
      }
    });
    ++this->steps_;
  }
};

template <typename Real>
class Adagrad final : public Optimizer<Real> {
 public:
  explicit Adagrad(const OptimizerConfig& config) : Optimizer<Real>(config) {}
  void step(ParamStore<Real>& params) override {
    const OptimizerConfig& c = this->config_;
    auto& sum = this->buffer("sum", params.size(), static_cast<Real>(c.initial_accumulator));
    const long t = ++this->steps_;
    const double clr = c.lr / (1.0 + double(t - 1) * c.lr_decay);
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    for_trainable(params, [&](size_t i) {
      const double gi = double(g[i]) + c.weight_decay * double(p[i]);
      sum[i] = static_cast<Real>(double(sum[i]) + gi * gi);
      p[i] = static_cast<Real>(double(p[i]) - clr * gi / (std::sqrt(double(sum[i])) + c.eps));
    });
  }
};

}  // namespace

template <typename Real>
std::unique_ptr<Optimizer<Real>> make_optimizer(const OptimizerConfig& config) {
  config.validate();
  switch (config.kind) {
    case OptimizerKind::Sgd: return std::make_unique<Sgd<Real>>(config);
    case OptimizerKind::Adam: return std::make_unique<Adam<Real>>(config, false);
    case OptimizerKind::AdamW: return std::make_unique<Adam<Real>>(config, true);
    case OptimizerKind::RmsProp: return std::make_unique<RmsProp<Real>>(config);
    case OptimizerKind::Adagrad: return std::make_unique<Adagrad<Real>>(config);
  }
  throw Error("unknown optimizer kind");
}

template class Optimizer<float>;
template class Optimizer<double>;
template std::unique_ptr<Optimizer<float>> make_optimizer<float>(const OptimizerConfig&);
template std::unique_ptr<Optimizer<double>> make_optimizer<double>(const OptimizerConfig&);

}  // namespace rnnkit
