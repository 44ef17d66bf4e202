// Model: the composition of embedding, recurrent layers, dropout and the dense head.
#include "rnnkit/nn/model.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "src/core/blocked_gemm.h"
#include "rnnkit/core/error.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/nn/dropout.h"
#include "rnnkit/nn/activations.h"
#include "rnnkit/nn/loss.h"

namespace rnnkit {

namespace {

// Values below which a pass over the recurrent output stays on one thread (64 KB of floats: waking
// the other threads costs more than they would save).
constexpr int64_t kSplitValues = int64_t(16) << 10;

// A padded batch's valid rows (rows: RecurrentCache::live_rows, ascending) gathered for the head, and
// its results put back; W values a row.
// gather_rows: dst[k] = src[rows[k]].
template <typename Real>
void gather_rows(const Real* src, int W, const std::vector<int64_t>& rows, Real* dst) {
  for (size_t k = 0; k < rows.size(); ++k) std::copy_n(src + rows[k] * W, W, dst + int64_t(k) * W);
}
// scatter_rows: dst (n, W) gets dst[rows[k]] = src[k], and every other row (the padded steps') the
// row `rest`, or zeros when rest is null; each row written once.
template <typename Real>
void scatter_rows(const Real* src, int W, const std::vector<int64_t>& rows, int64_t n,
                  std::type_identity_t<const Real*> rest, Real* dst) {
  int64_t next = 0;  // the first row not yet written
  for (size_t k = 0; k <= rows.size(); ++k) {
    const int64_t r = k < rows.size() ? rows[k] : n;
    if (!rest) std::fill(dst + next * W, dst + r * W, Real(0));
    else
      for (; next < r; ++next) std::copy_n(rest, W, dst + next * W);
    if (k < rows.size()) std::copy_n(src + int64_t(k) * W, W, dst + r * W);
    next = r + 1;
  }
}

}  // namespace

const char* output_mode_name(OutputMode mode) {
  switch (mode) {
    case OutputMode::PerStep: return "per_step";
    case OutputMode::Last: return "last";
    case OutputMode::Mean: return "mean";
  }
  return "?";
}

OutputMode parse_output_mode(const std::string& name) {
  if (name == "per_step") return OutputMode::PerStep;
  if (name == "last") return OutputMode::Last;
  if (name == "mean") return OutputMode::Mean;
  throw Error("unknown output mode '" + name + "': expected per_step, last or mean");
}

const char* head_name(Head head) {
  switch (head) {
    case Head::Softmax: return "softmax";
    case Head::Sigmoid: return "sigmoid";
    case Head::Identity: return "identity";
  }
  return "?";
}

Head parse_head(const std::string& name) {
  for (Head h : {Head::Softmax, Head::Sigmoid, Head::Identity})
    if (name == head_name(h)) return h;
  throw Error("unknown head '" + name + "': expected softmax, sigmoid or identity");
}

void ModelConfig::validate() const {
  auto positive = [](int v, const char* field) {
    require(v > 0, std::string("model config: ") + field + " must be positive, got " + std::to_string(v));
  };
  require(vocab_size >= 0, "model config: vocab_size must not be negative, got " + std::to_string(vocab_size));
  if (uses_embedding()) {
    positive(embedding_dim, "embedding_dim");
    require(padding_idx >= -1 && padding_idx < vocab_size,
            "model config: padding_idx " + std::to_string(padding_idx) + " is outside [-1, vocab_size)");
  } else {
    positive(input_size, "input_size (features per step, needed without an embedding)");
  }
  positive(hidden_size, "hidden_size");
  positive(num_layers, "num_layers");
  positive(output_size, "output_size");
  require(dropout >= 0.0 && dropout < 1.0, "model config: dropout must lie in [0, 1), got " + std::to_string(dropout));
  require(output_dropout >= 0.0 && output_dropout < 1.0,
          "model config: output_dropout must lie in [0, 1), got " + std::to_string(output_dropout));
}

std::vector<uint8_t> step_mask(int T, int B, const std::vector<int>& lengths) {
  std::vector<uint8_t> mask(size_t(T) * B);
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b) mask[size_t(t) * B + b] = t < lengths[b] ? 1 : 0;
  return mask;
}

