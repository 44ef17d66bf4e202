// The task layer behind a model file written by the workflow (CLI, Python, server): the preprocessing
// state (TaskState), loading data files by task, batch sources, metrics reports and output helpers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rnnkit/data/audio.h"
#include "rnnkit/data/preprocess.h"
#include "rnnkit/data/readers.h"
#include "rnnkit/data/scaler.h"
#include "rnnkit/rnnkit.h"
#include "rnnkit/train/trainer.h"

namespace rnnkit::workflow {

bool ends_with(const std::string& s, const std::string& suffix);

enum class Task { Classify, Lm, Forecast, Tag, Regress };
const char* task_name(Task t);
Task parse_task(const std::string& name);

// The preprocessing entry of a model file written by the CLI:
// {"task": "classify", "text": {TextPreprocessor}, "labels": [...], "seq_len": N}
struct TaskState {
  Task task = Task::Classify;
  TextPreprocessor text;            // classify, lm
  std::vector<std::string> labels;  // classify; tag: the tag values
  int seq_len = 100;                // lm: training window
  // forecast: columns of a numeric CSV, windows of `window` rows predicting the next `horizon` rows of
  // the targets, all columns (features then targets) scaled by `scaler` fitted on the training rows.
  std::vector<std::string> features, targets;
  std::vector<std::string> future;  // known-ahead columns (calendar): each step also sees them `horizon` rows later
  int window = 0, horizon = 1, season = 7;
  // Seasonal-relative windows: each forecast is made relative to the target's value one season
  // before it (the seasonal-naive forecast), which is subtracted from the output and added back to
  // the model's forecast; the target's input column is made relative to the same anchor. The model
  // learns corrections to the naive forecast, and a drifting level does not bias it. Needs every
  // target among the features and window >= season.
  bool relative = false;
  bool text_input = false;  // tag: tokens of CoNLL / JSON-lines sentences instead of numeric rows
  // classify audio: each clip becomes (frames, F) MFCC or log-mel features, standardised per feature
  // with `scaler` (fitted on the training frames).
  bool audio_input = false;
  AudioFeatureConfig audio;
  std::string audio_features = "mfcc";  // mfcc or logmel
  bool audio_cmvn = false;              // subtract each clip's own mean per feature (speaker, channel)
  int audio_feature_count() const { return audio_features == "mfcc" ? audio.n_mfcc : audio.n_mels; }
  // The clip's (frames, F) features before the scaler (with the per-clip mean removed when cmvn).
  std::vector<float> raw_audio_frames(const AudioClip& clip) const;
  // The clip's scaled (frames, F) features; throws naming the file when its sample rate differs.
  std::vector<float> audio_frames(const AudioClip& clip) const;
  // Raw features through the scaler (an empty clip becomes one frame at the training mean).
  std::vector<float> scale_audio(std::vector<float> raw) const;
  double target_mean = 0;   // regress: the training targets' mean, the baseline eval compares with
  Scaler scaler;
  // Per window: the anchors (horizon * K), zero unless relative; subtracts them in place.
  std::vector<float> normalise_window(std::vector<float>& input, std::vector<float>* output) const;
  // Token ids of a raw text through the text pipeline; an empty text becomes <unk>, so it still predicts.
  std::vector<int32_t> encode_text(std::string_view raw) const;
  // encode_text of n texts, text(i) the i-th, on every thread.
  std::vector<std::vector<int32_t>> encode_texts(size_t n, FunctionRef<std::string_view(size_t)> text) const;
  // Fits the text pipeline on the training texts and returns them as encode_text gives them.
  std::vector<std::vector<int32_t>> fit_text(const std::vector<std::string>& texts);
  // Every token id of a text, untruncated and possibly none: the next steps of a stream.
  std::vector<int32_t> encode_steps(std::string_view raw) const { return text.vocab().encode(text.tokens(raw)); }

  std::string to_json() const;
  static TaskState from_json(const std::string& json, const std::string& where);
};

struct LoadedTaskModel {
  Model<float> model;
  TaskState state;
  std::map<std::string, std::string> metadata;
};
LoadedTaskModel load_task_model(const std::string& path);
// The same from a model already read (`path` names it in errors).
LoadedTaskModel task_model(LoadedModel<float> m, const std::string& path);

// Classification data from a folder per class, fastText lines (.ft, .fasttext, or lines with
// __label__), JSON lines (.jsonl) or a table (.csv, .tsv): columns by name or 0-based position.
TextDataset read_classification(const std::string& path, const std::string& text_column,
                                const std::string& label_column);

// Texts with a number each (regress): encoded, the targets scaled by the state's scaler.
class RegressSource : public BatchSource {
 public:
  RegressSource(std::vector<std::vector<int32_t>> ids, std::vector<float> values, int32_t pad_id)
      : ids_(std::move(ids)), values_(std::move(values)), pad_(pad_id) {}
  size_t size() const override { return ids_.size(); }
  int length(size_t i) const override { return int(ids_[i].size()); }
  Batch<float> batch(const std::vector<size_t>& indices) const override {
    Batch<float> b = token_batch<float>(ids_, indices, pad_);
    for (size_t i : indices) b.values.push_back(values_[i]);
    return b;
  }
  const std::vector<float>& values() const { return values_; }

