// The epoch loop.
#include "rnnkit/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "rnnkit/core/error.h"
#include "rnnkit/data/sequence.h"

namespace rnnkit {

std::vector<std::vector<size_t>> length_sorted_batches(const BatchSource& data, int batch_size) {
  std::vector<int> lengths(data.size());
  for (size_t i = 0; i < data.size(); ++i) lengths[i] = data.length(i);
  return length_sorted_batches(lengths, batch_size);
}

void forward_split(const Model<float>& model, const BatchSource& data, int batch_size, const SplitBatchFn& each,
                   ModelCache<float>* kept) {
  ModelCache<float> own;
  ModelCache<float>& cache = kept ? *kept : own;
  cache.inference = true;
  // Longest batch first: the cache's buffers take their largest size once, instead of growing (and
  // page-faulting fresh memory) batch after batch.
  const auto batches = length_sorted_batches(data, batch_size);
  for (auto it = batches.rbegin(); it != batches.rend(); ++it) {
    const Batch<float> batch = data.batch(*it);
    model.forward(batch, cache, false, nullptr);
    each(*it, batch, cache);
  }
}

double evaluate_loss(const Model<float>& model, const BatchSource& data, int batch_size, int chunk_steps,
                     const SplitBatchFn& each, ModelCache<float>* kept) {
  const ModelConfig& c = model.config();
  const bool chunked = chunk_steps > 0 && c.output == OutputMode::PerStep && !c.bidirectional;
  double total = 0;
  int64_t targets = 0;
  ModelCache<float> own;
  ModelCache<float>& cache = kept ? *kept : own;
  cache.inference = true;
  ModelState<float> state, next;
  // The batches run longest first (the cache takes its largest size once, as in forward_split); their
  // loss sums are added up shortest first, as the batches are sorted, whatever order they ran in.
  const auto batches = length_sorted_batches(data, batch_size);
  std::vector<std::vector<double>> sums(batches.size());  // each batch's, a value per chunk of steps
  const auto add = [&](size_t i, const Batch<float>& batch, const ModelState<float>* init,
                       ModelState<float>* final_state) {
    model.forward(batch, cache, false, nullptr, init, final_state);
    if (each) each(batches[i], batch, cache);
    const int64_t n = count_targets(c, batch);
    if (n == 0) return;
    sums[i].push_back(model.loss(batch, cache, nullptr) * double(n));
    targets += n;
  };
  for (size_t i = batches.size(); i-- > 0;) {
    const Batch<float> batch = data.batch(batches[i]);
    if (!chunked || batch.T <= chunk_steps) {
      add(i, batch, nullptr, nullptr);
      continue;
    }
    for (int t0 = 0; t0 < batch.T; t0 += chunk_steps) {
      add(i, slice_steps(c, batch, t0, std::min(chunk_steps, batch.T - t0)), t0 == 0 ? nullptr : &state, &next);
      std::swap(state, next);
    }
  }
  for (const auto& batch_sums : sums)
    for (double s : batch_sums) total += s;
  return targets ? total / double(targets) : 0.0;
}

TrainResult fit(Model<float>& model, const BatchSource& train, const BatchSource& valid, const TrainerConfig& config,
                const TrainCallbacks& cb, const TrainState* resume) {
  require(config.epochs >= 1 && config.batch_size >= 1, "training needs epochs >= 1 and batch size >= 1");
  require(train.size() > 0, "no training examples");
  require(valid.size() > 0, "no validation examples");
  auto optimizer = make_optimizer<float>(config.optimizer);
  LrSchedule schedule(config.schedule, config.optimizer.lr);
  std::vector<int> lengths(train.size());
  for (size_t i = 0; i < train.size(); ++i) lengths[i] = train.length(i);

  TrainResult result{{}, model, std::numeric_limits<double>::infinity(), false, false};
  int bad_epochs = 0, first_epoch = 1;
  ModelCache<float> valid_cache;  // every epoch's validation runs in it
  if (resume) {
    const size_t n = model.params().size();
    require(resume->model.size() == n && resume->best.size() == n,
            "checkpoint holds " + std::to_string(resume->model.size()) + " parameters, the model has " + std::to_string(n));
    model.params().values() = resume->model;
    result.best = model;
    result.best.params().values() = resume->best;
    result.best_valid_loss = resume->best_valid_loss;
    result.history = resume->history;
    bad_epochs = resume->bad_epochs;
    first_epoch = resume->epoch + 1;
    for (const auto& [name, buffer] : resume->optimizer_state) {
      require(buffer.size() == n, "checkpoint optimizer buffer '" + name + "' has the wrong size");
      optimizer->state()[name] = buffer;
    }
    optimizer->set_steps(resume->optimizer_steps);
    optimizer->set_lr(resume->lr);
    schedule.restore(resume->epoch, resume->lr, resume->schedule_best, resume->schedule_bad_epochs,
                     resume->schedule_cooldown);
  }
  for (int epoch = first_epoch; epoch <= config.epochs; ++epoch) {
    Rng rng(config.seed + uint64_t(epoch));  // per epoch, so a resumed run repeats the same epochs
    const auto t0 = std::chrono::steady_clock::now();
    auto batches = make_batches(lengths, config.batch_size, rng, true, config.bucket ? 50 : 1);
    if (config.max_steps_per_epoch > 0 && batches.size() > size_t(config.max_steps_per_epoch))
      batches.resize(size_t(config.max_steps_per_epoch));
    double loss_sum = 0;
    int64_t loss_n = 0, sequences = 0, step = 0;
    double running = 0;
    for (const auto& indices : batches) {
      if (cb.should_stop && cb.should_stop()) {
        result.interrupted = true;
        break;
      }
      const Batch<float> batch = train.batch(indices);
      const StepResult r = train_step(model, *optimizer, batch, config.step, rng);
      loss_sum += r.loss * double(r.targets);
      loss_n += r.targets;
      sequences += int64_t(indices.size());
      running = step == 0 ? r.loss : 0.98 * running + 0.02 * r.loss;
      ++step;
      if (cb.on_step) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        cb.on_step(epoch, step, int64_t(batches.size()), running, s > 0 ? double(sequences) / s : 0.0);
      }
    }
    if (result.interrupted && step == 0) break;
    EpochRecord rec;
    rec.epoch = epoch;
    rec.steps = step;
    rec.train_loss = loss_n ? loss_sum / double(loss_n) : 0.0;
    rec.valid_loss = evaluate_loss(model, valid, std::max(config.batch_size, 64), config.step.bptt, cb.valid_batch,
                                   &valid_cache);
    if (cb.valid_metric) {
      rec.valid_metric = cb.valid_metric(model, rec.valid_loss);
      rec.metric = cb.metric_name;
    }
    rec.lr = optimizer->lr();
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rec.sequences_per_second = rec.seconds > 0 ? double(sequences) / rec.seconds : 0.0;
    require(std::isfinite(rec.valid_loss), "validation loss is not finite after epoch " + std::to_string(epoch));
    if (rec.valid_loss < result.best_valid_loss || config.keep_last) {
      result.best_valid_loss = rec.valid_loss;
      result.best = model;
      rec.best = true;
      bad_epochs = 0;
    } else {
      ++bad_epochs;
    }
    result.history.push_back(rec);
    if (cb.on_epoch) cb.on_epoch(rec, result.history, result.best);
    if (result.interrupted) break;
    optimizer->set_lr(schedule.step(rec.valid_loss));
    if (cb.on_checkpoint) {
      TrainState st;
      st.epoch = epoch;
      st.history = result.history;
      st.model = model.params().values();
      st.best = result.best.params().values();
      st.best_valid_loss = result.best_valid_loss;
      st.bad_epochs = bad_epochs;
      st.optimizer_steps = optimizer->steps();
      st.optimizer_state = optimizer->state();
      st.lr = optimizer->lr();
      st.schedule_best = schedule.best();
      st.schedule_bad_epochs = schedule.bad_epochs();
      st.schedule_cooldown = schedule.cooldown_left();
      cb.on_checkpoint(st);
    }
    if (config.patience > 0 && bad_epochs >= config.patience) {
      result.stopped_early = true;
      break;
    }
  }
  return result;
}

}  // namespace rnnkit
