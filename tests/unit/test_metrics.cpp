// Metrics against hand-computed (scikit-learn-equivalent) values, and the training loop's contract.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rnnkit/data/sequence.h"
#include "rnnkit/rnnkit.h"
#include "rnnkit/train/metrics.h"
#include "rnnkit/train/trainer.h"
#include "rnnkit/workflow/task.h"

namespace rnnkit {
namespace {

TEST(Metrics, ClassificationReportMatchesScikitLearn) {
  // sklearn.metrics.classification_report(y_true=[0,0,1,1,2,2], y_pred=[0,1,1,1,2,0]):
  // precision [0.5, 0.667, 1.0], recall [0.5, 1.0, 0.5], f1 [0.5, 0.8, 0.667], accuracy 0.667.
  const ClassificationReport r = classification_report({0, 1, 1, 1, 2, 0}, {0, 0, 1, 1, 2, 2}, 3);
  EXPECT_NEAR(r.accuracy, 4.0 / 6, 1e-12);
  EXPECT_NEAR(r.precision[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.recall[2], 0.5, 1e-12);
  EXPECT_NEAR(r.f1[1], 0.8, 1e-12);
  EXPECT_NEAR(r.macro_f1, (0.5 + 0.8 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(r.micro_f1, 4.0 / 6, 1e-12);
  EXPECT_EQ(r.confusion, (std::vector<int64_t>{1, 1, 0, 0, 2, 0, 1, 0, 1}));
  const ClassificationReport none = classification_report({0, 0}, {0, -1}, 2);  // ignored gold, unpredicted class
  EXPECT_EQ(none.total, 1);
  EXPECT_EQ(none.precision[1], 0.0);
  EXPECT_THROW(classification_report({0}, {0, 1}, 2), Error);
  const RegressionReport g = regression_report({1, 2, 4}, {1, 1, 1});
  EXPECT_NEAR(g.rmse, std::sqrt(10.0 / 3), 1e-12);
  EXPECT_NEAR(g.mae, 4.0 / 3, 1e-12);
  EXPECT_NEAR(bits_per_token(std::log(2.0)), 1.0, 1e-12);
}

// A source of first-sign sequences (see test_train.cpp): label = sign of the first step.
class SignSource : public BatchSource {
 public:
  SignSource(size_t n, uint64_t seed) {
    Rng rng(seed);
    for (size_t i = 0; i < n; ++i) {
      const int len = 2 + int(rng.next() % 8);
      std::vector<float> x(static_cast<size_t>(len));
      for (float& v : x) v = rng.uniform() < 0.5 ? -1.0f : 1.0f;
      labels_.push_back(x[0] > 0 ? 1 : 0);
      seqs_.push_back(std::move(x));
    }
  }
  size_t size() const override { return seqs_.size(); }
  int length(size_t i) const override { return int(seqs_[i].size()); }
  Batch<float> batch(const std::vector<size_t>& idx) const override {
    Batch<float> b = feature_batch<float>(seqs_, 1, idx);
    for (size_t i : idx) b.labels.push_back(labels_[i]);
    return b;
  }

 private:
  std::vector<std::vector<float>> seqs_;
  std::vector<int32_t> labels_;
};

// A one-layer model of 8 units over SignSource's one feature, initialised from `seed`.
Model<float> sign_model(CellKind cell, int outputs, uint64_t seed) {
  ModelConfig c;
  c.input_size = 1, c.cell = cell, c.hidden_size = 8, c.output_size = outputs;
  Model<float> model(c);
  Rng rng(seed);
  model.init(rng);
  return model;
}

TEST(Evaluation, LengthSortedBatchesHoldEveryExampleOnceShortestFirst) {
  const SignSource data(103, 3);
  const auto batches = length_sorted_batches(data, 16);
  ASSERT_EQ(batches.size(), 7u);  // six of 16, one of 7
  std::vector<int> seen(data.size(), 0);
  int previous = 0;
  for (size_t k = 0; k < batches.size(); ++k) {
    EXPECT_EQ(batches[k].size(), k + 1 < batches.size() ? 16u : 7u);
    for (size_t i : batches[k]) {
      ASSERT_LT(i, data.size());
      ++seen[i];
      EXPECT_GE(data.length(i), previous);  // lengths never fall from one example to the next
      previous = data.length(i);
    }
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), ptrdiff_t(data.size()));
  EXPECT_THROW(length_sorted_batches(data, 0), Error);
}

// A pass over a split in length-sorted batches gives every example what a forward of that example
// alone gives, put back in the source's order: outputs, classes and the mean loss.
TEST(Evaluation, APassOverASplitGivesEachExampleWhatItGetsAlone) {
  Model<float> model = sign_model(CellKind::Lstm, 3, 4);
  const SignSource data(70, 5);  // lengths 2-9 in no order
  ModelCache<float> alone;
  alone.inference = true;
  std::vector<std::vector<float>> expected(data.size());
  double loss_sum = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const Batch<float> one = data.batch({i});
    model.forward(one, alone, false, nullptr);
    expected[i] = alone.logits;
    loss_sum += model.loss(one, alone, nullptr);
  }
  std::vector<int> seen(data.size(), 0);
  std::vector<int32_t> classes(data.size(), -1);
  const SplitBatchFn argmax = workflow::class_argmax(3, classes);
  const double loss = evaluate_loss(model, data, 16, 0,
                                    [&](const std::vector<size_t>& idx, const Batch<float>& b, const ModelCache<float>& cache) {
                                      ASSERT_EQ(b.B, int(idx.size()));
                                      for (size_t k = 0; k < idx.size(); ++k) {
                                        ++seen[idx[k]];
                                        EXPECT_EQ(b.lengths[k], data.length(idx[k]));
                                        for (int o = 0; o < 3; ++o)
                                          EXPECT_NEAR(cache.logits[k * 3 + size_t(o)], expected[idx[k]][size_t(o)], 1e-6);
                                      }
                                      argmax(idx, b, cache);
                                    });
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), ptrdiff_t(data.size()));
  EXPECT_NEAR(loss, loss_sum / double(data.size()), 1e-6);
  EXPECT_EQ(workflow::predict_classes(model, data, 16), classes);
  for (size_t i = 0; i < data.size(); ++i)
    EXPECT_EQ(classes[i], std::max_element(expected[i].begin(), expected[i].end()) - expected[i].begin()) << i;
}

TEST(Trainer, KeepsTheBestModelStopsEarlyAndStopsWhenAsked) {
  Model<float> model = sign_model(CellKind::Gru, 2, 1);
  const SignSource train(512, 1), valid(128, 2);
  TrainerConfig tc;
  tc.epochs = 15;
  tc.patience = 2;
  tc.optimizer.lr = 0.02;
  std::vector<double> seen;
  TrainCallbacks cb;
  cb.on_epoch = [&](const EpochRecord& r, const std::vector<EpochRecord>& h, const Model<float>& best) {
    seen.push_back(r.valid_loss);
    EXPECT_EQ(h.size(), seen.size());
    if (r.best) {
      EXPECT_NEAR(evaluate_loss(best, valid, 64), r.valid_loss, 1e-6);
    }
  };
  const TrainResult result = fit(model, train, valid, tc, cb);
  ASSERT_FALSE(result.history.empty());
  EXPECT_NEAR(result.best_valid_loss, *std::min_element(seen.begin(), seen.end()), 1e-12);
  EXPECT_NEAR(evaluate_loss(result.best, valid, 64), result.best_valid_loss, 1e-6);
  EXPECT_LT(result.best_valid_loss, 0.1);  // the task is learnable
  if (result.stopped_early) {
    EXPECT_LT(result.history.size(), 15u);
  }

  int polls = 0;
  cb = {};
  cb.should_stop = [&] { return ++polls > 3; };  // "Ctrl-C" after three steps
  const TrainResult stopped = fit(model, train, valid, tc, cb);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.history.size(), 1u);
  EXPECT_EQ(stopped.history[0].steps, 3);
}

