// 100,000-step sequences train with truncated BPTT, and are evaluated, in memory bounded by the chunk,
// not the sequence: the peak of live heap bytes beyond the batch itself is the same for 10,000 and
// 100,000 steps.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "rnnkit/rnnkit.h"
#include "support/alloc_counter.h"

namespace rnnkit {
namespace {

// A regression series (sine plus a slow drift) of T steps, B sequences: predict each next value.
class SeriesSource : public BatchSource {
 public:
  SeriesSource(int T, int B) : T_(T), B_(B) {}
  size_t size() const override { return size_t(B_); }
  int length(size_t) const override { return T_; }
  Batch<float> batch(const std::vector<size_t>& idx) const override {
    Batch<float> b;
    b.T = T_, b.B = int(idx.size()), b.lengths.assign(idx.size(), T_);
    b.features.resize(size_t(T_) * idx.size());
    b.values.resize(b.features.size());
    for (int t = 0; t < T_; ++t)
      for (size_t i = 0; i < idx.size(); ++i) {
        const double x = std::sin(0.05 * t + double(idx[i])) + 1e-5 * t;
        b.features[size_t(t) * idx.size() + i] = float(x);
        b.values[size_t(t) * idx.size() + i] = float(std::sin(0.05 * (t + 1) + double(idx[i])) + 1e-5 * (t + 1));
      }
    return b;
  }

 private:
  int T_, B_;
};

struct Peak {
  long long batch_bytes, beyond_batch;
  double loss_before, loss_after;
};

Peak train_and_evaluate(int T) {
  using namespace testing_alloc;
  ModelConfig c{.input_size = 1, .hidden_size = 32, .output = OutputMode::PerStep, .output_size = 1,
                .head = Head::Identity};
  Model<float> model(c);
  Rng rng(3);
  model.init(rng);
  auto opt = make_optimizer<float>(OptimizerConfig{.kind = OptimizerKind::Adam, .lr = 3e-3});
  const SeriesSource data(T, 2);
  const long long before = live_bytes.load();
  const Batch<float> batch = data.batch({0, 1});
  const long long batch_bytes = live_bytes.load() - before;
  TrainOptions o;
  o.bptt = 100;
  o.clip_norm = 1.0;
  reset_peak();
  Peak p{batch_bytes, 0, evaluate_loss(model, data, 2, 100), 0};
  train_step(model, *opt, batch, o, rng);  // T / 100 chunks, an update each
  p.loss_after = evaluate_loss(model, data, 2, 100);
  p.beyond_batch = peak_bytes.load() - before - batch_bytes * 2;  // evaluate builds its own copy of the batch
  return p;
}

TEST(LongSequences, TruncatedBpttTrainsAHundredThousandStepsInBoundedMemory) {
  const Peak small = train_and_evaluate(10'000);
  const Peak large = train_and_evaluate(100'000);
  std::printf("peak heap beyond the batch: %lld KB at 10,000 steps, %lld KB at 100,000; loss %.4f -> %.4f\n",
              small.beyond_batch >> 10, large.beyond_batch >> 10, large.loss_before, large.loss_after);
  // The inputs grow tenfold; the working memory beyond them does not.
  EXPECT_GT(large.batch_bytes, 9 * small.batch_bytes);
  EXPECT_LT(large.beyond_batch, small.beyond_batch + (1 << 20)) << small.beyond_batch << " vs " << large.beyond_batch;
  EXPECT_LT(large.beyond_batch, 8 << 20);  // a few chunks' activations, not 100,000 steps' (~100 MB)
  // And it learns: a thousand updates on the series lower the loss.
  EXPECT_TRUE(std::isfinite(large.loss_after));
  EXPECT_LT(large.loss_after, 0.5 * large.loss_before) << large.loss_before << " -> " << large.loss_after;
}

}  // namespace
}  // namespace rnnkit
