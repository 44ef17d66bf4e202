// Shared pieces of the rnnkit commands.
#include "common.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rnnkit/core/error.h"

namespace rnnkit::cli {

using nlohmann::json;

const char* task_name(Task t) { return t == Task::Classify ? "classify" : "lm"; }

Task parse_task(const std::string& name) {
  if (name == "classify") return Task::Classify;
  if (name == "lm") return Task::Lm;
  throw Error("unknown task '" + name + "': this build supports classify and lm (tag, regress and forecast are not "
              "implemented yet)");
}

std::string TaskState::to_json() const {
  json j = {{"task", task_name(task)}, {"text", json::parse(text.to_json())}, {"seq_len", seq_len}};
  if (task == Task::Classify) j["labels"] = labels;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

TaskState TaskState::from_json(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object() && j.contains("task") && j["task"].is_string() && j.contains("text"),
          where + ": the model's preprocessing is not from `rnnkit train` (no task and text pipeline)");
  TaskState s;
  s.task = parse_task(j["task"].get<std::string>());
  s.text = TextPreprocessor::from_json(j["text"].dump(), where);
  s.seq_len = j.value("seq_len", 100);
  if (s.task == Task::Classify) {
    require(j.contains("labels") && j["labels"].is_array() && !j["labels"].empty(), where + ": the model lists no labels");
    for (const auto& l : j["labels"]) s.labels.push_back(l.get<std::string>());
  }
  return s;
}

LoadedTaskModel load_task_model(const std::string& path) {
  LoadedModel<float> m = load_model<float>(path);
  TaskState state = TaskState::from_json(m.preprocessing, path);
  if (state.task == Task::Classify)
    require(int(state.labels.size()) == m.model.config().output_size,
            path + ": " + std::to_string(state.labels.size()) + " labels for " +
                std::to_string(m.model.config().output_size) + " outputs");
  return {std::move(m.model), std::move(state), std::move(m.metadata)};
}

namespace {

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

ColumnRef column(const std::string& spec) {
  if (!spec.empty() && std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return ColumnRef::at(std::stoi(spec));
  return ColumnRef::by_name(spec);
}

}  // namespace

TextDataset read_classification(const std::string& path, const std::string& text_column,
                                const std::string& label_column) {
  if (std::filesystem::is_directory(path)) return read_folders(path);
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return read_jsonl(path, text_column, label_column);
  if (ends_with(path, ".csv") || ends_with(path, ".tsv") || ends_with(path, ".tab")) {
    TableOptions o;
    o.text = column(text_column);
    o.label = column(label_column);
    return read_table(path, o);
  }
  return read_fasttext(path);
}

Batch<float> ClassifySource::batch(const std::vector<size_t>& indices) const {
  return token_batch<float>(ids_, indices, pad_, 0, Side::Back, &labels_);
}

LmSource::LmSource(std::vector<int32_t> ids, int seq_len) : ids_(std::move(ids)), seq_len_(seq_len) {
  require(seq_len >= 1, "sequence length must be >= 1");
  for (size_t s = 0; s + size_t(seq_len) + 1 <= ids_.size(); s += size_t(seq_len)) starts_.push_back(s);
}

Batch<float> LmSource::batch(const std::vector<size_t>& indices) const {
  Batch<float> b;
  b.T = seq_len_, b.B = int(indices.size());
  b.lengths.assign(indices.size(), seq_len_);
  b.tokens.resize(size_t(b.T) * b.B);
  b.labels.resize(b.tokens.size());
  for (int k = 0; k < b.B; ++k) {
    const size_t s = starts_[indices[size_t(k)]];
    for (int t = 0; t < b.T; ++t) {
      b.tokens[size_t(t) * b.B + size_t(k)] = ids_[s + size_t(t)];
      b.labels[size_t(t) * b.B + size_t(k)] = ids_[s + size_t(t) + 1];
    }
  }
  return b;
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string history_json(const std::vector<EpochRecord>& history) {
  json a = json::array();
  for (const auto& r : history)
    a.push_back({{"epoch", r.epoch}, {"steps", r.steps}, {"train_loss", r.train_loss}, {"valid_loss", r.valid_loss},
                 {"lr", r.lr}, {"seconds", r.seconds}, {"sequences_per_second", r.sequences_per_second},
                 {"best", r.best}});
  return a.dump();
}

std::string learning_curve_svg(const std::vector<EpochRecord>& history) {
  const double W = 640, H = 360, L = 60, R = 20, T = 30, B = 40;
  double lo = 1e300, hi = -1e300;
  for (const auto& r : history) {
    lo = std::min({lo, r.train_loss, r.valid_loss});
    hi = std::max({hi, r.train_loss, r.valid_loss});
  }
  if (history.empty()) lo = 0, hi = 1;
  if (hi - lo < 1e-9) hi = lo + 1;
  const size_t n = std::max<size_t>(history.size(), 2);
  auto x = [&](size_t i) { return L + (W - L - R) * double(i) / double(n - 1); };
  auto y = [&](double v) { return T + (H - T - B) * (hi - v) / (hi - lo); };
  std::string svg;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
                "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"%.0f\" y=\"18\">loss per epoch: training (blue), validation (orange)</text>\n", L);
  svg += buf;
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"4\" y=\"%.1f\">%.3f</text>\n",
                  L, W - R, y(v), y(v), y(v) + 4, v);
    svg += buf;
  }
  for (int which = 0; which < 2; ++which) {
    svg += std::string("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"") + (which ? "#e67e22" : "#2c7fb8") +
           "\" points=\"";
    for (size_t i = 0; i < history.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x(i), y(which ? history[i].valid_loss : history[i].train_loss));
      svg += buf;
    }
    svg += "\"/>\n";
  }
  for (size_t i = 0; i < history.size(); ++i) {
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x(i), H - 20,
                  history[i].epoch);
    svg += buf;
  }
  svg += "<text x=\"" + std::to_string(int(W / 2)) + "\" y=\"" + std::to_string(int(H - 4)) + "\">epoch</text>\n</svg>\n";
  return svg;
}

}  // namespace rnnkit::cli
