// Predictor: a task model loaded once and used from anywhere (the CLI, the Python module, the
// server), turning raw inputs into answers: texts into labels or values, sentences into tags, audio
// files into labels, numeric series into per-row tags or forecasts. Its model never changes after
// loading, so any number of threads may call it at once; each call works in its own buffers, an
// inference cache taken from a pool and given back (the weights packed by an earlier call, and its
// buffers, are reused; calls at the same time each get their own).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rnnkit/deploy/stream.h"
#include "rnnkit/workflow/task.h"

namespace rnnkit::workflow {

struct LabelScore {
  std::string label;
  double probability = 0;
};
struct TokenTag {
  std::string token, tag;
  double probability = 0;
};

// The answer for one input: labels (classify: top-k, most probable first), value (regress), tags
// (tag: one per token or per row).
struct Prediction {
  std::vector<LabelScore> labels;
  std::optional<double> value;
  std::vector<TokenTag> tags;
};

class Predictor {
 public:
  // A model file from `rnnkit train`, or a bare model (converted from PyTorch, no task
  // preprocessing): a bare model runs forward and streams on model inputs only.
  explicit Predictor(const std::string& model_path);
  explicit Predictor(LoadedTaskModel loaded);

  // Texts through the model's text pipeline, run as padded batches of up to `batch_size` texts of
  // alike length (sorted by length; a padded batch gives each text the answer it gets alone, but for
  // float rounding: the products sum in other blocks), the answers in the texts' order. Classify,
  // regress, and tag models on text.
  std::vector<Prediction> predict_texts(const std::vector<std::string>& texts, int top_k = 1,
                                        int batch_size = 64) const;
  // Audio files (classify models trained on audio), batched the same way.
  std::vector<Prediction> predict_audio(const std::vector<std::string>& paths, int top_k = 1,
                                        int batch_size = 64) const;
  // A numeric series (rows, F) in the units of the training columns (numeric tag models): a tag per
  // row, from consecutive windows of the trained length (the last aligned to the end).
  Prediction tag_series(const std::vector<double>& rows, size_t row_count) const;
  // The next `horizon` rows (0: the model's own) of every target after the table's last row
  // (forecast models), (horizon, K) in the targets' units; beyond the model's horizon the forecasts
  // are fed back as inputs.
  std::vector<double> forecast(const NumericTable& table, size_t horizon = 0) const;

  // The model's head outputs (probabilities or scaled values) for raw model inputs: token ids or
  // feature vectors, `batch` sequences of `steps` each, (batch * rows, O) with rows = steps for
  // per-step models and 1 otherwise. For models converted from PyTorch, this is its forward pass.
  // `lengths`, when given (batch values in 1..steps), are the sequences' real steps, the rest
  // padding, as PyTorch's pack_padded_sequence: a sequence gets what it gets alone, its last-step
  // and mean outputs over its real steps, and a per-step model's padded steps the head of a zero
  // state.
  std::vector<float> forward_tokens(const int32_t* ids, int batch, int steps, const int* lengths = nullptr) const;
  std::vector<float> forward_features(const float* x, int batch, int steps, const int* lengths = nullptr) const;

  // A stream over this model (shares it); throws for bidirectional models.
  Stream<float> stream() const { return Stream<float>(model_); }

  const Model<float>& model() const { return *model_; }
  std::shared_ptr<const Model<float>> shared_model() const { return model_; }
  const TaskState& state() const { return state_; }
  bool has_task() const { return has_task_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // {"task", "labels", "config", "parameters", "input": "text" | "audio" | "series", ...} as JSON.
  std::string describe_json() const;
  // The label names for a softmax output row (classify: labels; tag: tags; lm: tokens).
  std::vector<LabelScore> top_k(const float* probabilities, int k) const;

 private:
  std::vector<Prediction> answer(const std::vector<float>& logits, size_t n, int top_k) const;

  // Inference caches kept between calls: take_cache() hands out a free one (a new one when all are
  // in use) and the lease gives it back when the call ends.
  struct CachePool;
  struct CacheReturn {
    std::shared_ptr<CachePool> pool;
    void operator()(ModelCache<float>* cache) const noexcept;
  };
  using CacheLease = std::unique_ptr<ModelCache<float>, CacheReturn>;
  CacheLease take_cache() const;
  std::vector<float> forward_batch(Batch<float> b) const;

  std::shared_ptr<const Model<float>> model_;
  TaskState state_;
  std::map<std::string, std::string> metadata_;
  bool has_task_ = true;
  std::string source_;  // the file, for messages
  std::shared_ptr<CachePool> caches_;  // shared by copies, as the model is
  void require_task() const;
  Predictor(std::pair<LoadedTaskModel, bool> loaded, const std::string& source);
};

}  // namespace rnnkit::workflow
