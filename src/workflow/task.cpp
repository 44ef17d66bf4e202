// The task layer shared by the rnnkit command, the Python module and the server.
#include "rnnkit/workflow/task.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "rnnkit/core/error.h"
#include "rnnkit/train/metrics.h"

namespace rnnkit::workflow {

using nlohmann::json;

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

const char* task_name(Task t) {
  switch (t) {
    case Task::Classify: return "classify";
    case Task::Lm: return "lm";
    case Task::Forecast: return "forecast";
    case Task::Tag: return "tag";
    case Task::Regress: return "regress";
  }
  return "?";
}

Task parse_task(const std::string& name) {
  if (name == "classify") return Task::Classify;
  if (name == "lm") return Task::Lm;
  if (name == "forecast") return Task::Forecast;
  if (name == "tag") return Task::Tag;
  if (name == "regress") return Task::Regress;
  throw Error("unknown task '" + name + "': expected classify, tag, lm, regress or forecast");
}

namespace {

// An empty text becomes <unk>, so that it still predicts.
std::vector<std::vector<int32_t>> unk_for_empty(std::vector<std::vector<int32_t>> ids, int32_t unk) {
  for (auto& v : ids)
    if (v.empty()) v.push_back(unk);
  return ids;
}

// The texts of a data set's examples, in encode_texts' form.
std::vector<std::vector<int32_t>> encode_examples(const TaskState& st, const TextDataset& data) {
  return st.encode_texts(data.examples.size(), [&](size_t i) { return std::string_view(data.examples[i].text); });
}

}  // namespace

std::vector<int32_t> TaskState::encode_text(std::string_view raw) const {
  std::vector<int32_t> ids = text.encode(raw);
  if (ids.empty()) ids.push_back(text.vocab().unk_id());
  return ids;
}

std::vector<std::vector<int32_t>> TaskState::encode_texts(size_t n, FunctionRef<std::string_view(size_t)> raw) const {
  return unk_for_empty(text.encode_all(n, raw), text.vocab().unk_id());
}

std::vector<std::vector<int32_t>> TaskState::fit_text(const std::vector<std::string>& texts) {
  std::vector<std::vector<int32_t>> ids = text.fit(texts);  // first: it builds the vocabulary read below
  return unk_for_empty(std::move(ids), text.vocab().unk_id());
}

std::vector<float> TaskState::audio_frames(const AudioClip& clip) const {
  require(clip.sample_rate == audio.sample_rate, clip.source + ": sample rate " + std::to_string(clip.sample_rate) +
                                                     " Hz, the model was trained on " +
                                                     std::to_string(audio.sample_rate) + " Hz audio");
  return scale_audio(raw_audio_frames(clip));
}

std::vector<float> TaskState::scale_audio(std::vector<float> f) const {
  const int F = audio_feature_count();
  std::vector<double> d(f.begin(), f.end());
  scaler.transform(d.data(), d.size() / size_t(F));
  for (size_t i = 0; i < f.size(); ++i) f[i] = float(d[i]);
  if (f.empty()) f.assign(size_t(F), 0.0f);  // shorter than one frame: one silent frame, so it still predicts
  return f;
}

std::vector<float> TaskState::raw_audio_frames(const AudioClip& clip) const {
  std::vector<float> f = audio_features == "mfcc" ? mfcc(clip, audio) : log_mel(clip, audio);
  const size_t F = size_t(audio_feature_count()), frames = f.size() / F;
  if (audio_cmvn && frames > 0)
    for (size_t k = 0; k < F; ++k) {
      double mean = 0;
      for (size_t t = 0; t < frames; ++t) mean += f[t * F + k];
      mean /= double(frames);
      for (size_t t = 0; t < frames; ++t) f[t * F + k] -= float(mean);
    }
  return f;
}

namespace {
json audio_to_json(const AudioFeatureConfig& a, const std::string& kind) {
  return {{"features", kind}, {"sample_rate", a.sample_rate}, {"frame_ms", a.frame_ms}, {"hop_ms", a.hop_ms},
          {"n_fft", a.n_fft}, {"n_mels", a.n_mels}, {"f_min", a.f_min}, {"f_max", a.f_max},
          {"preemphasis", a.preemphasis}, {"log_floor", a.log_floor}, {"n_mfcc", a.n_mfcc}};
}

AudioFeatureConfig audio_from_json(const json& j, std::string* kind, const std::string& where) {
  require(j.is_object(), where + ": the audio features are not a JSON object");
  AudioFeatureConfig a;
  *kind = j.value("features", std::string("mfcc"));
  require(*kind == "mfcc" || *kind == "logmel", where + ": unknown audio features '" + *kind + "'");
  a.sample_rate = j.value("sample_rate", 0);
  a.frame_ms = j.value("frame_ms", a.frame_ms);
  a.hop_ms = j.value("hop_ms", a.hop_ms);
  a.n_fft = j.value("n_fft", a.n_fft);
  a.n_mels = j.value("n_mels", a.n_mels);
  a.f_min = j.value("f_min", a.f_min);
  a.f_max = j.value("f_max", a.f_max);
  a.preemphasis = j.value("preemphasis", a.preemphasis);
  a.log_floor = j.value("log_floor", a.log_floor);
  a.n_mfcc = j.value("n_mfcc", a.n_mfcc);
  try {
    a.validate();
  } catch (const Error& e) {
    throw Error(where + ": audio features: " + e.what());
  }
  return a;
}
}  // namespace

std::string TaskState::to_json() const {
  json j = {{"task", task_name(task)}};
  if (task == Task::Classify && audio_input) {
    j.update({{"input", "audio"}, {"audio", audio_to_json(audio, audio_features)}, {"cmvn", audio_cmvn}, {"labels", labels},
              {"scaler", json::parse(scaler.to_json())}});
    return j.dump();
  }
  if (task == Task::Tag && text_input) {
    j.update({{"input", "text"}, {"text", json::parse(text.to_json())}, {"labels", labels}});
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (task == Task::Tag) {
    j.update({{"input", "numeric"}, {"features", features}, {"targets", targets}, {"labels", labels}, {"window", window},
              {"scaler", json::parse(scaler.to_json())}});
    return j.dump();
  }
  if (task == Task::Forecast) {
    j.update({{"features", features}, {"targets", targets}, {"future", future}, {"relative", relative},
              {"window", window}, {"horizon", horizon},
              {"season", season}, {"scaler", json::parse(scaler.to_json())}});
    return j.dump();
  }
  j.update({{"text", json::parse(text.to_json())}, {"seq_len", seq_len}});
  if (task == Task::Classify) j["labels"] = labels;
  if (task == Task::Regress) {
    j["scaler"] = json::parse(scaler.to_json());
    j["target_mean"] = target_mean;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

TaskState TaskState::from_json(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object() && j.contains("task") && j["task"].is_string(),
          where + ": the model's preprocessing is not from `rnnkit train` (it names no task)");
  TaskState s;
  s.task = parse_task(j["task"].get<std::string>());
  if (s.task == Task::Classify && j.value("input", "text") == "audio") {
    s.audio_input = true;
    require(j.contains("audio") && j.contains("scaler") && j.contains("labels") && j["labels"].is_array() &&
                !j["labels"].empty(),
            where + ": audio classification model lacks its audio features, scaler or labels");
    s.audio = audio_from_json(j["audio"], &s.audio_features, where);
    s.audio_cmvn = j.value("cmvn", false);
    s.scaler = Scaler::from_json(j["scaler"].dump(), where);
    require(s.scaler.columns() == s.audio_feature_count(),
            where + ": the scaler has " + std::to_string(s.scaler.columns()) + " columns for " +
                std::to_string(s.audio_feature_count()) + " audio features");
    for (const auto& l : j["labels"]) s.labels.push_back(l.get<std::string>());
    return s;
  }
  if (s.task == Task::Tag && j.value("input", "numeric") == "text") {
    s.text_input = true;
    require(j.contains("text") && j.contains("labels") && j["labels"].is_array(),
            where + ": text tagging model lacks its text pipeline or tags");
    s.text = TextPreprocessor::from_json(j["text"].dump(), where);
    for (const auto& l : j["labels"]) s.labels.push_back(l.get<std::string>());
    return s;
  }
  if (s.task == Task::Forecast || s.task == Task::Tag) {
    auto names = [&](const char* key) {
      std::vector<std::string> v;
      require(j.contains(key) && j[key].is_array() && !j[key].empty(), where + ": forecast model lacks \"" + key + "\"");
      for (const auto& n : j[key]) v.push_back(n.get<std::string>());
      return v;
    };
    s.features = names("features");
    s.targets = names("targets");
    if (j.contains("future"))
      for (const auto& n : j["future"]) s.future.push_back(n.get<std::string>());
    if (s.task == Task::Tag) s.labels = names("labels");
    s.relative = j.value("relative", false);
    s.window = j.value("window", 0);
    s.horizon = j.value("horizon", 1);
    s.season = j.value("season", 7);
    require(s.window >= 1 && s.horizon >= 1, where + ": forecast window and horizon must be >= 1");
    require(j.contains("scaler"), where + ": forecast model lacks its scaler");
    s.scaler = Scaler::from_json(j["scaler"].dump(), where);
    const size_t scaled = s.task == Task::Tag ? s.features.size() : s.features.size() + s.targets.size() + s.future.size();
    require(s.scaler.columns() == int(scaled),
            where + ": the scaler has " + std::to_string(s.scaler.columns()) + " columns for " +
                std::to_string(s.features.size() + s.targets.size()) + " features and targets");
    return s;
  }
  require(j.contains("text"), where + ": the model's preprocessing lacks its text pipeline");
  s.text = TextPreprocessor::from_json(j["text"].dump(), where);
  s.seq_len = j.value("seq_len", 100);
  if (s.task == Task::Regress) {
    require(j.contains("scaler"), where + ": regression model lacks its target scaler");
    s.scaler = Scaler::from_json(j["scaler"].dump(), where);
    require(s.scaler.columns() == 1, where + ": regression scaler must have one column");
    s.target_mean = j.value("target_mean", 0.0);
  }
  if (s.task == Task::Classify) {
    require(j.contains("labels") && j["labels"].is_array() && !j["labels"].empty(), where + ": the model lists no labels");
    for (const auto& l : j["labels"]) s.labels.push_back(l.get<std::string>());
  }
  return s;
}

LoadedTaskModel load_task_model(const std::string& path) { return task_model(load_model<float>(path), path); }

LoadedTaskModel task_model(LoadedModel<float> m, const std::string& path) {
  TaskState state = TaskState::from_json(m.preprocessing, path);
  if (state.task == Task::Classify || state.task == Task::Tag)
    require(int(state.labels.size()) == m.model.config().output_size,
            path + ": " + std::to_string(state.labels.size()) + " labels for " +
                std::to_string(m.model.config().output_size) + " outputs");
  return {std::move(m.model), std::move(state), std::move(m.metadata)};
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
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

std::unique_ptr<ClassifySource> classify_source(const TaskState& st, const TextDataset& data,
                                                std::vector<std::vector<int32_t>> ids) {
  std::vector<int32_t> labels;
  for (const auto& e : data.examples) {  // every label checked before any text is encoded
    const auto it = std::find(st.labels.begin(), st.labels.end(), e.labels[0]);
    require(it != st.labels.end(), e.source + ": label '" + e.labels[0] + "' is not one of the model's labels (" +
                                       join(st.labels) + ")");
    labels.push_back(int32_t(it - st.labels.begin()));
  }
  if (ids.empty()) ids = encode_examples(st, data);
  require(ids.size() == data.examples.size(), "classify_source: " + std::to_string(ids.size()) +
                                                  " encoded texts for " + std::to_string(data.examples.size()) +
                                                  " examples");
  return std::make_unique<ClassifySource>(std::move(ids), std::move(labels), st.text.vocab().pad_id());
}

bool is_audio_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* e : {".wav", ".flac", ".ogg", ".aiff", ".aif", ".au"})
    if (ext == e) return true;
  return false;
}

bool is_audio_folder(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  for (const auto& cls : fs::directory_iterator(path, ec)) {
    if (!cls.is_directory() || cls.path().filename().string().starts_with(".")) continue;
    for (const auto& file : fs::directory_iterator(cls.path(), ec))
      if (file.is_regular_file() && !file.path().filename().string().starts_with("."))
        return is_audio_file(file.path().string());
  }
  return false;
}

Batch<float> AudioSource::batch(const std::vector<size_t>& indices) const {
  Batch<float> b = feature_batch<float>(frames_, features_, indices);
  for (size_t i : indices) b.labels.push_back(labels_[i]);
  return b;
}

std::unique_ptr<AudioSource> audio_source(const TaskState& state, const std::vector<LabelledClip>& clips,
                                          std::vector<std::vector<float>> raw) {
  std::vector<int32_t> labels;
  for (const LabelledClip& c : clips) {
    const auto it = std::find(state.labels.begin(), state.labels.end(), c.label);
    require(it != state.labels.end(), c.clip.source + ": label '" + c.label + "' is not one the model knows");
    labels.push_back(int32_t(it - state.labels.begin()));
  }
  require(raw.empty() || raw.size() == clips.size(), "audio_source: " + std::to_string(raw.size()) +
                                                         " clips' features for " + std::to_string(clips.size()) +
                                                         " clips");
  std::vector<std::vector<float>> frames(clips.size());  // each clip's features on a thread of its own
  parallel_for(clips.size(), [&](size_t i) {
    frames[i] = raw.empty() ? state.audio_frames(clips[i].clip) : state.scale_audio(std::move(raw[i]));
  });
  return std::make_unique<AudioSource>(std::move(frames), std::move(labels), state.audio_feature_count());
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

// Where a series of N rows is cut by time: [0, valid_start) train, then validation, [test_start, N) test.
static std::pair<size_t, size_t> time_cut(size_t N, double valid_fraction, double test_fraction) {
  return {size_t(double(N) * (1.0 - valid_fraction - test_fraction)), size_t(double(N) * (1.0 - test_fraction))};
}

std::vector<float> TaskState::normalise_window(std::vector<float>& input, std::vector<float>* output) const {
  const size_t K = targets.size(), F = features.size() + future.size(), H = size_t(horizon);
  std::vector<float> anchor(H * K, 0.0f);
  if (!relative) return anchor;
  const size_t rows = input.size() / F, S = size_t(season);
  require(rows >= S, "relative forecasting needs a window of at least one season (" + std::to_string(S) + " rows)");
  for (size_t k = 0; k < K; ++k) {
    const size_t col = size_t(std::find(features.begin(), features.end(), targets[k]) - features.begin());
    require(col < features.size(), "relative forecasting needs target '" + targets[k] + "' among the features");
    // Forecast h (0-based) is anchored to the value whole seasons before it, inside the window.
    for (size_t h = 0; h < H; ++h) {
      const size_t back = S * (h / S + 1);  // rows between the anchor and the target
      anchor[h * K + k] = input[(rows + h - back) * F + col];
    }
    const float base = anchor[k];
    for (size_t r = 0; r < rows; ++r) input[r * F + col] -= base;
    if (output)
      for (size_t h = 0; h < H; ++h) (*output)[h * K + k] -= anchor[h * K + k];
  }
  return anchor;
}

Batch<float> WindowSource::batch(const std::vector<size_t>& indices) const {
  Batch<float> b = feature_batch<float>(inputs_, features_, indices);
  for (size_t i : indices) b.values.insert(b.values.end(), outputs_[i].begin(), outputs_[i].end());
  return b;
}

std::vector<double> forecast_matrix(const NumericTable& table, const TaskState& state) {
  std::vector<std::string> cols = state.features;
  cols.insert(cols.end(), state.targets.begin(), state.targets.end());
  cols.insert(cols.end(), state.future.begin(), state.future.end());
  return table.select(cols);
}

namespace {

void require_forecast_rows(const NumericTable& table, const TaskState& st) {
  require(table.rows > size_t(st.window + st.horizon),
          table.source + ": " + std::to_string(table.rows) + " rows are too few for windows of " +
              std::to_string(st.window) + " + horizon " + std::to_string(st.horizon));
}

// The first `rows` of an (N, columns) matrix: the training part, which the scaler is fitted on.
void fit_scaler_on_first(Scaler& scaler, const std::vector<double>& m, int columns, size_t rows) {
  std::vector<size_t> first(rows);
  std::iota(first.begin(), first.end(), size_t(0));
  scaler.fit(m, columns, first);
}

// The windows of forecast_matrix's m (scaled here by the state's scaler), split by time.
ForecastData forecast_windows_of(std::vector<double> m, size_t N, const TaskState& st, double valid_fraction,
                                 double test_fraction) {
  const size_t F0 = st.features.size(), K = st.targets.size(), U = st.future.size();
  const size_t C = F0 + K + U, F = F0 + U, H = size_t(st.horizon);
  const auto [valid_start, test_start] = time_cut(N, valid_fraction, test_fraction);
  st.scaler.transform(m.data(), N);
  std::vector<float> feats(N * F, 0.0f), targs(N * K);
  for (size_t r = 0; r < N; ++r) {
    for (size_t c = 0; c < F0; ++c) feats[r * F + c] = float(m[r * C + c]);
    for (size_t c = 0; c < U; ++c)  // known-ahead values of the row `horizon` later (0 past the end: never read)
      feats[r * F + F0 + c] = r + H < N ? float(m[(r + H) * C + F0 + K + c]) : 0.0f;
    for (size_t c = 0; c < K; ++c) targs[r * K + c] = float(m[r * C + F0 + c]);
  }
  const Windows<float> w = forecast_windows(feats, int(F), targs, int(K), N, st.window, st.horizon, 1);
  std::vector<std::vector<float>> in[3], out[3];
  ForecastData d;
  for (size_t i = 0; i < w.inputs.size(); ++i) {
    const size_t target_row = w.starts[i] + size_t(st.window);
    const size_t last_target = target_row + size_t(st.horizon) - 1;
    // A window belongs to the part all its targets lie in; windows straddling a boundary are dropped.
    const int part_first = target_row < valid_start ? 0 : target_row < test_start ? 1 : 2;
    const int part_last = last_target < valid_start ? 0 : last_target < test_start ? 1 : 2;
    if (part_first != part_last) continue;
    std::vector<float> input = w.inputs[i], output = w.outputs[i];
    const std::vector<float> level = st.normalise_window(input, &output);
    in[part_first].push_back(std::move(input));
    out[part_first].push_back(std::move(output));
    if (part_first == 2) {
      d.test_target_rows.push_back(target_row);
      d.test_levels.push_back(level);
    }
  }
  d.train = std::make_unique<WindowSource>(std::move(in[0]), std::move(out[0]), int(F));
  d.valid = std::make_unique<WindowSource>(std::move(in[1]), std::move(out[1]), int(F));
  d.test = std::make_unique<WindowSource>(std::move(in[2]), std::move(out[2]), int(F));
  return d;
}

}  // namespace

ForecastData forecast_data(const NumericTable& table, const TaskState& st, double valid_fraction,
                           double test_fraction) {
  require_forecast_rows(table, st);
  return forecast_windows_of(forecast_matrix(table, st), table.rows, st, valid_fraction, test_fraction);
}

ForecastData fit_forecast_data(const NumericTable& table, TaskState& st, double valid_fraction, double test_fraction) {
  require_forecast_rows(table, st);
  std::vector<double> m = forecast_matrix(table, st);
  const int columns = int(st.features.size() + st.targets.size() + st.future.size());
  fit_scaler_on_first(st.scaler, m, columns, time_cut(table.rows, valid_fraction, test_fraction).first);
  return forecast_windows_of(std::move(m), table.rows, st, valid_fraction, test_fraction);
}

ForecastReport forecast_report(const Model<float>& model, const TaskState& st, const NumericTable& table,
                               const ForecastData& data) {
  const size_t F = st.features.size(), K = st.targets.size();  // targets follow the features in the scaler
  const std::vector<double> actual = table.select(st.targets);  // (rows, K), original units
  std::vector<double> pred, truth, naive, naive4;
  ModelCache<float> cache;
  cache.inference = true;
  const WindowSource& test = *data.test;
  for (size_t s = 0; s < test.size(); s += 64) {
    std::vector<size_t> idx;
    for (size_t i = s; i < std::min(test.size(), s + 64); ++i) idx.push_back(i);
    model.forward(test.batch(idx), cache, false, nullptr);
    for (size_t b = 0; b < idx.size(); ++b) {
      const size_t first = data.test_target_rows[idx[b]];
      for (int h = 0; h < st.horizon; ++h)
        for (size_t k = 0; k < K; ++k) {
          const size_t row = first + size_t(h);
          const float scaled = cache.logits[b * size_t(st.horizon) * K + size_t(h) * K + k] + data.test_levels[idx[b]][size_t(h) * K + k];
          pred.push_back(st.scaler.inverse_one(scaled, int(F + k)));
          truth.push_back(actual[row * K + k]);
          // Seasons back far enough that the value was known when the forecast was made (before `first`).
          const size_t back = size_t(st.season) * ((size_t(h) / size_t(st.season)) + 1);
          double v1 = row >= back ? actual[(row - back) * K + k] : actual[first * K + k];
          double sum = 0;
          int n = 0;
          for (int q = 0; q < 4; ++q)
            if (row >= back + size_t(q) * size_t(st.season)) {
              sum += actual[(row - back - size_t(q) * size_t(st.season)) * K + k];
              ++n;
            }
          naive.push_back(v1);
          naive4.push_back(n ? sum / n : v1);
        }
    }
  }
  ForecastReport r;
  const RegressionReport m = regression_report(pred, truth), a = regression_report(naive, truth),
                         b = regression_report(naive4, truth);
  r.count = m.count;
  r.rmse = m.rmse, r.mae = m.mae, r.naive_rmse = a.rmse, r.naive_mae = a.mae, r.naive4_rmse = b.rmse, r.naive4_mae = b.mae;
  return r;
}

Batch<float> TagSource::batch(const std::vector<size_t>& indices) const {
  Batch<float> b = feature_batch<float>(inputs_, features_, indices);
  b.labels.assign(size_t(b.T) * b.B, -1);
  for (int k = 0; k < b.B; ++k) {
    const auto& t = tags_[indices[size_t(k)]];
    for (size_t s = 0; s < t.size(); ++s) b.labels[s * size_t(b.B) + size_t(k)] = t[s];
  }
  return b;
}

namespace {

// The windows of the feature matrix x (scaled here by the state's scaler) and the tag column's values,
// split by time.
TagData tag_windows_of(const NumericTable& table, std::vector<double> x, const std::vector<double>& tag_values,
                       const TaskState& st, double valid_fraction, double test_fraction) {
  const size_t N = table.rows, F = st.features.size();
  std::vector<int32_t> tags(N);
  for (size_t r = 0; r < N; ++r) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", tag_values[r]);
    const auto it = std::find(st.labels.begin(), st.labels.end(), std::string(buf));
    require(it != st.labels.end(), table.source + ":" + std::to_string(r + 2) + ": tag '" + buf +
                                       "' is not one the model knows");
    tags[r] = int32_t(it - st.labels.begin());
  }
  const auto [valid_start, test_start] = time_cut(N, valid_fraction, test_fraction);
  st.scaler.transform(x.data(), N);
  auto part = [&](size_t begin, size_t end) {
    std::vector<float> f(x.begin() + begin * F, x.begin() + end * F);
    std::vector<int32_t> t(tags.begin() + begin, tags.begin() + end);
    TagWindows w = tagging_windows(f, int(F), t, end - begin, st.window, st.window);
    return std::make_unique<TagSource>(std::move(w.inputs), std::move(w.tags), int(F));
  };
  TagData d;
  d.train = part(0, valid_start);
  if (test_start > valid_start) d.valid = part(valid_start, test_start);
  if (N > test_start) d.test = part(test_start, N);
  return d;
}

}  // namespace

TagData tag_data(const NumericTable& table, const TaskState& st, double valid_fraction, double test_fraction) {
  return tag_windows_of(table, table.select(st.features), table.column_values(st.targets.at(0)), st, valid_fraction,
                        test_fraction);
}

TagData fit_tag_data(const NumericTable& table, TaskState& st, double valid_fraction, double test_fraction) {
  const std::vector<double> tag_values = table.column_values(st.targets.at(0));
  std::vector<double> distinct = tag_values;  // the tag values seen in the data, as numbers in order
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  st.labels.clear();
  for (double v : distinct) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    st.labels.push_back(buf);
  }
  std::vector<double> x = table.select(st.features);
  fit_scaler_on_first(st.scaler, x, int(st.features.size()), time_cut(table.rows, valid_fraction, test_fraction).first);
  return tag_windows_of(table, std::move(x), tag_values, st, valid_fraction, test_fraction);
}

std::vector<TaggedSentence> read_tagged(const std::string& path) {
  return ends_with(path, ".jsonl") ? read_tagged_jsonl(path) : read_conll(path);
}

std::unique_ptr<TextTagSource> text_tag_source(const TaskState& st, const std::vector<TaggedSentence>& sentences) {
  std::vector<std::vector<int32_t>> ids, tags;
  for (const auto& s : sentences) {
    std::vector<int32_t> sid, stag;
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      sid.push_back(st.text.vocab().id(st.text.clean(s.tokens[i])));
      const auto it = std::find(st.labels.begin(), st.labels.end(), s.tags[i]);
      require(it != st.labels.end(), s.source + ": tag '" + s.tags[i] + "' does not occur in the training data");
      stag.push_back(int32_t(it - st.labels.begin()));
    }
    ids.push_back(std::move(sid));
    tags.push_back(std::move(stag));
  }
  return std::make_unique<TextTagSource>(std::move(ids), std::move(tags), st.text.vocab().pad_id());
}

