// rnnkit forecast: the next `horizon` rows of a series from its last window; beyond the model's own
// horizon, recursively (each forecast becomes an input of the next window).
#include <algorithm>
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
  const size_t H = size_t(st.horizon), W = size_t(st.window);
  require(f.horizon >= 0, "--horizon must be positive, got " + std::to_string(f.horizon));
  const size_t N = f.horizon > 0 ? size_t(f.horizon) : H;  // rows to forecast
  const size_t F0 = st.features.size(), K = st.targets.size(), U = st.future.size(), C = F0 + K + U, F = F0 + U;
  // Beyond the model's own horizon the forecasts are fed back as the next windows' inputs
  // (recursive forecasting), so every input column must be one the model forecasts.
  std::vector<size_t> fed(F0);  // feature column -> the target that fills it
  for (size_t c = 0; c < F0; ++c) {
    fed[c] = size_t(std::find(st.targets.begin(), st.targets.end(), st.features[c]) - st.targets.begin());
    require(N <= H || fed[c] < K, "--horizon " + std::to_string(N) + " is beyond this model's " + std::to_string(H) +
                                      " rows: forecasting further feeds the forecasts back as inputs, but input "
                                      "column '" + st.features[c] + "' is not a forecast target");
  }
  require(U == 0 || N % H == 0, "--horizon " + std::to_string(N) + ": with known-ahead columns it must be a multiple of "
                                    "the model's " + std::to_string(H) + " rows");
  const NumericTable table = read_numeric_csv(f.data);
  // With known-ahead columns the last N rows are the rows to forecast (their target values are
  // ignored); without, the forecast continues after the last row.
  const size_t end = U == 0 ? table.rows : table.rows - std::min(table.rows, N);
  require(end >= W, f.data + ": needs at least " + std::to_string(W + (U == 0 ? 0 : N)) + " rows, has " +
                        std::to_string(table.rows));
  std::vector<double> raw = forecast_matrix(table, st);  // (rows, C) unscaled; grows with the forecasts
  std::vector<double> forecasts;                         // (N, K) in the targets' units
  ModelCache<float> cache;
  for (size_t cur = end; forecasts.size() < N * K; ) {
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
    m.model.forward(one.batch({0}), cache, false, nullptr);
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
