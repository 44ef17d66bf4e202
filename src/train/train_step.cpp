// Training step with full or truncated BPTT.
#include "rnnkit/train/train_step.h"

#include <algorithm>
#include <cmath>

#include "rnnkit/core/error.h"
#include "rnnkit/optim/clip.h"

namespace rnnkit {

template <typename Real>
int64_t count_targets(const ModelConfig& config, const Batch<Real>& batch) {
  int64_t n = 0;
  const bool labels = config.head == Head::Softmax;
  if (config.output != OutputMode::PerStep) {
    for (int b = 0; b < batch.B; ++b)
      n += batch.lengths[b] > 0 && (!labels || batch.labels[b] >= 0) ? 1 : 0;
  } else {
    for (int t = 0; t < batch.T; ++t)
      for (int b = 0; b < batch.B; ++b)
        n += t < batch.lengths[b] && (!labels || batch.labels[size_t(t) * batch.B + b] >= 0) ? 1 : 0;
  }
  return n;
}

template <typename Real>
Batch<Real> slice_steps(const ModelConfig& config, const Batch<Real>& batch, int t0, int steps) {
  require(t0 >= 0 && steps >= 0 && t0 + steps <= batch.T, "step slice [" + std::to_string(t0) + ", " +
                                                               std::to_string(t0 + steps) + ") is outside the batch of " +
                                                               std::to_string(batch.T) + " steps");
  Batch<Real> s;
  s.T = steps, s.B = batch.B;
  s.lengths.resize(batch.B);
  for (int b = 0; b < batch.B; ++b) s.lengths[b] = std::clamp(batch.lengths[b] - t0, 0, steps);
  const size_t begin = size_t(t0) * batch.B, end = size_t(t0 + steps) * batch.B;
  auto rows = [&](const auto& v, size_t width) {
    using V = std::decay_t<decltype(v)>;
    return v.empty() ? V{} : V(v.begin() + begin * width, v.begin() + end * width);
  };
  s.tokens = rows(batch.tokens, 1);
  s.features = rows(batch.features, size_t(config.input_size));
  if (config.output == OutputMode::PerStep) {
    s.labels = rows(batch.labels, 1);
    s.values = rows(batch.values, size_t(config.output_size));
  } else {
    s.labels = batch.labels;
    s.values = batch.values;
  }
  return s;
}

namespace {

template <typename Real>
bool all_finite(const std::vector<Real>& v) {
  return std::all_of(v.begin(), v.end(), [](Real x) { return std::isfinite(x); });
}

// Where a non-finite loss or gradient came from: an input feature, a target, a parameter, or the
// arithmetic. `what` names it ("training loss", "gradient norm").
template <typename Real>
std::string non_finite(const Model<Real>& model, const Batch<Real>& batch, const char* what, double value) {
  const std::string head = std::string(what) + " is " + std::to_string(value) + ": ";
  const int I = model.config().input_size;
  for (size_t k = 0; k < batch.features.size(); ++k)
    if (!std::isfinite(batch.features[k])) {
      const size_t row = k / size_t(I), t = row / size_t(batch.B), b = row % size_t(batch.B);
      return head + "input feature " + std::to_string(k % size_t(I)) + " of step " + std::to_string(t) +
             " of sequence " + std::to_string(b) + " in the batch is " + std::to_string(batch.features[k]) +
             " (check the data for missing or infinite values)";
    }
  for (size_t k = 0; k < batch.values.size(); ++k)
    if (!std::isfinite(batch.values[k]))
      return head + "target value " + std::to_string(k) + " of the batch is " + std::to_string(batch.values[k]) +
             " (check the data for missing or infinite values)";
  for (const ParamInfo& p : model.params().infos()) {
    const Real* v = model.params().values().data() + p.offset;
    for (size_t i = 0; i < p.size; ++i)
      if (!std::isfinite(v[i]))
        return head + "parameter " + p.name + " holds " + std::to_string(v[i]) +
               " (an earlier update diverged: lower the learning rate or clip gradients)";
  }
  return head + "the inputs and parameters are finite, the arithmetic overflowed: lower the learning rate, "
                "clip gradients, or scale the inputs";
}

// Forward, loss, backward, clip and update on one (sub-)batch.
template <typename Real>
StepResult step_once(Model<Real>& model, Optimizer<Real>& optimizer, const Batch<Real>& batch,
                     const TrainOptions& options, Rng& rng, ModelState<Real>* state) {
  // Kept from step to step on this thread: its buffers settle at the largest batch, so steps after
  // the first allocate (and page-fault) nothing big.
  thread_local ModelCache<Real> cache;
  const size_t S = model.state_size(batch.B);
  const ModelState<Real>* init = state && state->h.size() == S ? state : nullptr;
  ModelState<Real> final_state;
  model.forward(batch, cache, true, &rng, init, state ? &final_state : nullptr);
  thread_local std::vector<Real> dlogits;  // (every value written by the loss; kept like the cache: a
  dlogits.resize(cache.logits.size());     // vocabulary-sized head's (T*B, O) would page-fault every step)
  StepResult r;
  r.loss = model.loss(batch, cache, dlogits.data());
  r.targets = count_targets(model.config(), batch);
  if (!std::isfinite(r.loss)) throw Error(non_finite(model, batch, "training loss", r.loss));
  model.params().zero_grad();
  model.backward(batch, cache, dlogits.data());
  r.grad_norm = grad_norm(model.params());
  if (!std::isfinite(r.grad_norm)) throw Error(non_finite(model, batch, "gradient norm", r.grad_norm));
  if (options.clip_value > 0.0) clip_grad_value(model.params(), options.clip_value);
  if (options.clip_norm > 0.0)  // the norm above, unless value clipping has changed the gradients since
    clip_grad_norm(model.params(), options.clip_norm,
                   options.clip_value > 0.0 ? grad_norm(model.params()) : r.grad_norm);
  optimizer.step(model.params());
  r.updates = 1;
  if (state) *state = std::move(final_state);  // the values only: no gradient flows into the next call
  return r;
}

}  // namespace

template <typename Real>
StepResult train_step(Model<Real>& model, Optimizer<Real>& optimizer, const Batch<Real>& batch,
                      const TrainOptions& options, Rng& rng, ModelState<Real>* state) {
  const ModelConfig& config = model.config();
  if (options.bptt <= 0 || options.bptt >= batch.T) return step_once(model, optimizer, batch, options, rng, state);

  require(config.output == OutputMode::PerStep,
          "truncated BPTT needs per-step outputs (many-to-many); this model outputs one result per sequence");
  require(!config.bidirectional, "truncated BPTT cannot run a bidirectional model: its reverse direction "
                                 "needs the whole sequence");
  ModelState<Real> local;
  ModelState<Real>* carry = state ? state : &local;
  StepResult total;
  double weighted = 0;
  for (int t0 = 0; t0 < batch.T; t0 += options.bptt) {
    const int steps = std::min(options.bptt, batch.T - t0);
    Batch<Real> chunk = slice_steps(config, batch, t0, steps);
    const int64_t n = count_targets(config, chunk);
    if (n == 0) continue;  // every sequence already ended
    StepResult r = step_once(model, optimizer, chunk, options, rng, carry);
    weighted += r.loss * double(n);
    total.targets += n;
    total.grad_norm = r.grad_norm;
    total.updates += r.updates;
  }
  total.loss = total.targets > 0 ? weighted / double(total.targets) : 0.0;
  return total;
}

template int64_t count_targets<float>(const ModelConfig&, const Batch<float>&);
template int64_t count_targets<double>(const ModelConfig&, const Batch<double>&);
template Batch<float> slice_steps<float>(const ModelConfig&, const Batch<float>&, int, int);
template Batch<double> slice_steps<double>(const ModelConfig&, const Batch<double>&, int, int);
template StepResult train_step<float>(Model<float>&, Optimizer<float>&, const Batch<float>&, const TrainOptions&,
                                      Rng&, ModelState<float>*);
template StepResult train_step<double>(Model<double>&, Optimizer<double>&, const Batch<double>&,
                                       const TrainOptions&, Rng&, ModelState<double>*);

}  // namespace rnnkit