template <typename Real>
Model<Real>::Model(const ModelConfig& config) : config_(config) {
  config.validate();
  if (config.uses_embedding())
    embedding_.emplace(EmbeddingConfig{config.vocab_size, config.embedding_dim, config.padding_idx,
                                       config.freeze_embedding},
                       params_, "embedding");
  RecurrentConfig rc;
  rc.cell = config.cell;
  rc.input_size = config.rnn_input_size();
  rc.hidden_size = config.hidden_size;
  rc.num_layers = config.num_layers;
  rc.bidirectional = config.bidirectional;
  rc.dropout = config.dropout;
  rnn_.emplace(rc, params_, "rnn");
  fc_.emplace(DenseConfig{config.directions() * config.hidden_size, config.output_size, true}, params_, "fc");
}

template <typename Real>
void Model<Real>::init(Rng& rng) {
  if (embedding_) embedding_->init(params_, rng);
  rnn_->init(params_, rng);
  fc_->init(params_, rng);
}

template <typename Real>
size_t Model<Real>::state_size(int B) const {
  return size_t(config_.num_layers) * config_.directions() * B * config_.hidden_size;
}

template <typename Real>
int Model<Real>::output_rows(const Batch<Real>& batch) const {
  return config_.output == OutputMode::PerStep ? batch.T * batch.B : batch.B;
}

template <typename Real>
void Model<Real>::check_batch(const Batch<Real>& batch) const {
  const size_t TB = size_t(batch.T) * batch.B;
  require(batch.T >= 0 && batch.B >= 0, "batch has negative dimensions");
  require(batch.lengths.size() == size_t(batch.B), [&] {
    return "batch has " + std::to_string(batch.lengths.size()) + " lengths for " + std::to_string(batch.B) +
           " sequences";
  });
  if (config_.uses_embedding())
    require(batch.tokens.size() == TB, [&] {
      return "batch has " + std::to_string(batch.tokens.size()) + " tokens, expected T*B = " + std::to_string(TB);
    });
  else
    require(batch.features.size() == TB * config_.input_size, [&] {
      return "batch has " + std::to_string(batch.features.size()) + " feature values, expected T*B*input_size = " +
             std::to_string(TB * config_.input_size);
    });
}

template <typename Real>
void Model<Real>::forward(const Batch<Real>& batch, ModelCache<Real>& cache, bool training, Rng* rng,
                          const ModelState<Real>* init_state, ModelState<Real>* final_state) const {
  check_batch(batch);
  const int T = batch.T, B = batch.B, H = config_.hidden_size, DH = config_.directions() * H;
  const int64_t TB = int64_t(T) * B;
  const size_t S = state_size(B);
  const bool lstm = config_.cell == CellKind::Lstm;
  if (init_state) {
    require(init_state->h.size() == S, [&] {
      return "initial state h has " + std::to_string(init_state->h.size()) +
             " values, expected layers*directions*B*H = " + std::to_string(S);
    });
    require(!lstm || init_state->c.size() == S || init_state->c.empty(), [&] {
      return "initial state c has " + std::to_string(init_state->c.size()) + " values, expected " +
             std::to_string(S);
    });
  }

  const Real* x = batch.features.data();
  if (embedding_) {
    cache.embedded.resize(TB * config_.embedding_dim);
    embedding_->forward(params_, batch.tokens.data(), int(TB), cache.embedded.data());
    x = cache.embedded.data();
  }
  cache.rnn_out.resize(TB * DH);
  Real *hn = nullptr, *cn = nullptr;
  if (final_state) {
    final_state->h.resize(S);
    hn = final_state->h.data();
    if (lstm) {
      final_state->c.resize(S);
      cn = final_state->c.data();
    } else {
      final_state->c.clear();
    }
  }
  const Real* h0 = init_state ? init_state->h.data() : nullptr;
  const Real* c0 = init_state && lstm && !init_state->c.empty() ? init_state->c.data() : nullptr;
  cache.rnn.inference = cache.inference;
  rnn_->forward(params_, x, T, B, batch.lengths.data(), h0, c0, cache.rnn_out.data(), hn, cn, cache.rnn,
                training, rng);

  cache.rows = output_rows(batch);
  if (config_.output == OutputMode::Last) {
    cache.features.resize(size_t(B) * DH);
    gather_last(cache.rnn_out.data(), T, B, config_.directions(), H, batch.lengths.data(), cache.features.data());
  } else if (config_.output == OutputMode::Mean) {
    // features[b] = sum_{t < len_b} y[t, b] / len_b (zero for an empty sequence), the steps added in
    // order; sequences split over the threads (the pass reads all of the layer's output).
    cache.features.assign(size_t(B) * DH, Real(0));
    const bool split = TB * DH >= kSplitValues;
    parallel_slices_weighted(B, split ? 1 : std::max(B, 1), batch.lengths.data(), [&](int b0, int b1) {
      for (int b = b0; b < b1; ++b) {
        const int len = batch.lengths[size_t(b)];
        if (len <= 0) continue;
        Real* f = cache.features.data() + size_t(b) * DH;
        add_rows(len, DH, cache.rnn_out.data() + size_t(b) * DH, int64_t(B) * DH, f, 0);
        for (int k = 0; k < DH; ++k) f[k] /= Real(len);
      }
    });
  }
  const bool output_dropout = training && config_.output_dropout > 0.0;
  cache.features_are_rnn_out = config_.output == OutputMode::PerStep && !output_dropout;
  if (config_.output == OutputMode::PerStep && output_dropout) cache.features = cache.rnn_out;
  cache.dropout_mask.clear();
  if (output_dropout) {
    require(rng != nullptr, "output dropout in training needs a random generator");
    dropout_forward(cache.features.data(), int64_t(cache.features.size()), config_.output_dropout, *rng,
                    cache.dropout_mask);
  }
  const int O = config_.output_size;
  cache.logits.resize(size_t(cache.rows) * O);
  const std::vector<int64_t>& live = cache.rnn.live_rows;  // the valid steps when some are padded
  if (config_.output != OutputMode::PerStep || live.empty()) {
    cache.head_in.clear();
    fc_->forward(params_, cache.dense_input(), cache.rows, cache.logits.data());
    return;
  }
  // A padded batch: the head on its valid steps only (a per-step head's work and memory traffic then
  // follow the real steps, as the recurrent layers' do; a large output, a vocabulary, dominates a
  // step). Its output at a padded step's zero is the bias: computed once, on one zero row.
  const int64_t R = int64_t(live.size());
  cache.head_in.resize(size_t(R) * DH);
  gather_rows(cache.dense_input(), DH, live, cache.head_in.data());
  std::vector<Real> zero(static_cast<size_t>(DH), Real(0)), padded(static_cast<size_t>(O));
  fc_->forward(params_, zero.data(), 1, padded.data());
  cache.head_out.resize(size_t(R) * O);
  fc_->forward(params_, cache.head_in.data(), int(R), cache.head_out.data());
  scatter_rows(cache.head_out.data(), O, live, cache.rows, padded.data(), cache.logits.data());
}

