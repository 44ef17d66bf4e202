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

// Every optimizer's element-wise arithmetic runs vectorised in Real, in torch.optim's order of
// operations (optim_kernels), each large parameter's elements spread over the threads.
template <typename Real>
class Sgd final : public Optimizer<Real> {
 public:
  explicit Sgd(const OptimizerConfig& config) : Optimizer<Real>(config) {}
  void step(ParamStore<Real>& params) override {
    const OptimizerConfig& c = this->config_;
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    Real* buf = c.momentum != 0.0 ? this->buffer("momentum_buffer", params.size()).data() : nullptr;
    const optim_kernels::SgdCoefficients k{.lr = c.lr,
                                           .weight_decay = c.weight_decay,
                                           .momentum = c.momentum,
                                           .dampening = c.dampening,
                                           .nesterov = c.nesterov,
                                           .first = this->steps_ == 0};
    optim_kernels::for_trainable_ranges(
        params, [&](size_t i, size_t n) { optim_kernels::sgd(n, p + i, g + i, buf ? buf + i : nullptr, k); });
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
    Real* sq = this->buffer("square_avg", params.size()).data();
    Real* ga = c.centered ? this->buffer("grad_avg", params.size()).data() : nullptr;
    Real* buf = c.momentum > 0.0 ? this->buffer("momentum_buffer", params.size()).data() : nullptr;
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    const optim_kernels::RmsPropCoefficients k{
        .lr = c.lr, .alpha = c.alpha, .eps = c.eps, .weight_decay = c.weight_decay, .momentum = c.momentum};
    optim_kernels::for_trainable_ranges(params, [&](size_t i, size_t n) {
      optim_kernels::rmsprop(n, p + i, g + i, sq + i, ga ? ga + i : nullptr, buf ? buf + i : nullptr, k);
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
    Real* sum = this->buffer("sum", params.size(), static_cast<Real>(c.initial_accumulator)).data();
    const long t = ++this->steps_;
    const optim_kernels::AdagradCoefficients k{
        .clr = c.lr / (1.0 + double(t - 1) * c.lr_decay), .eps = c.eps, .weight_decay = c.weight_decay};
    Real* p = params.values().data();
    const Real* g = params.grads().data();
    optim_kernels::for_trainable_ranges(
        params, [&](size_t i, size_t n) { optim_kernels::adagrad(n, p + i, g + i, sum + i, k); });
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
