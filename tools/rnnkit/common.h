// What the rnnkit commands share: the task data behind a model (preprocessing JSON), loading data
// files by type, batch sources, and output helpers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rnnkit/data/preprocess.h"
#include "rnnkit/data/readers.h"
#include "rnnkit/rnnkit.h"
#include "rnnkit/train/trainer.h"

namespace rnnkit::cli {

enum class Task { Classify, Lm };
const char* task_name(Task t);
Task parse_task(const std::string& name);

// The preprocessing entry of a model file written by the CLI:
// {"task": "classify", "text": {TextPreprocessor}, "labels": [...], "seq_len": N}
struct TaskState {
  Task task = Task::Classify;
  TextPreprocessor text;
  std::vector<std::string> labels;  // classify
  int seq_len = 100;                // lm: training window
  std::string to_json() const;
  static TaskState from_json(const std::string& json, const std::string& where);
};

struct LoadedTaskModel {
  Model<float> model;
  TaskState state;
  std::map<std::string, std::string> metadata;
};
LoadedTaskModel load_task_model(const std::string& path);

// Classification data from a folder per class, fastText lines (.ft, .fasttext, or lines with
// __label__), JSON lines (.jsonl) or a table (.csv, .tsv): columns by name or 0-based position.
TextDataset read_classification(const std::string& path, const std::string& text_column,
                                const std::string& label_column);

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

// Writes `text` to `path` atomically.
void write_text_atomically(const std::string& path, const std::string& text);
// A small SVG line chart of training and validation loss per epoch.
std::string learning_curve_svg(const std::vector<EpochRecord>& history);
std::string history_json(const std::vector<EpochRecord>& history);

}  // namespace rnnkit::cli