std::vector<int32_t> predict_classes(const Model<float>& model, const BatchSource& data, int batch_size) {
  std::vector<int32_t> out(data.size());
  forward_split(model, data, batch_size, class_argmax(model.config().output_size, out));
  return out;
}

SplitBatchFn class_argmax(int classes, std::vector<int32_t>& out) {
  const size_t C = size_t(classes);
  return [C, &out](const std::vector<size_t>& indices, const Batch<float>&, const ModelCache<float>& cache) {
    for (size_t b = 0; b < indices.size(); ++b) {
      const float* row = cache.logits.data() + b * C;
      out[indices[b]] = int32_t(std::max_element(row, row + C) - row);
    }
  };
}

SplitBatchFn step_argmax(int classes, std::vector<std::vector<int32_t>>& predicted,
                         std::vector<std::vector<int32_t>>& gold) {
  const size_t C = size_t(classes);
  return [C, &predicted, &gold](const std::vector<size_t>& indices, const Batch<float>& b,
                                const ModelCache<float>& cache) {
    for (int k = 0; k < b.B; ++k)
      for (int t = 0; t < b.lengths[size_t(k)]; ++t) {
        const size_t row = size_t(t) * size_t(b.B) + size_t(k);  // time-major
        const float* logits = cache.logits.data() + row * C;
        predicted[indices[size_t(k)]].push_back(int32_t(std::max_element(logits, logits + C) - logits));
        gold[indices[size_t(k)]].push_back(b.labels[row]);
      }
  };
}

