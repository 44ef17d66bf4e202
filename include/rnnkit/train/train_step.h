// One optimisation step on one batch: forward, loss, backpropagation through time (full or
// truncated), gradient clipping and the optimizer update.
#pragma once

#include <cstdint>

#include "rnnkit/core/rng.h"
#include "rnnkit/nn/model.h"
#include "rnnkit/optim/optimizer.h"

namespace rnnkit {

struct TrainOptions {
  double clip_norm = 0.0;   // > 0: clip the global gradient norm to this
  double clip_value = 0.0;  // > 0: clamp every gradient element to [-clip_value, clip_value]
  // > 0: truncated BPTT. The batch is cut into chunks of `bptt` steps; each chunk gets its own
  // forward, backward and update; the state is carried into the next chunk but no gradient flows
  // back across the cut (PyTorch's `h = h.detach()`). Needs per-step outputs and one direction.
  int bptt = 0;
};

struct StepResult {
  double loss = 0.0;       // mean loss over the batch's targets (chunks weighted by their targets)
  double grad_norm = 0.0;  // the global norm before clipping (of the last chunk)
  int64_t targets = 0;     // the number of targets (steps or sequences) that counted
  int updates = 0;         // optimizer steps taken
};

// The number of targets the loss averages over: valid sequences (last) or valid steps (per step),
// less ignored labels. Binary cross-entropy and MSE count rows here; the loss averages over
// rows * output_size, which is the same weighting.
template <typename Real>
int64_t count_targets(const ModelConfig& config, const Batch<Real>& batch);

// Steps t0 .. t0+steps-1 of a batch, with lengths clamped into the slice.
template <typename Real>
Batch<Real> slice_steps(const ModelConfig& config, const Batch<Real>& batch, int t0, int steps);

// One training step. `state`, when given, starts the recurrence (if its size fits the batch,
// otherwise zeros) and receives the detached final state: stateful training across batches, as for
// language models. Throws Error, before any update, when the loss or the gradient is not finite.
template <typename Real>
StepResult train_step(Model<Real>& model, Optimizer<Real>& optimizer, const Batch<Real>& batch,
                      const TrainOptions& options, Rng& rng, ModelState<Real>* state = nullptr);

}  // namespace rnnkit