 private:
  std::vector<std::vector<int32_t>> ids_;
  std::vector<float> values_;
  int32_t pad_;
};

// The labels of a text data set as numbers; throws naming the example when one is not.
std::vector<double> regress_targets(const TextDataset& data);
// Encodes a text data set whose labels are numbers, scaling them with the state's scaler; `ids` as
// for classify_source.
std::unique_ptr<RegressSource> regress_source(const TaskState& state, const TextDataset& data,
                                              std::vector<std::vector<int32_t>> ids = {});
// RMSE and MAE of a regression model on a source, in the target's units, and of predicting `baseline`.
struct RegressReport {
  int64_t count = 0;
  double rmse = 0, mae = 0, baseline_rmse = 0, baseline_mae = 0;
};
RegressReport regress_report(const Model<float>& model, const TaskState& state, const RegressSource& data,
                             double baseline);
// The same from predictions gathered in another pass over `data` (by regress_values: in the target's
// units, one per example, in the source's order).
RegressReport regress_report(const TaskState& state, const RegressSource& data, const std::vector<double>& predicted,
                             double baseline);
// Writes each batch's predictions, in the target's units, into out[example] (out sized to the source).
SplitBatchFn regress_values(const TaskState& state, std::vector<double>& out);

// A folder with one sub-folder per class whose files are audio (.wav, .flac, .ogg, .aiff, .au).
bool is_audio_folder(const std::string& path);
bool is_audio_file(const std::string& path);

// Audio clips as scaled feature sequences with label ids.
class AudioSource : public BatchSource {
 public:
  AudioSource(std::vector<std::vector<float>> frames, std::vector<int32_t> labels, int features)
      : frames_(std::move(frames)), labels_(std::move(labels)), features_(features) {}
  size_t size() const override { return frames_.size(); }
  int length(size_t i) const override { return int(frames_[i].size()) / features_; }
  Batch<float> batch(const std::vector<size_t>& indices) const override;
  const std::vector<int32_t>& labels() const { return labels_; }

 private:
  std::vector<std::vector<float>> frames_;
  std::vector<int32_t> labels_;
  int features_;
};
// Features and label ids of labelled clips with the state's pipeline; throws naming the clip whose
// label is not among the state's. `raw`, when given, holds the clips' unscaled features already
// computed (training computes them once to fit the scaler).
std::unique_ptr<AudioSource> audio_source(const TaskState& state, const std::vector<LabelledClip>& clips,
                                          std::vector<std::vector<float>> raw = {});

class ClassifySource;
// Encodes a classification data set with the state's pipeline and labels; throws naming the example
// whose label is not among them. `ids`, when given, are its texts already encoded (training encodes
// them while fitting the pipeline).
std::unique_ptr<ClassifySource> classify_source(const TaskState& state, const TextDataset& data,
                                                std::vector<std::vector<int32_t>> ids = {});

// Encoded texts with label ids, served as batches of one output per sequence.
class ClassifySource : public BatchSource {
 public:
  ClassifySource(std::vector<std::vector<int32_t>> ids, std::vector<int32_t> labels, int32_t pad_id)
      : ids_(std::move(ids)), labels_(std::move(labels)), pad_(pad_id) {}
  size_t size() const override { return ids_.size(); }
  int length(size_t i) const override { return int(ids_[i].size()); }
  Batch<float> batch(const std::vector<size_t>& indices) const override;
  const std::vector<int32_t>& labels() const { return labels_; }
  const std::vector<std::vector<int32_t>>& ids() const { return ids_; }

 private:
  std::vector<std::vector<int32_t>> ids_;
  std::vector<int32_t> labels_;
  int32_t pad_;
};

// A token stream cut into windows of seq_len inputs with next-token targets.
class LmSource : public BatchSource {
 public:
  LmSource(std::vector<int32_t> ids, int seq_len);
  size_t size() const override { return starts_.size(); }
  int length(size_t) const override { return seq_len_; }
  Batch<float> batch(const std::vector<size_t>& indices) const override;
  size_t tokens() const { return ids_.size(); }

 private:
  std::vector<int32_t> ids_;
  int seq_len_;
  std::vector<size_t> starts_;
};

// Windows of numeric features with their future targets, as one-output-per-sequence batches.
class WindowSource : public BatchSource {
 public:
  WindowSource(std::vector<std::vector<float>> inputs, std::vector<std::vector<float>> outputs, int features)
      : inputs_(std::move(inputs)), outputs_(std::move(outputs)), features_(features) {}
  size_t size() const override { return inputs_.size(); }
  int length(size_t i) const override { return int(inputs_[i].size()) / features_; }
  Batch<float> batch(const std::vector<size_t>& indices) const override;
  const std::vector<std::vector<float>>& outputs() const { return outputs_; }

