// Evaluation metrics: classification (accuracy, per-class precision / recall / F1, macro and micro
// F1, confusion matrix), language models (loss, perplexity, bits per token) and regression (RMSE, MAE).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace rnnkit {

struct ClassificationReport {
  int classes = 0;
  int64_t total = 0;
  double accuracy = 0.0;
  std::vector<double> precision, recall, f1;  // per class
  std::vector<int64_t> support;               // gold examples per class
  double macro_f1 = 0.0, micro_f1 = 0.0;
  std::vector<int64_t> confusion;  // (classes, classes): row = gold, column = predicted
};

// Ignores pairs whose gold label is negative. A class never predicted has precision 0 (as
// scikit-learn's zero_division=0).
ClassificationReport classification_report(const std::vector<int32_t>& predicted, const std::vector<int32_t>& gold,
                                           int classes);

struct RegressionReport {
  int64_t count = 0;
  double rmse = 0.0, mae = 0.0;
};
RegressionReport regression_report(const std::vector<double>& predicted, const std::vector<double>& actual);

// From a mean cross-entropy in nats per token.
inline double perplexity(double mean_nats) { return std::exp(mean_nats); }
inline double bits_per_token(double mean_nats) { return mean_nats / std::log(2.0); }

}  // namespace rnnkit