void predict_tags(const Model<float>& model, const BatchSource& data, std::vector<int32_t>& predicted,
                  std::vector<int32_t>& gold) {
  std::vector<std::vector<int32_t>> tags(data.size()), truth(data.size());  // per example, put back in order
  forward_split(model, data, 64, step_argmax(model.config().output_size, tags, truth));
  for (size_t i = 0; i < data.size(); ++i) {
    predicted.insert(predicted.end(), tags[i].begin(), tags[i].end());
    gold.insert(gold.end(), truth[i].begin(), truth[i].end());
  }
}

std::vector<double> regress_targets(const TextDataset& data) {
  std::vector<double> out;
  for (const auto& e : data.examples) {
    const std::string& label = e.labels[0];
    double v = 0;
    const auto [ptr, ec] = std::from_chars(label.data(), label.data() + label.size(), v);
    require(ec == std::errc() && ptr == label.data() + label.size() && std::isfinite(v),
            e.source + ": the target must be a number, got '" + label + "'");
    out.push_back(v);
  }
  return out;
}

std::unique_ptr<RegressSource> regress_source(const TaskState& st, const TextDataset& data,
                                              std::vector<std::vector<int32_t>> ids) {
  std::vector<double> targets = regress_targets(data);
  st.scaler.transform(targets.data(), targets.size());
  if (ids.empty()) ids = encode_examples(st, data);
  require(ids.size() == data.examples.size(), "regress_source: " + std::to_string(ids.size()) +
                                                  " encoded texts for " + std::to_string(data.examples.size()) +
                                                  " examples");
  return std::make_unique<RegressSource>(std::move(ids), std::vector<float>(targets.begin(), targets.end()),
                                         st.text.vocab().pad_id());
}

