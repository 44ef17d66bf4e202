#include "rnnkit/workflow/predictor.h"

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "rnnkit/core/error.h"
#include "rnnkit/io/model_file.h"

namespace rnnkit::workflow {

using nlohmann::json;

namespace {

// A task model, or a bare one (no "task" in its preprocessing) with a default state.
std::pair<LoadedTaskModel, bool> load_any(const std::string& path) {
  LoadedModel<float> m = load_model<float>(path);
  const json prep = json::parse(m.preprocessing, nullptr, false);
  if (prep.is_object() && prep.contains("task")) return {task_model(std::move(m), path), true};
  return {LoadedTaskModel{std::move(m.model), TaskState(), std::move(m.metadata)}, false};
}

}  // namespace

Predictor::Predictor(const std::string& model_path) : Predictor(load_any(model_path), model_path) {}

Predictor::Predictor(std::pair<LoadedTaskModel, bool> loaded, const std::string& source)
    : Predictor(std::move(loaded.first)) {
  has_task_ = loaded.second;
  source_ = source;
}

void Predictor::require_task() const {
  require(has_task_, [&] {
    return (source_.empty() ? std::string("this model") : source_) +
           " has no task preprocessing (a bare model, e.g. converted from PyTorch): use forward or a stream on "
           "token ids or features";
  });
}

Predictor::Predictor(LoadedTaskModel loaded)
    : model_(std::make_shared<const Model<float>>(std::move(loaded.model))),
      state_(std::move(loaded.state)),
      metadata_(std::move(loaded.metadata)),
      caches_(std::make_shared<CachePool>()) {}

struct Predictor::CachePool {
  std::mutex mutex;
  std::vector<std::unique_ptr<ModelCache<float>>> free;
};

void Predictor::CacheReturn::operator()(ModelCache<float>* cache) const noexcept {
  std::unique_ptr<ModelCache<float>> owned(cache);  // freed here if it cannot be kept
  try {
    const std::lock_guard<std::mutex> lock(pool->mutex);
    pool->free.push_back(std::move(owned));
  } catch (...) {
  }
}

Predictor::CacheLease Predictor::take_cache() const {
  std::unique_ptr<ModelCache<float>> cache;
  {
    const std::lock_guard<std::mutex> lock(caches_->mutex);
    if (!caches_->free.empty()) {
      cache = std::move(caches_->free.back());
      caches_->free.pop_back();
    }
  }
  if (!cache) {
    cache = std::make_unique<ModelCache<float>>();
    cache->inference = true;
  }
  return CacheLease(cache.release(), CacheReturn{caches_});
}

std::vector<LabelScore> Predictor::top_k(const float* p, int k) const {
  const int C = model_->config().output_size;
  k = std::clamp(k, 1, C);
  std::vector<int> order(static_cast<size_t>(C));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<LabelScore> out;
  for (int i = 0; i < k; ++i) {
    const int c = order[size_t(i)];
    const std::string name = state_.task == Task::Lm ? state_.text.vocab().token(c) : state_.labels.at(size_t(c));
    out.push_back({name, double(p[c])});
  }
  return out;
}

// Per-sequence answers from n rows of head inputs (logits) of a one-output-per-sequence model.
std::vector<Prediction> Predictor::answer(const std::vector<float>& logits, size_t n, int k) const {
  const size_t O = size_t(model_->config().output_size);
  std::vector<float> p(logits.begin(), logits.begin() + std::ptrdiff_t(n * O));
  std::vector<Prediction> out(n);
  if (state_.task == Task::Regress) {
    for (size_t i = 0; i < n; ++i) out[i].value = state_.scaler.inverse_one(p[i * O], 0);
    return out;
  }
  model_->apply_head(p.data(), int64_t(n));
  for (size_t i = 0; i < n; ++i) out[i].labels = top_k(p.data() + i * O, k);
  return out;
}

std::vector<Prediction> Predictor::predict_texts(const std::vector<std::string>& texts, int k, int batch_size) const {
  require_task();
  require(!state_.audio_input, "this model reads audio files, not texts");
  require(state_.task == Task::Classify || state_.task == Task::Regress || (state_.task == Task::Tag && state_.text_input),
          std::string("a ") + task_name(state_.task) + " model " +
              (state_.task == Task::Tag ? "tags numeric series, not texts"
               : state_.task == Task::Lm ? "generates text: use generate or a stream"
                                         : "forecasts series: use forecast"));
  require(k >= 1, "top_k must be >= 1");
  require(batch_size >= 1, "batch size must be >= 1");
  // Every text encoded first, then run in batches of texts of alike length (forward_split: little
  // padding), each answer put back in the texts' order.
  const bool tagging = state_.task == Task::Tag;
  std::vector<std::vector<int32_t>> ids =
      tagging ? std::vector<std::vector<int32_t>>(texts.size())
              : state_.encode_texts(texts.size(), [&](size_t i) { return std::string_view(texts[i]); });
  // Tagging: whitespace tokens, each cleaned and looked up; one tag per token, which `tokens` names.
  std::vector<std::vector<std::string>> tokens(tagging ? texts.size() : 0);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::istringstream words(texts[i]);
    for (std::string w; words >> w;) {
      tokens[i].push_back(w);
      ids[i].push_back(state_.text.vocab().id(state_.text.clean(w)));
    }
    if (ids[i].empty()) ids[i].push_back(state_.text.vocab().unk_id());  // still runs; no tags come back
  }
  std::vector<Prediction> out(texts.size());
  const size_t C = size_t(model_->config().output_size);
  const ClassifySource source(std::move(ids), std::vector<int32_t>(texts.size(), 0), state_.text.vocab().pad_id());
  const CacheLease lease = take_cache();
  forward_split(*model_, source, batch_size, [&](const std::vector<size_t>& idx, const Batch<float>&,
                                                 const ModelCache<float>& cache) {
    const size_t n = idx.size();
    if (!tagging) {
      std::vector<Prediction> answers = answer(cache.logits, n, k);
      for (size_t i = 0; i < n; ++i) out[idx[i]] = std::move(answers[i]);
      return;
    }
    std::vector<float> p = cache.logits;
    model_->apply_head(p.data(), cache.rows);
    for (size_t i = 0; i < n; ++i) {
      const std::vector<std::string>& words = tokens[idx[i]];
      for (size_t t = 0; t < words.size(); ++t) {
        const float* row = p.data() + (t * n + i) * C;  // time-major
        const size_t best = size_t(std::max_element(row, row + C) - row);
        out[idx[i]].tags.push_back({words[t], state_.labels[best], double(row[best])});
      }
    }
  }, lease.get());
  return out;
}

