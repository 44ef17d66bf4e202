// Learning-rate schedules, stepped once per epoch, as torch.optim.lr_scheduler's.
#pragma once

#include <limits>
#include <string>

namespace rnnkit {

enum class ScheduleKind { Constant, Step, Exponential, Cosine, Plateau };

const char* schedule_name(ScheduleKind kind);  // "constant", "step", "exponential", "cosine", "plateau"
ScheduleKind parse_schedule(const std::string& name);

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Constant;
  int step_size = 10;       // Step: multiply by gamma every step_size epochs
  double gamma = 0.1;       // Step, Exponential
  int t_max = 10;           // Cosine: half-period in epochs
  double eta_min = 0.0;     // Cosine
  double factor = 0.1;      // Plateau: multiply by factor when the metric stops improving
  int patience = 10;        // Plateau: epochs without improvement tolerated
  double threshold = 1e-4;  // Plateau: relative improvement that counts (mode "min", "rel")
  int cooldown = 0;         // Plateau
  double min_lr = 0.0;      // Plateau
  void validate() const;
};

class LrSchedule {
 public:
  LrSchedule(const ScheduleConfig& config, double base_lr);

  // Ends an epoch: returns the learning rate for the next one. `metric` (the validation loss) is
  // used by Plateau only.
  double step(double metric = std::numeric_limits<double>::quiet_NaN());

  double lr() const { return lr_; }
  int epoch() const { return epoch_; }
  const ScheduleConfig& config() const { return config_; }

  // Plateau's counters, for checkpoints.
  double best() const { return best_; }
  int bad_epochs() const { return bad_epochs_; }
  int cooldown_left() const { return cooldown_left_; }
  void restore(int epoch, double lr, double best, int bad_epochs, int cooldown_left);

 private:
  ScheduleConfig config_;
  double base_lr_, lr_;
  int epoch_ = 0;
  double best_ = std::numeric_limits<double>::infinity();
  int bad_epochs_ = 0;
  int cooldown_left_ = 0;
};

}  // namespace rnnkit
