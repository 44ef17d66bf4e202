// Optimizers with PyTorch 1.13's update rules (torch.optim, single-tensor path, maximize=False).
// Each keeps its state in flat buffers aligned with ParamStore::values(); frozen parameters
// (ParamInfo::trainable == false) are skipped, as parameters without requires_grad are in PyTorch.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rnnkit/core/params.h"

namespace rnnkit {

enum class OptimizerKind { Sgd, Adam, AdamW, RmsProp, Adagrad };

const char* optimizer_name(OptimizerKind kind);         // "sgd", "adam", "adamw", "rmsprop", "adagrad"
OptimizerKind parse_optimizer(const std::string& name);  // throws Error naming the accepted values

// Hyper-parameters with PyTorch's defaults; `defaults_for` fills in what differs per optimizer
// (AdamW weight_decay 0.01, RMSprop eps 1e-8, Adagrad eps 1e-10).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double lr = 1e-3;
  double weight_decay = 0.0;
  // SGD
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  // Adam, AdamW
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  // RMSprop (momentum above is shared)
  double alpha = 0.99;
  bool centered = false;
  // Adagrad
  double lr_decay = 0.0;
  double initial_accumulator = 0.0;

  static OptimizerConfig defaults_for(OptimizerKind kind);
  void validate() const;
};

template <typename Real>
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every trainable parameter from its gradient (gradients are left as they are).
  virtual void step(ParamStore<Real>& params) = 0;

  double lr() const { return config_.lr; }
  void set_lr(double lr) { config_.lr = lr; }
  const OptimizerConfig& config() const { return config_; }
  long steps() const { return steps_; }

  // Named state buffers (e.g. "exp_avg"), each aligned with ParamStore::values(); for checkpoints.
  std::map<std::string, std::vector<Real>>& state() { return state_; }
  const std::map<std::string, std::vector<Real>>& state() const { return state_; }
  void set_steps(long steps) { steps_ = steps; }

 protected:
  explicit Optimizer(const OptimizerConfig& config) : config_(config) {}
  std::vector<Real>& buffer(const std::string& name, size_t size, Real fill = Real(0));

  OptimizerConfig config_;
  long steps_ = 0;
  std::map<std::string, std::vector<Real>> state_;
};

template <typename Real>
std::unique_ptr<Optimizer<Real>> make_optimizer(const OptimizerConfig& config);

}  // namespace rnnkit
