// Model: [Embedding] -> Recurrent (stacked, bidirectional) -> [Dropout] -> Dense -> head.
//
// The equivalent PyTorch module (scripts/rnnkit_torch.py) has the children `embedding`, `rnn`, `fc`,
// so parameter names are the state_dict names: "embedding.weight", "rnn.weight_ih_l0", ..., "fc.weight",
// "fc.bias". Batches are time-major: row t*B + b is step t of sequence b.
//
// The head fixes the loss: softmax -> cross-entropy over classes (integer labels), sigmoid -> binary
// cross-entropy (values in [0, 1], one per output), identity -> mean squared error (values).
// Outputs come per step (many-to-many; padded steps give no loss) or from the last valid step of each
// sequence (many-to-one; the reverse direction's part is its final state, as in PyTorch's h_n).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rnnkit/core/aligned.h"
#include "rnnkit/core/params.h"
#include "rnnkit/core/rng.h"
#include "rnnkit/nn/dense.h"
#include "rnnkit/nn/embedding.h"
#include "rnnkit/nn/recurrent.h"

namespace rnnkit {

// PerStep: every step's output; Last: the last valid step (the reverse direction's final state);
// Mean: the mean of the outputs over each sequence's valid steps (Keras GlobalAveragePooling1D with a mask).
enum class OutputMode { PerStep, Last, Mean };
enum class Head { Softmax, Sigmoid, Identity };

const char* output_mode_name(OutputMode mode);  // "per_step", "last", "mean"
OutputMode parse_output_mode(const std::string& name);
const char* head_name(Head head);  // "softmax", "sigmoid", "identity"
Head parse_head(const std::string& name);

struct ModelConfig {
  // Input: token ids through an embedding (vocab_size > 0), or feature vectors of input_size.
  int vocab_size = 0;
  int embedding_dim = 0;
  int padding_idx = 0;  // -1: none
  bool freeze_embedding = false;
  int input_size = 0;  // features per step when vocab_size == 0

  CellKind cell = CellKind::Lstm;
  int hidden_size = 0;
  int num_layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;         // between recurrent layers
  double output_dropout = 0.0;  // before the dense layer

  OutputMode output = OutputMode::Last;
  int output_size = 0;
  Head head = Head::Softmax;

  bool uses_embedding() const { return vocab_size > 0; }
  int rnn_input_size() const { return uses_embedding() ? embedding_dim : input_size; }
  int directions() const { return bidirectional ? 2 : 1; }
  void validate() const;  // throws Error naming the bad field
};

// A time-major padded batch. Inputs: tokens (T*B) or features (T*B, I). Targets, by head and output:
//   softmax: labels (B) or (T*B), negative = ignore;  sigmoid / identity: values (B, O) or (T*B, O).
// Padded steps (t >= lengths[b]) never contribute, whatever their targets hold.
template <typename Real>
struct Batch {
  int T = 0, B = 0;
  std::vector<int> lengths;
  std::vector<int32_t> tokens;
  std::vector<Real> features;
  std::vector<int32_t> labels;
  std::vector<Real> values;
};

// Recurrent state of every layer and direction: h, c (L*D, B, H); c is empty unless LSTM.
template <typename Real>
struct ModelState {
  std::vector<Real> h, c;
};

// Everything forward computes that backward or the caller needs.
template <typename Real>
struct ModelCache {
  // Set by a caller that never runs backward on this cache (prediction, evaluation, streaming): the
  // recurrent layers then keep no activations for it (see RecurrentCache::inference).
  bool inference = false;
  AlignedVector<Real> embedded;       // (T*B, E)
  RecurrentCache<Real> rnn;
  AlignedVector<Real> rnn_out;        // (T*B, D*H)
  AlignedVector<Real> features;       // dense input (N, D*H): last steps, means, or rnn_out with dropout
  std::vector<Real> dropout_mask;
  std::vector<Real> logits;           // (N, O); N = B (last, mean) or T*B (per step)
  int rows = 0;                       // N
  // Per-step output without output dropout: the dense layer reads rnn_out itself (no copy).
  bool features_are_rnn_out = false;
  const Real* dense_input() const { return features_are_rnn_out ? rnn_out.data() : features.data(); }
  // A per-step head on a padded batch runs on the valid steps only (rnn.live_rows, R of them): its
  // input rows gathered (R, D*H); the padded steps' logits are its value at their zero output, the
  // bias. Empty otherwise. head_out: its output on those rows (R, O).
  std::vector<Real> head_in, head_out;

  // Backward's buffers, kept from call to call (a kept cache allocates and page-faults nothing once
  // the sizes settle): the gradients of the dense input, of rnn_out (a last-step or mean head only:
  // a per-step head's input gradient is rnn_out's), and of the embedded inputs; a mean head's
  // per-sequence share of its gradient (B, D*H).
  mutable AlignedVector<Real> dfeatures, drnn_out, dembedded, mean_share;
  mutable std::vector<Real> head_dlogits, head_dinput;
};

template <typename Real>
class Model {
 public:
  explicit Model(const ModelConfig& config);

  // PyTorch's default initialisation of every part, from the seeded generator.
  void init(Rng& rng);

  // Fills cache.logits. init_state (or zeros) starts the recurrence; final_state, when given, gets
  // the state after each sequence's last valid step. rng is needed when training with dropout.
  void forward(const Batch<Real>& batch, ModelCache<Real>& cache, bool training, Rng* rng,
               const ModelState<Real>* init_state = nullptr, ModelState<Real>* final_state = nullptr) const;

  // The loss of cache.logits against the batch's targets (mean reduction); dlogits (N, O) when not null.
  double loss(const Batch<Real>& batch, const ModelCache<Real>& cache, Real* dlogits) const;

  // Adds parameter gradients for d(loss)/d(logits) = dlogits (N, O); a per-step head's padded steps
  // are not part of the output (the loss masks them), and their rows of dlogits are not read.
  // d_init_state, when given, receives the gradient with respect to init_state; d_final_state (or
  // null) is an upstream gradient on final_state. d_features (T*B, I), when given and the input is
  // features, receives the input gradient.
  void backward(const Batch<Real>& batch, const ModelCache<Real>& cache, const Real* dlogits,
                const ModelState<Real>* d_final_state = nullptr, ModelState<Real>* d_init_state = nullptr,
                std::vector<Real>* d_features = nullptr);

  // The head applied to logits (N, O) in place: softmax, sigmoid or identity.
  void apply_head(Real* logits, int64_t N) const;

  ParamStore<Real>& params() { return params_; }
  const ParamStore<Real>& params() const { return params_; }
  const ModelConfig& config() const { return config_; }
  size_t state_size(int B) const;  // L*D*B*H
  int output_rows(const Batch<Real>& batch) const;

 private:
  void check_batch(const Batch<Real>& batch) const;

  ModelConfig config_;
  ParamStore<Real> params_;
  std::optional<Embedding<Real>> embedding_;
  std::optional<Recurrent<Real>> rnn_;
  std::optional<Dense<Real>> fc_;
};

// The gradient-free row mask of a time-major batch: 1 where t < lengths[b].
std::vector<uint8_t> step_mask(int T, int B, const std::vector<int>& lengths);

}  // namespace rnnkit