std::vector<Prediction> Predictor::predict_audio(const std::vector<std::string>& paths, int k, int batch_size) const {
  require_task();
  require(state_.audio_input, "this model reads texts or series, not audio files");
  require(batch_size >= 1, "batch size must be >= 1");
  // Read in groups (one at a time: libsndfile keeps its last error in one place for all threads),
  // each group's features computed on every thread.
  std::vector<std::vector<float>> frames(paths.size());
  constexpr size_t kGroup = 64;
  for (size_t g = 0; g < paths.size(); g += kGroup) {
    std::vector<AudioClip> group;
    for (size_t i = g; i < std::min(paths.size(), g + kGroup); ++i) group.push_back(read_audio(paths[i]));
    parallel_for(group.size(), [&](size_t i) { frames[g + i] = state_.audio_frames(group[i]); });
  }
  const AudioSource clips(std::move(frames), std::vector<int32_t>(paths.size(), 0), state_.audio_feature_count());
  std::vector<Prediction> out(paths.size());
  const CacheLease lease = take_cache();
  forward_split(*model_, clips, batch_size, [&](const std::vector<size_t>& idx, const Batch<float>&,
                                                const ModelCache<float>& cache) {  // clips of alike length together
    std::vector<Prediction> answers = answer(cache.logits, idx.size(), k);
    for (size_t i = 0; i < idx.size(); ++i) out[idx[i]] = std::move(answers[i]);
  }, lease.get());
  return out;
}

Prediction Predictor::tag_series(const std::vector<double>& rows, size_t N) const {
  require_task();
  require(state_.task == Task::Tag && !state_.text_input, "this model does not tag numeric series");
  const size_t F = state_.features.size(), W = size_t(state_.window);
  require(N >= 1, "a series needs at least one row");
  require(rows.size() == N * F, [&] {
    return "a series of " + std::to_string(N) + " rows needs " + std::to_string(N * F) + " values (" +
           std::to_string(F) + " per row: the columns the model was trained on), got " + std::to_string(rows.size());
  });
  std::vector<double> x = rows;
  state_.scaler.transform(x.data(), N);
  Prediction out;
  out.tags.resize(N);
  const CacheLease lease = take_cache();
  ModelCache<float>& cache = *lease;
  const size_t C = size_t(model_->config().output_size);
  for (size_t begin = 0; begin < N; begin += W) {
    const size_t start = N >= W ? std::min(begin, N - W) : 0, len = std::min(W, N);
    std::vector<float> window(x.begin() + std::ptrdiff_t(start * F), x.begin() + std::ptrdiff_t((start + len) * F));
    const TagSource one({window}, {std::vector<int32_t>(len, 0)}, int(F));
    model_->forward(one.batch({0}), cache, false, nullptr);
    std::vector<float> p = cache.logits;
    model_->apply_head(p.data(), int64_t(len));
    for (size_t r = begin; r < std::min(N, start + len); ++r) {
      const float* row = p.data() + (r - start) * C;
      const size_t best = size_t(std::max_element(row, row + C) - row);
      out.tags[r] = {std::to_string(r + 1), state_.labels[best], double(row[best])};
    }
  }
  return out;
}

