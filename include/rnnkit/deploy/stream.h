// Stream: step-by-step inference that keeps every layer's hidden state between calls.
//
// A model is loaded once and shared (it is never modified, so any number of threads may run streams
// over it at once); each Stream is one independent sequence: feed it one step (a token or a feature
// vector) or a chunk of steps as they arrive and read the outputs. Feeding a whole sequence step by
// step gives the outputs of the full-sequence forward pass.
//
// What a step returns depends on the model's output mode:
//   per_step (language models, taggers): the output of that step, after the head;
//   last (sequence classifiers, regressors): the output for everything seen so far, as if the
//     sequence ended here;
//   mean: the head of the mean of every step's output so far (exact: the dense layer is affine).
// A bidirectional model reads each sequence backwards too, so it cannot stream; the constructor says so.
//
// After the first call of a given size (one step, or a chunk of T steps) a stream allocates nothing.
// A stream is copyable: a copy continues from the same state independently (branching, beam search).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rnnkit/nn/model.h"

namespace rnnkit {

template <typename Real>
struct StreamState {
  std::vector<Real> h, c;  // (L, 1, H) every layer's hidden state (c: LSTM only)
  std::vector<Real> sum;   // mean models: the sum of every step's output before the head (O)
  int64_t steps = 0;       // steps seen since the last reset
};

template <typename Real>
class Stream {
 public:
  // Throws Error when the model is bidirectional.
  explicit Stream(std::shared_ptr<const Model<Real>> model);

  // One step: a token id (models with an embedding) or input_size features. Returns output_size
  // values (probabilities for softmax / sigmoid heads), valid until the next call on this stream.
  const std::vector<Real>& step(int32_t token);
  const std::vector<Real>& step(const Real* features);

  // T steps at once (faster than T single steps: one input projection for the chunk). Per-step
  // models return (T, O) rows, one per step; last and mean models return the O outputs after the chunk.
  const std::vector<Real>& chunk(const int32_t* tokens, int T);
  const std::vector<Real>& chunk(const Real* features, int T);

  // The state, to read, keep or restore; set_state validates its sizes against the model.
  const StreamState<Real>& state() const { return state_; }
  void set_state(StreamState<Real> state);
  // Back to the start of a sequence (zero state).
  void reset();
  int64_t steps() const { return state_.steps; }

  // The state as bytes (a safetensors blob naming the model's architecture), and back. Restoring a
  // state written by a model of another architecture, or damaged bytes, throws Error.
  std::vector<uint8_t> save_state() const;
  void load_state(const uint8_t* data, size_t size);

  const Model<Real>& model() const { return *model_; }

 private:
  const std::vector<Real>& run(int T);

  std::shared_ptr<const Model<Real>> model_;
  StreamState<Real> state_;
  ModelState<Real> init_, next_;
  Batch<Real> batch_;
  ModelCache<Real> cache_;
  std::vector<Real> out_;
};

}  // namespace rnnkit