template <typename Real>
double Model<Real>::loss(const Batch<Real>& batch, const ModelCache<Real>& cache, Real* dlogits) const {
  const int N = cache.rows, O = config_.output_size;
  const bool per_step = config_.output == OutputMode::PerStep;
  std::vector<uint8_t> mask;
  if (per_step) {
    mask = step_mask(batch.T, batch.B, batch.lengths);
  } else {
    mask.resize(batch.B);
    for (int b = 0; b < batch.B; ++b) mask[b] = batch.lengths[b] > 0 ? 1 : 0;
  }
  if (config_.head == Head::Softmax) {
    require(batch.labels.size() == size_t(N), "batch has " + std::to_string(batch.labels.size()) +
                                                  " labels, expected " + std::to_string(N) +
                                                  (per_step ? " (one per step, T*B)" : " (one per sequence)"));
    std::vector<int32_t> targets(batch.labels);
    for (int n = 0; n < N; ++n)
      if (!mask[n]) targets[n] = -1;
    return cross_entropy(cache.logits.data(), N, O, targets.data(), Reduction::Mean, dlogits);
  }
  require(batch.values.size() == size_t(N) * O,
          "batch has " + std::to_string(batch.values.size()) + " target values, expected " +
              std::to_string(size_t(N) * O) + (per_step ? " (T*B*output_size)" : " (B*output_size)"));
  if (config_.head == Head::Sigmoid)
    return binary_cross_entropy_with_logits(cache.logits.data(), batch.values.data(), N, O, mask.data(),
                                            Reduction::Mean, dlogits);
  return mse(cache.logits.data(), batch.values.data(), N, O, mask.data(), Reduction::Mean, dlogits);
}