std::vector<double> Predictor::forecast(const NumericTable& table, size_t horizon) const {
  require_task();
  const TaskState& st = state_;
  require(st.task == Task::Forecast, "forecast needs a model trained with --task forecast");
  const size_t H = size_t(st.horizon), W = size_t(st.window);
  const size_t N = horizon > 0 ? horizon : H;  // rows to forecast
  const size_t F0 = st.features.size(), K = st.targets.size(), U = st.future.size(), C = F0 + K + U, F = F0 + U;
  // Beyond the model's own horizon the forecasts are fed back as the next windows' inputs
  // (recursive forecasting), so every input column must be one the model forecasts.
  std::vector<size_t> fed(F0);  // feature column -> the target that fills it
  for (size_t c = 0; c < F0; ++c) {
    fed[c] = size_t(std::find(st.targets.begin(), st.targets.end(), st.features[c]) - st.targets.begin());
    require(N <= H || fed[c] < K, [&] {
      return "horizon " + std::to_string(N) + " is beyond this model's " + std::to_string(H) +
             " rows: forecasting further feeds the forecasts back as inputs, but input column '" + st.features[c] +
             "' is not a forecast target";
    });
  }
  require(U == 0 || N % H == 0, [&] {
    return "horizon " + std::to_string(N) + ": with known-ahead columns it must be a multiple of the model's " +
           std::to_string(H) + " rows";
  });
  // With known-ahead columns the last N rows are the rows to forecast (their target values are
  // ignored); without, the forecast continues after the last row.
  const size_t end = U == 0 ? table.rows : table.rows - std::min(table.rows, N);
  require(end >= W, [&] {
    return table.source + ": needs at least " + std::to_string(W + (U == 0 ? 0 : N)) + " rows, has " +
           std::to_string(table.rows);
  });
  std::vector<double> raw = forecast_matrix(table, st);  // (rows, C) unscaled; grows with the forecasts
  std::vector<double> forecasts;                         // (N, K) in the targets' units
  const CacheLease lease = take_cache();
  ModelCache<float>& cache = *lease;
  for (size_t cur = end; forecasts.size() < N * K;) {
    // The window of W rows before `cur`, each with its known-ahead values H rows later, scaled.
    std::vector<double> win(W * C);
    for (size_t r = 0; r < W; ++r) {
      const size_t row = cur - W + r;
      std::copy_n(raw.begin() + std::ptrdiff_t(row * C), F0 + K, win.begin() + std::ptrdiff_t(r * C));
      for (size_t c = 0; c < U; ++c) win[r * C + F0 + K + c] = raw[(row + H) * C + F0 + K + c];
    }
    st.scaler.transform(win.data(), W);
    std::vector<float> input(W * F);
    for (size_t r = 0; r < W; ++r) {
      for (size_t c = 0; c < F0; ++c) input[r * F + c] = float(win[r * C + c]);
      for (size_t c = 0; c < U; ++c) input[r * F + F0 + c] = float(win[r * C + F0 + K + c]);
    }
    const std::vector<float> anchor = st.normalise_window(input, nullptr);
    const WindowSource one({input}, {std::vector<float>(H * K, 0.0f)}, int(F));
    model_->forward(one.batch({0}), cache, false, nullptr);
    const size_t take = std::min(H, N - forecasts.size() / K);
    for (size_t h = 0; h < take; ++h) {
      std::vector<double> row(C, 0.0);
      if (cur + h < table.rows) std::copy_n(raw.begin() + std::ptrdiff_t((cur + h) * C), C, row.begin());
      for (size_t k = 0; k < K; ++k) {
        const double v = st.scaler.inverse_one(cache.logits[h * K + k] + anchor[h * K + k], int(F0 + k));
        forecasts.push_back(v);
        row[F0 + k] = v;
      }
      for (size_t c = 0; c < F0; ++c)
        if (fed[c] < K) row[c] = row[F0 + fed[c]];
      if (cur + h < table.rows) std::copy(row.begin(), row.end(), raw.begin() + std::ptrdiff_t((cur + h) * C));
      else raw.insert(raw.end(), row.begin(), row.end());
    }
    cur += take;
  }
  return forecasts;
}

