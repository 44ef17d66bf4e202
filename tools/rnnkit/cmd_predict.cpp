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
#include "rnnkit/workflow/predictor.h"

namespace rnnkit::cli {

namespace {

struct PredictFlags {
  std::string model, data;
  int top_k = 1;
  bool json = false;
  int threads = 1;
};

void print_tags(const Prediction& p, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : p.tags) out.push_back({{"token", t.token}, {"tag", t.tag}, {"probability", t.probability}});
    std::printf("%s\n", nlohmann::json({{"tokens", out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  for (size_t t = 0; t < p.tags.size(); ++t)
    std::printf("%s%s/%s", t ? " " : "", p.tags[t].token.c_str(), p.tags[t].tag.c_str());
  std::printf("\n");
}

// The next lines of the input: from --data up to 1024 at a time, answered together (in batches of
// alike length); from stdin one at a time, so that a pipe gets each answer as its line arrives.
// False at the end of the input. Audio models skip empty lines (each line names a file).
bool next_lines(std::istream& in, const PredictFlags& f, bool skip_empty, std::vector<std::string>& lines) {
  const size_t chunk = f.data.empty() ? 1 : 1024;
  lines.clear();
  for (std::string line; lines.size() < chunk && std::getline(in, line);)
    if (!skip_empty || !line.empty()) lines.push_back(std::move(line));
  return !lines.empty();
}

// Tagging models. Text: each input line is a sentence of whitespace-separated tokens, printed back
// as token/TAG pairs. Numeric: --data is a CSV with the training feature columns; every row gets a
// tag, from consecutive windows of the trained length (the last one aligned to the end).
void run_predict_tags(const Predictor& predictor, const PredictFlags& f, std::istream& in) {
  const TaskState& st = predictor.state();
  if (!st.text_input) {
    require(!f.data.empty(), "predict for a numeric tagging model needs --data SERIES.csv");
    const NumericTable table = read_numeric_csv(f.data);
    require(table.rows >= 1, f.data + ": no rows");
    const Prediction p = predictor.tag_series(table.select(st.features), table.rows);
    std::printf(f.json ? "" : "row,tag,probability\n");
    for (size_t r = 0; r < p.tags.size(); ++r) {
      const TokenTag& t = p.tags[r];
      if (f.json) std::printf("{\"row\":%zu,\"tag\":\"%s\",\"probability\":%.4f}\n", r + 1, t.tag.c_str(), t.probability);
      else std::printf("%zu,%s,%.4f\n", r + 1, t.tag.c_str(), t.probability);
    }
    return;
  }
  for (std::vector<std::string> lines; next_lines(in, f, false, lines);) {
    for (const Prediction& p : predictor.predict_texts(lines)) print_tags(p, f.json);
    std::fflush(stdout);
  }
}

void run_predict(const PredictFlags& f) {
  use_threads(f.threads);
  const Predictor predictor(f.model);
  const TaskState& st = predictor.state();
  require(st.task == Task::Classify || st.task == Task::Regress || st.task == Task::Tag,
          f.model + ": predict labels texts, audio or tagged sequences (use generate for lm, forecast for series)");
  require(f.top_k >= 1, "--top-k must be >= 1");
  std::ifstream file;
  std::istringstream listed;  // audio: the files of --data when it is an audio file or a folder
  if (st.audio_input && !f.data.empty() && (is_audio_file(f.data) || std::filesystem::is_directory(f.data))) {
    std::vector<std::string> paths;
    if (is_audio_file(f.data)) paths.push_back(f.data);
    else
      for (const auto& e : std::filesystem::recursive_directory_iterator(f.data))
        if (e.is_regular_file() && is_audio_file(e.path().string())) paths.push_back(e.path().string());
    std::sort(paths.begin(), paths.end());
    std::string all;
    for (const auto& p : paths) all += p + "\n";
    listed.str(all);
  } else if (!f.data.empty() && !(st.task == Task::Tag && !st.text_input)) {
    file.open(f.data, std::ios::binary);
    require(file.good(), f.data + ": cannot open");
  }
  std::istream& in = f.data.empty() ? std::cin : listed.str().empty() ? static_cast<std::istream&>(file) : listed;
  if (st.task == Task::Tag) return run_predict_tags(predictor, f, in);
  const auto answer = [&](const std::vector<std::string>& lines) {
    return st.audio_input ? predictor.predict_audio(lines, f.top_k) : predictor.predict_texts(lines, f.top_k);
  };
  const auto print = [&](const Prediction& p, const std::string& line) {
    if (p.value) {
      if (f.json) std::printf("{\"value\":%.6g}\n", *p.value);
      else std::printf("%.6g\n", *p.value);
      return;
    }
    if (f.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& l : p.labels) out.push_back({{"label", l.label}, {"probability", float(l.probability)}});
      nlohmann::json record = {{"predictions", out}};
      if (st.audio_input) record["file"] = line;
      std::printf("%s\n", record.dump().c_str());
    } else {
      if (st.audio_input) std::printf("%s\t", line.c_str());  // which file each line is about
      for (size_t i = 0; i < p.labels.size(); ++i)
        std::printf("%s%s %.4f", i ? " " : "", p.labels[i].label.c_str(), p.labels[i].probability);
      std::printf("\n");
    }
  };
  for (std::vector<std::string> lines; next_lines(in, f, st.audio_input, lines);) {
    std::vector<Prediction> answers;
    try {
      answers = answer(lines);
    } catch (const Error&) {
      // A file that cannot be read: answer the chunk's lines one by one, so that every line before it is
      // printed, as line-by-line prediction would, and the bad one stops with its own error.
      for (const std::string& line : lines) {
        print(answer({line})[0], line);
        std::fflush(stdout);
      }
      continue;
    }
    for (size_t n = 0; n < lines.size(); ++n) print(answers[n], lines[n]);
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
  c->add_option("--threads", f->threads, "threads for encoding the texts and for the model's arithmetic")
      ->capture_default_str();
  c->callback([f] { run_predict(*f); });
}

}  // namespace rnnkit::cli