template <typename Real>
void Model<Real>::backward(const Batch<Real>& batch, const ModelCache<Real>& cache, const Real* dlogits,
                           const ModelState<Real>* d_final_state, ModelState<Real>* d_init_state,
                           std::vector<Real>* d_features) {
  const int T = batch.T, B = batch.B, H = config_.hidden_size, D = config_.directions(), DH = D * H;
  const int64_t TB = int64_t(T) * B;
  const size_t S = state_size(B);
  const bool lstm = config_.cell == CellKind::Lstm;

  auto& dfeatures = cache.dfeatures;
  dfeatures.resize(size_t(cache.rows) * DH);  // all written by the head's backward (or below)
  if (cache.head_in.empty()) {
    fc_->backward(params_, cache.dense_input(), cache.rows, dlogits, dfeatures.data());
  } else {  // the head ran on the valid steps only: their gradients, the padded steps' zero
    const std::vector<int64_t>& live = cache.rnn.live_rows;
    const int64_t R = int64_t(live.size());
    const int O = config_.output_size;
    cache.head_dlogits.resize(size_t(R) * O);
    gather_rows(dlogits, O, live, cache.head_dlogits.data());
    cache.head_dinput.resize(size_t(R) * DH);
    fc_->backward(params_, cache.head_in.data(), int(R), cache.head_dlogits.data(), cache.head_dinput.data());
    scatter_rows(cache.head_dinput.data(), DH, live, cache.rows, nullptr, dfeatures.data());
  }
  if (!cache.dropout_mask.empty()) dropout_backward(dfeatures.data(), cache.dropout_mask);

  // The recurrent output's gradient: the head's input gradient itself for a per-step head (T*B rows
  // already); spread over the steps into drnn_out for the last step or the mean.
  auto& drnn_out = cache.drnn_out;
  const Real* dy = dfeatures.data();
  if (config_.output == OutputMode::Last) {
    drnn_out.assign(TB * DH, Real(0));
    scatter_last(dfeatures.data(), T, B, D, H, batch.lengths.data(), drnn_out.data());
    dy = drnn_out.data();
  } else if (config_.output == OutputMode::Mean) {
    // dy[t, b] = dfeatures[b] / len_b on valid steps, zero on padded ones: each row written once,
    // the steps split over the threads.
    auto& share = cache.mean_share;  // (B, DH): dfeatures[b] / len_b
    share.resize(size_t(B) * DH);
    for (int b = 0; b < B; ++b)
      for (int k = 0; k < DH; ++k)
        share[size_t(b) * DH + k] = dfeatures[size_t(b) * DH + k] / Real(std::max(batch.lengths[size_t(b)], 1));
    drnn_out.resize(TB * DH);
    const int steps_per_slice = int(std::max<int64_t>(1, kSplitValues / std::max<int64_t>(1, int64_t(B) * DH)));
    parallel_slices(T, steps_per_slice, [&](int t0, int t1) {
      for (int t = t0; t < t1; ++t)
        for (int b = 0; b < B; ++b) {
          Real* out = drnn_out.data() + (size_t(t) * B + size_t(b)) * DH;
          if (t < batch.lengths[size_t(b)]) std::copy_n(share.data() + size_t(b) * DH, DH, out);
          else std::fill_n(out, DH, Real(0));
        }
    });
    dy = drnn_out.data();
  }

  const Real* dhn = nullptr;
  const Real* dcn = nullptr;
  if (d_final_state) {
    require(d_final_state->h.size() == S, "final-state gradient h has the wrong size");
    dhn = d_final_state->h.data();
    if (lstm && !d_final_state->c.empty()) {
      require(d_final_state->c.size() == S, "final-state gradient c has the wrong size");
      dcn = d_final_state->c.data();
    }
  }
  Real *dh0 = nullptr, *dc0 = nullptr;
  if (d_init_state) {
    d_init_state->h.assign(S, Real(0));
    dh0 = d_init_state->h.data();
    if (lstm) {
      d_init_state->c.assign(S, Real(0));
      dc0 = d_init_state->c.data();
    } else {
      d_init_state->c.clear();
    }
  }

  auto& dx = cache.dembedded;
  Real* dx_ptr = nullptr;
  if (embedding_ && !config_.freeze_embedding) {
    dx.assign(TB * config_.embedding_dim, Real(0));
    dx_ptr = dx.data();
  } else if (!embedding_ && d_features) {
    d_features->assign(TB * config_.input_size, Real(0));
    dx_ptr = d_features->data();
  }
  rnn_->backward(params_, cache.rnn, dy, dhn, dcn, dx_ptr, dh0, dc0);
  if (embedding_ && !config_.freeze_embedding)
    embedding_->backward(params_, batch.tokens.data(), int(TB), dx.data());
}

template <typename Real>
void Model<Real>::apply_head(Real* logits, int64_t N) const {
  const int O = config_.output_size;
  if (config_.head == Head::Softmax) {
    softmax_rows(logits, N, O);
  } else if (config_.head == Head::Sigmoid) {
    for (int64_t k = 0; k < N * O; ++k) logits[k] = sigmoid(logits[k]);
  }
}

template class Model<float>;
template class Model<double>;

}  // namespace rnnkit