std::vector<float> Predictor::forward_batch(Batch<float> b) const {
  const CacheLease lease = take_cache();
  const Model<float>& model = *model_;
  model.forward(b, *lease, false, nullptr);
  std::vector<float> out = lease->logits;
  model.apply_head(out.data(), lease->rows);
  if (model.config().output != OutputMode::PerStep) return out;
  // Time-major (T*B, O) -> (B, T, O), the layout of the input.
  const size_t O = size_t(model.config().output_size), T = size_t(b.T), B = size_t(b.B);
  std::vector<float> bt(out.size());
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < B; ++i) std::copy_n(out.data() + (t * B + i) * O, O, bt.data() + (i * T + t) * O);
  return bt;
}

namespace {

// The lengths of a forward call's batch: `lengths` checked (1..steps each), or all `steps`.
std::vector<int> batch_lengths(int batch, int steps, const int* lengths) {
  require(batch >= 1 && steps >= 1, "forward needs at least one sequence of one step");
  std::vector<int> out(size_t(batch), steps);
  if (!lengths) return out;
  for (int i = 0; i < batch; ++i) {
    require(lengths[i] >= 1 && lengths[i] <= steps, [&] {
      return "lengths[" + std::to_string(i) + "] is " + std::to_string(lengths[i]) + ": a length must be 1 to " +
             std::to_string(steps) + " (the padded steps)";
    });
    out[size_t(i)] = lengths[i];
  }
  return out;
}

}  // namespace

std::vector<float> Predictor::forward_tokens(const int32_t* ids, int batch, int steps, const int* lengths) const {
  require(model_->config().uses_embedding(), "this model reads feature vectors, not token ids");
  Batch<float> b;
  b.lengths = batch_lengths(batch, steps, lengths);
  b.T = steps, b.B = batch;
  b.tokens.resize(size_t(batch) * size_t(steps));
  for (int i = 0; i < batch; ++i)
    for (int t = 0; t < steps; ++t) b.tokens[size_t(t) * size_t(batch) + size_t(i)] = ids[size_t(i) * size_t(steps) + size_t(t)];
  return forward_batch(std::move(b));
}

std::vector<float> Predictor::forward_features(const float* x, int batch, int steps, const int* lengths) const {
  require(!model_->config().uses_embedding(), "this model reads token ids, not feature vectors");
  const size_t I = size_t(model_->config().input_size);
  Batch<float> b;
  b.lengths = batch_lengths(batch, steps, lengths);
  b.T = steps, b.B = batch;
  b.features.resize(size_t(batch) * size_t(steps) * I);
  for (int i = 0; i < batch; ++i)
    for (int t = 0; t < steps; ++t)
      std::copy_n(x + (size_t(i) * size_t(steps) + size_t(t)) * I, I,
                  b.features.data() + (size_t(t) * size_t(batch) + size_t(i)) * I);
  return forward_batch(std::move(b));
}

std::string Predictor::describe_json() const {
  const ModelConfig& c = model_->config();
  json d;
  if (!has_task_) {
    d["task"] = nullptr;
    d["input"] = c.uses_embedding() ? "token_ids" : "features";
  } else {
    d["task"] = task_name(state_.task);
  }
  if (has_task_) d["input"] = state_.audio_input ? "audio"
               : (state_.task == Task::Forecast || (state_.task == Task::Tag && !state_.text_input)) ? "series"
                                                                                                      : "text";
  d["config"] = json::parse(config_to_json(c));
  d["parameters"] = model_->params().size();
  if (!state_.labels.empty()) d["labels"] = state_.labels;
  if (has_task_ && d["input"] == "text") {
    d["vocabulary_size"] = state_.text.vocab().size();
    d["max_length"] = state_.text.config().max_length;
  }
  if (!state_.features.empty()) d["features"] = state_.features;
  if (!state_.targets.empty()) d["targets"] = state_.targets, d["horizon"] = state_.horizon, d["window"] = state_.window;
  d["streamable"] = !c.bidirectional;
  const auto it = metadata_.find("history");
  if (it != metadata_.end()) d["history"] = json::parse(it->second, nullptr, false);
  return d.dump();
}

}  // namespace rnnkit::workflow
