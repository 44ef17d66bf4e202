// Metrics.
#include "rnnkit/train/metrics.h"

#include <cmath>

#include "rnnkit/core/error.h"

namespace rnnkit {

ClassificationReport classification_report(const std::vector<int32_t>& predicted, const std::vector<int32_t>& gold,
                                           int classes) {
  require(predicted.size() == gold.size(), "metrics: " + std::to_string(predicted.size()) + " predictions for " +
                                               std::to_string(gold.size()) + " labels");
  require(classes >= 1, "metrics need at least one class");
  ClassificationReport r;
  r.classes = classes;
  r.confusion.assign(size_t(classes) * size_t(classes), 0);
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] < 0) continue;
    require(gold[i] < classes && predicted[i] >= 0 && predicted[i] < classes,
            "metrics: label out of range at " + std::to_string(i));
    ++r.confusion[size_t(gold[i]) * size_t(classes) + size_t(predicted[i])];
    correct += gold[i] == predicted[i];
    ++r.total;
  }
  r.accuracy = r.total ? double(correct) / double(r.total) : 0.0;
  r.precision.resize(size_t(classes));
  r.recall.resize(size_t(classes));
  r.f1.resize(size_t(classes));
  r.support.resize(size_t(classes));
  for (int c = 0; c < classes; ++c) {
    int64_t tp = r.confusion[size_t(c) * size_t(classes) + size_t(c)], pred = 0, gold_n = 0;
    for (int k = 0; k < classes; ++k) {
      pred += r.confusion[size_t(k) * size_t(classes) + size_t(c)];
      gold_n += r.confusion[size_t(c) * size_t(classes) + size_t(k)];
    }
    r.support[size_t(c)] = gold_n;
    r.precision[size_t(c)] = pred ? double(tp) / double(pred) : 0.0;
    r.recall[size_t(c)] = gold_n ? double(tp) / double(gold_n) : 0.0;
    const double p = r.precision[size_t(c)], q = r.recall[size_t(c)];
    r.f1[size_t(c)] = p + q > 0 ? 2 * p * q / (p + q) : 0.0;
    r.macro_f1 += r.f1[size_t(c)] / classes;
  }
  r.micro_f1 = r.accuracy;  // single-label: micro precision = micro recall = accuracy
  return r;
}

RegressionReport regression_report(const std::vector<double>& predicted, const std::vector<double>& actual) {
  require(predicted.size() == actual.size(), "metrics: predictions and targets differ in count");
  RegressionReport r;
  double sq = 0, abs = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = predicted[i] - actual[i];
    sq += d * d, abs += std::abs(d);
  }
  r.count = int64_t(actual.size());
  r.rmse = r.count ? std::sqrt(sq / double(r.count)) : 0.0;
  r.mae = r.count ? abs / double(r.count) : 0.0;
  return r;
}

}  // namespace rnnkit