 private:
  std::vector<std::vector<float>> inputs_, outputs_;
  int features_;
};

// A forecasting data set cut from a numeric table: scaled windows split by time by their first
// target row (training targets come first, then validation, then test: no look-ahead).
struct ForecastData {
  std::unique_ptr<WindowSource> train, valid, test;
  std::vector<size_t> test_target_rows;  // first target row of each test window
  std::vector<std::vector<float>> test_levels;  // per test window, added back to its forecasts
};
// The windows scaled by state.scaler (a trained model's); fit_forecast_data first fits state.scaler
// on the rows before the validation part (training).
ForecastData forecast_data(const NumericTable& table, const TaskState& state, double valid_fraction,
                           double test_fraction);
ForecastData fit_forecast_data(const NumericTable& table, TaskState& state, double valid_fraction, double test_fraction);
// RMSE and MAE of the model's test forecasts in the targets' own units, beside two seasonal-naive
// baselines that use only what is known at forecast time: the value one season earlier, and the mean
// of the last four seasons' values.
struct ForecastReport {
  int64_t count = 0;
  double rmse = 0, mae = 0, naive_rmse = 0, naive_mae = 0, naive4_rmse = 0, naive4_mae = 0;
};
ForecastReport forecast_report(const Model<float>& model, const TaskState& state, const NumericTable& table,
                               const ForecastData& data);

// The (rows, F + K + U) matrix of a table's feature, target and known-ahead columns, unscaled.
std::vector<double> forecast_matrix(const NumericTable& table, const TaskState& state);

// Per-step tagging of a numeric series: windows of feature rows with one tag per row.
class TagSource : public BatchSource {
 public:
  TagSource(std::vector<std::vector<float>> inputs, std::vector<std::vector<int32_t>> tags, int features)
      : inputs_(std::move(inputs)), tags_(std::move(tags)), features_(features) {}
  size_t size() const override { return inputs_.size(); }
  int length(size_t i) const override { return int(tags_[i].size()); }
  Batch<float> batch(const std::vector<size_t>& indices) const override;
  const std::vector<std::vector<int32_t>>& tags() const { return tags_; }

 private:
  std::vector<std::vector<float>> inputs_;
  std::vector<std::vector<int32_t>> tags_;
  int features_;
};

// Tagging data cut from a numeric table by time (train, then valid, then test rows), each part in
// windows of state.window rows; the tag column's values are the labels (sorted as numbers).
struct TagData {
  std::unique_ptr<TagSource> train, valid, test;
};
// tag_data reads the state's labels and scaler (a trained model's); fit_tag_data first sets
// state.labels to the tag values in the table and fits state.scaler on the training rows.
TagData tag_data(const NumericTable& table, const TaskState& state, double valid_fraction, double test_fraction);
TagData fit_tag_data(const NumericTable& table, TaskState& state, double valid_fraction, double test_fraction);

// Sentences of token ids with one tag id per token.
class TextTagSource : public BatchSource {
 public:
  TextTagSource(std::vector<std::vector<int32_t>> ids, std::vector<std::vector<int32_t>> tags, int32_t pad)
      : ids_(std::move(ids)), tags_(std::move(tags)), pad_(pad) {}
  size_t size() const override { return ids_.size(); }
  int length(size_t i) const override { return int(ids_[i].size()); }
  Batch<float> batch(const std::vector<size_t>& indices) const override {
    return token_batch<float>(ids_, indices, pad_, 0, Side::Back, nullptr, &tags_);
  }

 private:
  std::vector<std::vector<int32_t>> ids_, tags_;
  int32_t pad_;
};

// Tagged sentences from CoNLL columns (.conll, .txt, ...) or JSON lines (.jsonl).
std::vector<TaggedSentence> read_tagged(const std::string& path);
// Encodes sentences with the state's text pipeline (each token cleaned, unknown ones <unk>) and tags.
std::unique_ptr<TextTagSource> text_tag_source(const TaskState& state, const std::vector<TaggedSentence>& sentences);

// Argmax class of every example of a one-output-per-sequence source.
std::vector<int32_t> predict_classes(const Model<float>& model, const BatchSource& data, int batch_size = 64);
// The same gathered in someone else's pass over a source (evaluate_loss's, a validation's): writes each
// batch's argmax classes into out[example] (out sized to the source).
SplitBatchFn class_argmax(int classes, std::vector<int32_t>& out);

// Appends each batch's per-step argmax tags and gold tags (valid steps) to predicted[example] and
// gold[example] (both sized to the source; with chunks, an example's steps arrive chunk by chunk).
SplitBatchFn step_argmax(int classes, std::vector<std::vector<int32_t>>& predicted,
                         std::vector<std::vector<int32_t>>& gold);
// Per-step argmax tags of every example of a source, and the gold tags, flattened (valid steps only).
void predict_tags(const Model<float>& model, const BatchSource& data, std::vector<int32_t>& predicted,
                  std::vector<int32_t>& gold);

// Writes `text` to `path` atomically.
void write_text_atomically(const std::string& path, const std::string& text);
// A small SVG line chart of training and validation loss per epoch.
std::string learning_curve_svg(const std::vector<EpochRecord>& history);
std::string history_json(const std::vector<EpochRecord>& history);

}  // namespace rnnkit::workflow
