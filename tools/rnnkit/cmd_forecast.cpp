// rnnkit forecast: the next `horizon` rows of a series from its last window; beyond the model's own
// horizon, recursively (each forecast becomes an input of the next window).
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "rnnkit/workflow/predictor.h"

namespace rnnkit::cli {

namespace {

struct ForecastFlags {
  std::string model, data;
  int horizon = 0;
};

void run_forecast(const ForecastFlags& f) {
  const Predictor predictor(f.model);
  require(predictor.state().task == Task::Forecast, f.model + ": forecast needs a model trained with --task forecast");
  require(f.horizon >= 0, "--horizon must be positive, got " + std::to_string(f.horizon));
  const TaskState& st = predictor.state();
  const size_t N = f.horizon > 0 ? size_t(f.horizon) : size_t(st.horizon), K = st.targets.size();
  const std::vector<double> forecasts = predictor.forecast(read_numeric_csv(f.data), N);
  std::printf("step");
  for (const auto& t : st.targets) std::printf(",%s", t.c_str());
  std::printf("\n");
  for (size_t h = 0; h < N; ++h) {
    std::printf("%zu", h + 1);
    for (size_t k = 0; k < K; ++k) std::printf(",%.6g", forecasts[h * K + k]);
    std::printf("\n");
  }
}

}  // namespace

void add_forecast(CLI::App& app) {
  auto f = std::make_shared<ForecastFlags>();
  CLI::App* c = app.add_subcommand("forecast", "forecast the next rows of a numeric series");
  c->add_option("--model,-m", f->model, "model file from `train --task forecast`")->required();
  c->add_option("--data,-d", f->data, "the series (numeric CSV with the training columns)")->required();
  c->add_option("--horizon", f->horizon,
                 "rows ahead (default: the model's; beyond it, forecasts are fed back as inputs)");
  c->callback([f] { run_forecast(*f); });
}

}  // namespace rnnkit::cli
