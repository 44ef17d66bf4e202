// rnnkit forecast: the next `horizon` rows of a series from its last window.
#include <cstdio>

#include "commands.h"
#include "common.h"

namespace rnnkit::cli {

namespace {

struct ForecastFlags {
  std::string model, data;
  int horizon = 0;
};

void run_forecast(const ForecastFlags& f) {
  LoadedTaskModel m = load_task_model(f.model);
  const TaskState& st = m.state;
  require(st.task == Task::Forecast, f.model + ": forecast needs a model trained with --task forecast");
  require(f.horizon == 0 || f.horizon == st.horizon,
          "--horizon " + std::to_string(f.horizon) + ": this model forecasts " + std::to_string(st.horizon) +
              " rows at once (train another with --horizon to change it)");
  const NumericTable table = read_numeric_csv(f.data);
  // With known-ahead columns the last `horizon` rows are the rows to forecast (their target values
  // are ignored); without, the forecast continues after the last row.
  const size_t H = size_t(st.horizon), W = size_t(st.window);
  const size_t end = st.future.empty() ? table.rows : table.rows - std::min(table.rows, H);
  require(end >= W, f.data + ": needs at least " + std::to_string(W + (st.future.empty() ? 0 : H)) + " rows, has " +
                        std::to_string(table.rows));
  std::vector<double> m_all = forecast_matrix(table, st);
  st.scaler.transform(m_all.data(), table.rows);
  const size_t F0 = st.features.size(), K = st.targets.size(), U = st.future.size(), C = F0 + K + U, F = F0 + U;
  std::vector<float> input(W * F);
  for (size_t r = 0; r < W; ++r) {
    const size_t row = end - W + r;
    for (size_t c = 0; c < F0; ++c) input[r * F + c] = float(m_all[row * C + c]);
    for (size_t c = 0; c < U; ++c) input[r * F + F0 + c] = float(m_all[(row + H) * C + F0 + K + c]);
  }
  const std::vector<float> anchor = st.normalise_window(input, nullptr);
  const WindowSource one({input}, {std::vector<float>(H * K, 0.0f)}, int(F));
  ModelCache<float> cache;
  m.model.forward(one.batch({0}), cache, false, nullptr);
  std::printf("step");
  for (const auto& t : st.targets) std::printf(",%s", t.c_str());
  std::printf("\n");
  for (size_t h = 0; h < H; ++h) {
    std::printf("%zu", h + 1);
    for (size_t k = 0; k < K; ++k)
      std::printf(",%.6g", st.scaler.inverse_one(cache.logits[h * K + k] + anchor[h * K + k], int(F0 + k)));
    std::printf("\n");
  }
}

}  // namespace

void add_forecast(CLI::App& app) {
  auto f = std::make_shared<ForecastFlags>();
  CLI::App* c = app.add_subcommand("forecast", "forecast the next rows of a numeric series");
  c->add_option("--model,-m", f->model, "model file from `train --task forecast`")->required();
  c->add_option("--data,-d", f->data, "the series (numeric CSV with the training columns)")->required();
  c->add_option("--horizon", f->horizon, "rows ahead (must match the model's; default: the model's)");
  c->callback([f] { run_forecast(*f); });
}

}  // namespace rnnkit::cli
