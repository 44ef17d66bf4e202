// The training loop: epochs over shuffled (length-bucketed) batches, validation after each epoch,
// the best model kept, early stopping, a learning-rate schedule, and callbacks for progress,
// checkpoints and interruption. The library never prints: the caller's callbacks do.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rnnkit/nn/model.h"
#include "rnnkit/optim/optimizer.h"
#include "rnnkit/optim/schedule.h"
#include "rnnkit/train/train_step.h"

namespace rnnkit {

// The examples of one split, served as batches.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual size_t size() const = 0;
  virtual int length(size_t i) const = 0;  // steps of example i, for bucketing
  virtual Batch<float> batch(const std::vector<size_t>& indices) const = 0;
};

// What a pass over a whole split hands its caller after each forward: the examples' indices in the
// source (row b of the batch is example indices[b]), the batch, and the cache with the outputs.
using SplitBatchFn = std::function<void(const std::vector<size_t>& indices, const Batch<float>& batch,
                                        const ModelCache<float>& cache)>;

// The batches of a pass over a whole split (evaluation, prediction): length_sorted_batches of its
// examples' lengths (data/sequence.h).
std::vector<std::vector<size_t>> length_sorted_batches(const BatchSource& data, int batch_size);

// Runs the model in inference over every example of `data` once, in length_sorted_batches, and calls
// `each` after every batch's forward; in `cache` when given (a caller's own, kept between calls),
// else in a new one.
void forward_split(const Model<float>& model, const BatchSource& data, int batch_size, const SplitBatchFn& each,
                   ModelCache<float>* cache = nullptr);

struct TrainerConfig {
  int epochs = 10;
  int batch_size = 32;
  int patience = 3;  // epochs without a better validation loss before stopping; 0: never stop early
  bool bucket = true;
  int max_steps_per_epoch = 0;  // 0: every batch; otherwise a random subset of batches per epoch
  // Keep the last epoch's model instead of the one with the best validation loss (for validation
  // data that cannot rank models, e.g. a time split whose validation part holds no rare events).
  bool keep_last = false;
  OptimizerConfig optimizer = OptimizerConfig::defaults_for(OptimizerKind::Adam);
  ScheduleConfig schedule;
  TrainOptions step;
  uint64_t seed = 1;
};

struct EpochRecord {
  int epoch = 0;
  int64_t steps = 0;
  double train_loss = 0.0, valid_loss = 0.0;
  double valid_metric = 0.0;  // the task's validation metric (TrainCallbacks::valid_metric), when given
  std::string metric;         // its name ("accuracy", "bits_per_token", "rmse", ...); empty when none
  double lr = 0.0;
  double seconds = 0.0, sequences_per_second = 0.0;
  bool best = false;
};

// Everything needed to continue training after epoch `epoch` as if it had not stopped: the current
// and best models, the optimizer's buffers and step count, the schedule and early-stopping counters.
// Each epoch draws its batches and dropout masks from Rng(seed + epoch), so a resumed run repeats the
// remaining epochs exactly.
struct TrainState {
  int epoch = 0;  // epochs completed
  std::vector<EpochRecord> history;
  std::vector<float> model;  // ParamStore values
  std::vector<float> best;
  double best_valid_loss = 0.0;
  int bad_epochs = 0;
  long optimizer_steps = 0;
  std::map<std::string, std::vector<float>> optimizer_state;
  double lr = 0.0;
  double schedule_best = 0.0;
  int schedule_bad_epochs = 0, schedule_cooldown = 0;
};

struct TrainCallbacks {
  // After every optimizer step: epoch, step within the epoch, steps in the epoch, running loss, sequences/s.
  std::function<void(int, int64_t, int64_t, double, double)> on_step;
  // After every epoch's validation, with the best model so far (for checkpoints).
  std::function<void(const EpochRecord&, const std::vector<EpochRecord>&, const Model<float>&)> on_epoch;
  // Polled between steps; true stops training (e.g. after Ctrl-C) and keeps the best model.
  std::function<bool()> should_stop;
  // After every completed epoch, with the state to resume from (for checkpoints).
  std::function<void(const TrainState&)> on_checkpoint;
  // The task's validation metric of the model after an epoch (accuracy, bits per token, RMSE, ...),
  // recorded in EpochRecord::valid_metric; optional.
  std::function<double(const Model<float>&, double valid_loss)> valid_metric;
  std::string metric_name;
  // Called in each epoch's validation pass after every batch's forward, before valid_metric: a metric
  // read off the outputs (accuracy, ...) is gathered here in the loss's own pass, not in a second one.
  SplitBatchFn valid_batch;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  Model<float> best;
  double best_valid_loss = 0.0;
  bool stopped_early = false;
  bool interrupted = false;
};

// Mean loss per target over a whole split (batches weighted by their number of targets), in
// length_sorted_batches. With chunk_steps > 0 and a unidirectional per-step model, each batch runs in
// chunks of that many steps with the state carried across (the same result; memory bounded by the
// chunk, not the sequence): training with truncated BPTT evaluates this way. `each`, when given, is
// called after every forward (with chunks, once per chunk, with the chunk's steps as its batch).
// `cache`, when given, is the inference cache the passes run in, kept by a caller that evaluates
// every epoch so that its buffers are not allocated and faulted in afresh each time.
double evaluate_loss(const Model<float>& model, const BatchSource& data, int batch_size, int chunk_steps = 0,
                     const SplitBatchFn& each = {}, ModelCache<float>* cache = nullptr);

// Trains `model` in place and returns the history and a copy of the best model by validation loss.
// Throws Error (from train_step) on a non-finite loss; the caller still has the last on_epoch's best.
// With `resume`, continues from that state (the model's parameters are replaced by resume->model).
TrainResult fit(Model<float>& model, const BatchSource& train, const BatchSource& valid, const TrainerConfig& config,
                const TrainCallbacks& callbacks = {}, const TrainState* resume = nullptr);

}  // namespace rnnkit