// valid_batch sees every validation example once an epoch, in the validation loss's pass, before
// valid_metric: an accuracy gathered there is the accuracy of the epoch's model.
TEST(Trainer, GathersTheValidationMetricInTheLossPass) {
  Model<float> model = sign_model(CellKind::Gru, 2, 1);
  const SignSource train(256, 1), valid(100, 2);
  TrainerConfig tc;
  tc.epochs = 3, tc.patience = 0;
  std::vector<int32_t> classes(valid.size(), -1);
  const SplitBatchFn argmax = workflow::class_argmax(2, classes);
  size_t rows = 0;
  TrainCallbacks cb;
  cb.valid_batch = [&](const std::vector<size_t>& idx, const Batch<float>& b, const ModelCache<float>& cache) {
    rows += idx.size();
    argmax(idx, b, cache);
  };
  std::vector<size_t> rows_at_metric;
  cb.valid_metric = [&](const Model<float>&, double) {
    rows_at_metric.push_back(rows);
    size_t right = 0;
    for (size_t i = 0; i < valid.size(); ++i) right += classes[i] == valid.batch({i}).labels[0];
    return double(right) / double(valid.size());
  };
  cb.metric_name = "accuracy";
  const TrainResult result = fit(model, train, valid, tc, cb);
  ASSERT_EQ(result.history.size(), 3u);
  EXPECT_EQ(rows_at_metric, (std::vector<size_t>{100, 200, 300}));
  const std::vector<int32_t> last = workflow::predict_classes(model, valid);  // the last epoch's model
  size_t right = 0;
  for (size_t i = 0; i < valid.size(); ++i) right += last[i] == valid.batch({i}).labels[0];
  EXPECT_EQ(result.history.back().valid_metric, double(right) / double(valid.size()));
  EXPECT_EQ(result.history.back().metric, "accuracy");
}

TEST(Trainer, ResumingFromACheckpointRepeatsTheRemainingEpochsExactly) {
  ModelConfig c;
  c.input_size = 1, c.cell = CellKind::Lstm, c.hidden_size = 6, c.output_size = 2, c.output_dropout = 0.2;
  const SignSource train(256, 3), valid(64, 4);
  TrainerConfig tc;
  tc.epochs = 4;
  tc.patience = 0;
  tc.optimizer.lr = 0.01;
  tc.schedule.kind = ScheduleKind::Plateau;
  tc.schedule.patience = 0;
  Model<float> straight(c);
  Rng rng(1);
  straight.init(rng);
  Model<float> resumed = straight;
  const TrainResult full = fit(straight, train, valid, tc);

  TrainState saved;
  TrainCallbacks cb;
  cb.on_checkpoint = [&](const TrainState& st) {
    if (st.epoch == 2) saved = st;
  };
  cb.should_stop = [&] { return saved.epoch == 2; };  // "killed" after epoch 2's checkpoint
  fit(resumed, train, valid, tc, cb);
  ASSERT_EQ(saved.epoch, 2);
  const TrainResult rest = fit(resumed, train, valid, tc, {}, &saved);
  EXPECT_EQ(resumed.params().values(), straight.params().values());
  EXPECT_EQ(rest.best.params().values(), full.best.params().values());
  ASSERT_EQ(rest.history.size(), full.history.size());
  for (size_t e = 0; e < full.history.size(); ++e) EXPECT_EQ(rest.history[e].valid_loss, full.history[e].valid_loss);
}

}  // namespace
}  // namespace rnnkit
