// Each command registers its flags (defaults from its options struct) and runs one library workflow.
#pragma once

#include <CLI/CLI.hpp>

namespace rnnkit::cli {

void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_predict(CLI::App& app);
void add_generate(CLI::App& app);
void add_info(CLI::App& app);
void add_forecast(CLI::App& app);
void add_stream(CLI::App& app);
void add_serve(CLI::App& app);

}  // namespace rnnkit::cli
