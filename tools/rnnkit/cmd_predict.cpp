// rnnkit predict: one prediction per input line (stdin or --data): the label and its probability.
// For an audio model each line is the path of an audio file (or --data is a file or folder of them).
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

void run_predict(const PredictFlags& f) {
  LoadedTaskModel m = load_task_model(f.model);
  require(m.state.task == Task::Classify || m.state.task == Task::Regress,
          f.model + ": predict reads text for classification and regression models (use generate for lm, forecast "
                    "for series, eval for tagging)");
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
  } else if (!f.data.empty()) {
    file.open(f.data, std::ios::binary);
    require(file.good(), f.data + ": cannot open");
  }
  std::istream& in = f.data.empty() ? std::cin : listed.str().empty() ? static_cast<std::istream&>(file) : listed;
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
