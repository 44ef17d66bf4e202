// rnnkit predict: one prediction per input line (stdin or --data): the label and its probability.
// For an audio model each line is the path of an audio file (or --data is a file or folder of them);
// for a tagging model each line is a sentence (token/TAG out), or --data a numeric CSV (a tag a row).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"

namespace rnnkit::cli {

namespace {

struct PredictFlags {
  std::string model, data;
  int top_k = 1;
  bool json = false;
};

// The most probable tag of each of `steps` softmax rows (steps, C), with its probability.
std::vector<std::pair<int, float>> best_tags(const Model<float>& model, std::vector<float> logits, int steps) {
  const int C = model.config().output_size;
  model.apply_head(logits.data(), steps);
  std::vector<std::pair<int, float>> out;
  for (int t = 0; t < steps; ++t) {
    const float* p = logits.data() + size_t(t) * size_t(C);
    const int best = int(std::max_element(p, p + C) - p);
    out.emplace_back(best, p[best]);
  }
  return out;
}

// Tagging models. Text: each input line is a sentence of whitespace-separated tokens, printed back
// as token/TAG pairs. Numeric: --data is a CSV with the training feature columns; every row gets a
// tag, from consecutive windows of the trained length (the last one aligned to the end).
void run_predict_tags(LoadedTaskModel& m, const PredictFlags& f, std::istream& in) {
  const TaskState& st = m.state;
  ModelCache<float> cache;
  if (!st.text_input) {
    require(!f.data.empty(), "predict for a numeric tagging model needs --data SERIES.csv");
    const NumericTable table = read_numeric_csv(f.data);
    const size_t N = table.rows, F = st.features.size(), W = size_t(st.window);
    require(N >= 1, f.data + ": no rows");
    std::vector<double> x = table.select(st.features);
    st.scaler.transform(x.data(), N);
    std::vector<std::pair<int, float>> tags(N);
    for (size_t begin = 0; begin < N; begin += W) {
      const size_t start = N >= W ? std::min(begin, N - W) : 0, len = std::min(W, N);
      std::vector<float> window(x.begin() + std::ptrdiff_t(start * F), x.begin() + std::ptrdiff_t((start + len) * F));
      const TagSource one({window}, {std::vector<int32_t>(len, 0)}, int(F));
      m.model.forward(one.batch({0}), cache, false, nullptr);
      const auto best = best_tags(m.model, cache.logits, int(len));
      for (size_t r = begin; r < std::min(N, start + len); ++r) tags[r] = best[r - start];
    }
    std::printf(f.json ? "" : "row,tag,probability\n");
    for (size_t r = 0; r < N; ++r) {
      const std::string& tag = st.labels[size_t(tags[r].first)];
      if (f.json) std::printf("{\"row\":%zu,\"tag\":\"%s\",\"probability\":%.4f}\n", r + 1, tag.c_str(), tags[r].second);
      else std::printf("%zu,%s,%.4f\n", r + 1, tag.c_str(), tags[r].second);
    }
    return;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> tokens;
    std::istringstream words(line);
    for (std::string w; words >> w;) tokens.push_back(w);
    if (tokens.empty()) {
      std::printf("\n");
      continue;
    }
    std::vector<int32_t> ids;
    for (const auto& t : tokens) ids.push_back(st.text.vocab().id(st.text.clean(t)));
    const int T = int(ids.size());
    const TextTagSource one({ids}, {std::vector<int32_t>(size_t(T), 0)}, st.text.vocab().pad_id());
    m.model.forward(one.batch({0}), cache, false, nullptr);
    const auto best = best_tags(m.model, cache.logits, T);
    if (f.json) {
      nlohmann::json out = nlohmann::json::array();
      for (int t = 0; t < T; ++t)
        out.push_back({{"token", tokens[size_t(t)]}, {"tag", st.labels[size_t(best[size_t(t)].first)]},
                       {"probability", best[size_t(t)].second}});
      std::printf("%s\n", nlohmann::json({{"tokens", out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      for (int t = 0; t < T; ++t)
        std::printf("%s%s/%s", t ? " " : "", tokens[size_t(t)].c_str(), st.labels[size_t(best[size_t(t)].first)].c_str());
      std::printf("\n");
    }
    std::fflush(stdout);
  }
}

void run_predict(const PredictFlags& f) {
  LoadedTaskModel m = load_task_model(f.model);
  require(m.state.task == Task::Classify || m.state.task == Task::Regress || m.state.task == Task::Tag,
          f.model + ": predict labels texts, audio or tagged sequences (use generate for lm, forecast for series)");
  require(f.top_k >= 1, "--top-k must be >= 1");
  std::ifstream file;
  std::istringstream listed;  // audio: the files of --data when it is an audio file or a folder
  if (m.state.audio_input && !f.data.empty() && (is_audio_file(f.data) || std::filesystem::is_directory(f.data))) {
    std::vector<std::string> paths;
    if (is_audio_file(f.data)) paths.push_back(f.data);
    else
      for (const auto& e : std::filesystem::recursive_directory_iterator(f.data))
        if (e.is_regular_file() && is_audio_file(e.path().string())) paths.push_back(e.path().string());
    std::sort(paths.begin(), paths.end());
    std::string all;
    for (const auto& p : paths) all += p + "\n";
    listed.str(all);
  } else if (!f.data.empty() && !(m.state.task == Task::Tag && !m.state.text_input)) {
    file.open(f.data, std::ios::binary);
    require(file.good(), f.data + ": cannot open");
  }
  std::istream& in = f.data.empty() ? std::cin : listed.str().empty() ? static_cast<std::istream&>(file) : listed;
  if (m.state.task == Task::Tag) return run_predict_tags(m, f, in);
  const int C = m.model.config().output_size, k = std::min(f.top_k, C);
  ModelCache<float> cache;
  std::string line;
  while (std::getline(in, line)) {
    if (m.state.audio_input) {  // each line names an audio file
      if (line.empty()) continue;
      const AudioSource one({m.state.audio_frames(read_audio(line))}, {0}, m.state.audio_feature_count());
      m.model.forward(one.batch({0}), cache, false, nullptr);
    } else {
      const ClassifySource one({m.state.encode_text(line)}, {0}, m.state.text.vocab().pad_id());
      m.model.forward(one.batch({0}), cache, false, nullptr);
    }
    if (m.state.task == Task::Regress) {
      const double v = m.state.scaler.inverse_one(cache.logits[0], 0);
      if (f.json) std::printf("{\"value\":%.6g}\n", v);
      else std::printf("%.6g\n", v);
      std::fflush(stdout);
      continue;
    }
    std::vector<float> p = cache.logits;
    m.model.apply_head(p.data(), 1);
    std::vector<int> order(static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) order[size_t(c)] = c;
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
    if (f.json) {
      nlohmann::json out = nlohmann::json::array();
      for (int i = 0; i < k; ++i) out.push_back({{"label", m.state.labels[size_t(order[size_t(i)])]},
                                                 {"probability", p[size_t(order[size_t(i)])]}});
      nlohmann::json record = {{"predictions", out}};
      if (m.state.audio_input) record["file"] = line;
      std::printf("%s\n", record.dump().c_str());
    } else {
      if (m.state.audio_input) std::printf("%s\t", line.c_str());  // which file each line is about
      for (int i = 0; i < k; ++i)
        std::printf("%s%s %.4f", i ? " " : "", m.state.labels[size_t(order[size_t(i)])].c_str(), p[size_t(order[size_t(i)])]);
      std::printf("\n");
    }
    std::fflush(stdout);
  }
}

}  // namespace

void add_predict(CLI::App& app) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* c = app.add_subcommand("predict", "label each input line (stdin or --data) with its probability");
  c->add_option("--model,-m", f->model, "model file")->required();
  c->add_option("--data,-d", f->data, "a file with one text per line (default: stdin); audio models: an audio file, a folder of them, or a list of paths");
  c->add_option("--top-k,-k", f->top_k, "labels per line, most probable first")->capture_default_str();
  c->add_flag("--json", f->json, "one JSON object per line");
  c->callback([f] { run_predict(*f); });
}

}  // namespace rnnkit::cli
