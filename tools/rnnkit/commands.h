// Each command registers its flags (defaults from its options struct) and runs one library workflow.
#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "rnnkit/nn/model.h"
#include "rnnkit/workflow/task.h"

namespace rnnkit::cli {

struct EvalFlags {
  std::string model, data, text_column = "text", label_column = "label";
  bool json = false;
  int batch_size = 64;
  int threads = 1;  // the command's; eval_report runs on whatever set_threads set
};
// What `rnnkit eval --json` prints: the model's figures on labelled data (the task's metrics), one
// JSON object. Throws Error naming the file on bad input. The first form loads flags.model; the second
// evaluates a model already loaded (flags.model only names it in the report).
nlohmann::json eval_report(const EvalFlags& flags);
nlohmann::json eval_report(const Model<float>& model, const workflow::TaskState& state, const EvalFlags& flags);

void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_predict(CLI::App& app);
void add_generate(CLI::App& app);
void add_info(CLI::App& app);
void add_forecast(CLI::App& app);
void add_stream(CLI::App& app);
void add_serve(CLI::App& app);

}  // namespace rnnkit::cli