SplitBatchFn regress_values(const TaskState& st, std::vector<double>& out) {
  return [&st, &out](const std::vector<size_t>& indices, const Batch<float>&, const ModelCache<float>& cache) {
    for (size_t b = 0; b < indices.size(); ++b) out[indices[b]] = st.scaler.inverse_one(cache.logits[b], 0);
  };
}

RegressReport regress_report(const TaskState& st, const RegressSource& data, const std::vector<double>& predicted,
                             double baseline) {
  std::vector<double> truth(data.size());
  for (size_t i = 0; i < data.size(); ++i) truth[i] = st.scaler.inverse_one(data.values()[i], 0);
  const RegressionReport m = regression_report(predicted, truth);
  const RegressionReport b = regression_report(std::vector<double>(truth.size(), baseline), truth);
  return {m.count, m.rmse, m.mae, b.rmse, b.mae};
}

RegressReport regress_report(const Model<float>& model, const TaskState& st, const RegressSource& data,
                             double baseline) {
  std::vector<double> predicted(data.size());
  forward_split(model, data, 64, regress_values(st, predicted));
  return regress_report(st, data, predicted, baseline);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::string history_json(const std::vector<EpochRecord>& history) {
  json a = json::array();
  for (const auto& r : history) {
    json e = {{"epoch", r.epoch}, {"steps", r.steps}, {"train_loss", r.train_loss}, {"valid_loss", r.valid_loss},
              {"lr", r.lr}, {"seconds", r.seconds}, {"sequences_per_second", r.sequences_per_second},
              {"best", r.best}};
    if (!r.metric.empty()) e["metric"] = r.metric, e["valid_metric"] = r.valid_metric;
    a.push_back(std::move(e));
  }
  return a.dump();
}

std::string learning_curve_svg(const std::vector<EpochRecord>& history) {
  const bool metric = !history.empty() && !history.back().metric.empty();
  const double W = 640, H = 360, L = 60, R = metric ? 70 : 20, T = 30, B = 40;
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
  std::snprintf(buf, sizeof buf, "<text x=\"%.0f\" y=\"18\">loss per epoch: training (blue), validation (orange)%s%s%s</text>\n",
                L, metric ? "; validation " : "", metric ? history.back().metric.c_str() : "",
                metric ? " (green, right axis)" : "");
  svg += buf;
  if (metric) {  // the validation metric on its own scale, labelled on the right
    double mlo = 1e300, mhi = -1e300;
    for (const auto& r : history) mlo = std::min(mlo, r.valid_metric), mhi = std::max(mhi, r.valid_metric);
    if (mhi - mlo < 1e-9) mhi = mlo + 1e-3, mlo -= 1e-3;
    auto ym = [&](double v) { return T + (H - T - B) * (mhi - v) / (mhi - mlo); };
    for (int k = 0; k <= 4; ++k) {
      const double v = mlo + (mhi - mlo) * k / 4.0;
      std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#2ca02c\">%.4g</text>\n", W - R + 6, ym(v) + 4, v);
      svg += buf;
    }
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke-dasharray=\"6,3\" stroke=\"#2ca02c\" points=\"";
    for (size_t i = 0; i < history.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x(i), ym(history[i].valid_metric));
      svg += buf;
    }
    svg += "\"/>\n";
  }
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

}  // namespace rnnkit::workflow
