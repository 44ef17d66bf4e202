// Learning-rate schedules with torch.optim.lr_scheduler's recurrences.
#include "rnnkit/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "rnnkit/core/error.h"

namespace rnnkit {

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::Step: return "step";
    case ScheduleKind::Exponential: return "exponential";
    case ScheduleKind::Cosine: return "cosine";
    case ScheduleKind::Plateau: return "plateau";
  }
  return "?";
}

ScheduleKind parse_schedule(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::Constant, ScheduleKind::Step, ScheduleKind::Exponential,
                         ScheduleKind::Cosine, ScheduleKind::Plateau})
    if (name == schedule_name(k)) return k;
  throw Error("unknown learning-rate schedule '" + name +
              "': expected one of constant, step, exponential, cosine, plateau");
}

void ScheduleConfig::validate() const {
  require(step_size >= 1, "schedule step_size must be >= 1, got " + std::to_string(step_size));
  require(gamma > 0.0, "schedule gamma must be > 0, got " + std::to_string(gamma));
  require(t_max >= 1, "schedule t_max must be >= 1, got " + std::to_string(t_max));
  require(factor > 0.0 && factor < 1.0, "schedule factor must lie in (0, 1), got " + std::to_string(factor));
  require(patience >= 0 && cooldown >= 0, "schedule patience and cooldown must be >= 0");
  require(min_lr >= 0.0, "schedule min_lr must be >= 0");
}

LrSchedule::LrSchedule(const ScheduleConfig& config, double base_lr)
    : config_(config), base_lr_(base_lr), lr_(base_lr) {
  config.validate();
}

double LrSchedule::step(double metric) {
  const int e = ++epoch_;
  const ScheduleConfig& c = config_;
  switch (c.kind) {
    case ScheduleKind::Constant: break;
    case ScheduleKind::Step:
      if (e % c.step_size == 0) lr_ *= c.gamma;
      break;
    case ScheduleKind::Exponential: lr_ *= c.gamma; break;
    case ScheduleKind::Cosine: {  // CosineAnnealingLR.get_lr's recurrence, which stays periodic past t_max
      const double pi = std::numbers::pi, T = c.t_max;
      if ((e - 1 - c.t_max) % (2 * c.t_max) == 0)
        lr_ += (base_lr_ - c.eta_min) * (1.0 - std::cos(pi / T)) / 2.0;
      else
        lr_ = (1.0 + std::cos(pi * e / T)) / (1.0 + std::cos(pi * (e - 1) / T)) * (lr_ - c.eta_min) + c.eta_min;
      break;
    }
    case ScheduleKind::Plateau: {  // ReduceLROnPlateau, mode "min", threshold_mode "rel"
      require(!std::isnan(metric), "the plateau schedule needs a validation metric every epoch");
      if (metric < best_ * (1.0 - c.threshold)) {
        best_ = metric;
        bad_epochs_ = 0;
      } else {
        ++bad_epochs_;
      }
      if (cooldown_left_ > 0) {
        --cooldown_left_;
        bad_epochs_ = 0;
      }
      if (bad_epochs_ > c.patience) {
        const double reduced = std::max(lr_ * c.factor, c.min_lr);
        if (lr_ - reduced > 1e-8) lr_ = reduced;
        cooldown_left_ = c.cooldown;
        bad_epochs_ = 0;
      }
      break;
    }
  }
  return lr_;
}

void LrSchedule::restore(int epoch, double lr, double best, int bad_epochs, int cooldown_left) {
  epoch_ = epoch, lr_ = lr, best_ = best, bad_epochs_ = bad_epochs, cooldown_left_ = cooldown_left;
}

}  // namespace rnnkit
