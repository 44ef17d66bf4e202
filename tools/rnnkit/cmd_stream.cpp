// rnnkit stream: step-by-step inference on stdin, the model's state kept from line to line.
//   text models (classify, regress, lm, tag): each line's tokens are the next steps; printed after
//     each line: the label so far (classify), the value so far (regress), the most likely next tokens
//     (lm), or each token's tag (tag);
//   numeric tagging models: each line is one row of the feature columns (commas or spaces); its tag.
// An empty line starts a new sequence. --state-in / --state-out restore and keep the state.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "rnnkit/workflow/predictor.h"

namespace rnnkit::cli {

namespace {

struct StreamFlags {
  std::string model, state_in, state_out;
  int top_k = 1;
  bool json = false;
};

std::vector<double> parse_row(const std::string& line, size_t expected, size_t line_no) {
  std::string s = line;
  for (char& ch : s)
    if (ch == ',' || ch == ';' || ch == '\t') ch = ' ';
  std::istringstream in(s);
  std::vector<double> row;
  for (std::string field; in >> field;) {
    try {
      size_t used = 0;
      row.push_back(std::stod(field, &used));
      require(used == field.size(), "");
    } catch (const std::exception&) {
      throw Error("stdin line " + std::to_string(line_no) + ": '" + field + "' is not a number");
    }
  }
  require(row.size() == expected, "stdin line " + std::to_string(line_no) + ": " + std::to_string(row.size()) +
                                      " values, the model reads " + std::to_string(expected) + " per step");
  return row;
}

// Labels, most probable first; next tokens (lm) are quoted so that spaces and newlines show.
void print_labels(const std::vector<LabelScore>& labels, bool json, const char* key, bool quote = false) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : labels) out.push_back({{"label", l.label}, {"probability", l.probability}});
    std::printf("%s\n", nlohmann::json({{key, out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  for (size_t i = 0; i < labels.size(); ++i)
    std::printf("%s%s %.4f", i ? " " : "",
                quote ? nlohmann::json(labels[i].label).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str()
                      : labels[i].label.c_str(),
                labels[i].probability);
  std::printf("\n");
}

void run_stream(const StreamFlags& f) {
  const Predictor predictor(f.model);
  const TaskState& st = predictor.state();
  require(st.task != Task::Forecast, f.model + ": a forecast model reads whole windows (normalised per window); "
                                               "use forecast");
  require(!st.audio_input, f.model + ": an audio model reads whole clips; use predict");
  require(f.top_k >= 1, "--top-k must be >= 1");
  require(!predictor.model().config().bidirectional,
          f.model + ": a bidirectional model reads each sequence backwards too, so it cannot stream step by step; "
                    "use predict on whole sequences");
  Stream<float> stream = predictor.stream();
  if (!f.state_in.empty()) {
    std::ifstream in(f.state_in, std::ios::binary);
    require(in.good(), f.state_in + ": cannot open");
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      stream.load_state(bytes.data(), bytes.size());
    } catch (const Error& e) {
      throw Error(f.state_in + ": " + e.what());
    }
  }
  const bool numeric = st.task == Task::Tag && !st.text_input;
  const size_t C = size_t(predictor.model().config().output_size);
  size_t line_no = 0;
  for (std::string line; std::getline(std::cin, line);) {
    ++line_no;
    if (line.empty()) {
      stream.reset();
      continue;
    }
    if (numeric) {
      std::vector<double> row = parse_row(line, st.features.size(), line_no);
      st.scaler.transform(row.data(), 1);
      const std::vector<float> x(row.begin(), row.end());
      const std::vector<float>& p = stream.step(x.data());
      print_labels(predictor.top_k(p.data(), f.top_k), f.json, "tags");
    } else if (st.task == Task::Tag) {
      std::vector<std::string> tokens;
      std::vector<int32_t> ids;
      std::istringstream words(line);
      for (std::string w; words >> w;) tokens.push_back(w), ids.push_back(st.text.vocab().id(st.text.clean(w)));
      if (ids.empty()) continue;
      const std::vector<float>& p = stream.chunk(ids.data(), int(ids.size()));
      nlohmann::json out = nlohmann::json::array();
      for (size_t t = 0; t < tokens.size(); ++t) {
        const LabelScore best = predictor.top_k(p.data() + t * C, 1)[0];
        if (f.json) out.push_back({{"token", tokens[t]}, {"tag", best.label}, {"probability", best.probability}});
        else std::printf("%s%s/%s", t ? " " : "", tokens[t].c_str(), best.label.c_str());
      }
      std::printf("%s\n", f.json ? nlohmann::json({{"tokens", out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str() : "");
    } else {
      // Every token of the line, untruncated (a stream has no maximum length).
      const std::vector<int32_t> ids = st.encode_steps(line);
      if (ids.empty()) continue;
      const std::vector<float>& p = stream.chunk(ids.data(), int(ids.size()));
      if (st.task == Task::Regress) {
        const double v = st.scaler.inverse_one(p[0], 0);
        if (f.json) std::printf("{\"value\":%.6g}\n", v);
        else std::printf("%.6g\n", v);
      } else {
        // Per-step models (lm): the distribution after the line's last token; others: the label so far.
        const float* last = p.data() + p.size() - C;
        const bool lm = st.task == Task::Lm;
        print_labels(predictor.top_k(last, f.top_k), f.json, lm ? "next" : "predictions", lm);
      }
    }
    std::fflush(stdout);
  }
  if (!f.state_out.empty()) write_file_atomically(f.state_out, stream.save_state());
}

}  // namespace

void add_stream(CLI::App& app) {
  auto f = std::make_shared<StreamFlags>();
  CLI::App* c = app.add_subcommand("stream", "step-by-step inference on stdin, keeping the state between lines");
  c->add_option("--model,-m", f->model, "model file (not bidirectional)")->required();
  c->add_option("--top-k,-k", f->top_k, "labels (or next tokens) per line, most probable first")->capture_default_str();
  c->add_flag("--json", f->json, "one JSON object per line");
  c->add_option("--state-in", f->state_in, "start from a state saved by --state-out");
  c->add_option("--state-out", f->state_out, "write the state at the end of the input");
  c->callback([f] { run_stream(*f); });
}

}  // namespace rnnkit::cli
