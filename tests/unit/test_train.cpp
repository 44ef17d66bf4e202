// Training steps: learning a task, truncated BPTT semantics, stateful training and failure modes.
#include <gtest/gtest.h>

#include <limits>

#include <cmath>

#include "rnnkit/rnnkit.h"

namespace rnnkit {
namespace {

// Sequences of +-1 features; the label says whether the first value was positive: the model must
// carry information across the whole (variable) length.
Batch<float> first_sign_batch(Rng& rng, int T, int B) {
  Batch<float> b;
  b.T = T, b.B = B;
  b.features.resize(size_t(T) * B);
  for (int i = 0; i < B; ++i) b.lengths.push_back(2 + int(rng.next() % (T - 1)));
  for (float& x : b.features) x = rng.uniform() < 0.5 ? -1.0f : 1.0f;
  for (int i = 0; i < B; ++i) b.labels.push_back(b.features[i] > 0 ? 1 : 0);
  return b;
}

TEST(Train, LearnsToRememberTheFirstStepOfVariableLengthSequences) {
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru}) {
    ModelConfig c;
    c.input_size = 1, c.cell = cell, c.hidden_size = 8, c.output_size = 2, c.head = Head::Softmax;
    Model<float> model(c);
    Rng rng(1);
    model.init(rng);
    OptimizerConfig oc = OptimizerConfig::defaults_for(OptimizerKind::Adam);
    oc.lr = 0.02;
    auto opt = make_optimizer<float>(oc);
    TrainOptions options;
    options.clip_norm = 1.0;
    for (int step = 0; step < 300; ++step) train_step(model, *opt, first_sign_batch(rng, 10, 32), options, rng);
    const Batch<float> test = first_sign_batch(rng, 10, 200);
    ModelCache<float> cache;
    model.forward(test, cache, false, nullptr);
    int correct = 0;
    for (int b = 0; b < test.B; ++b)
      correct += (cache.logits[b * 2 + 1] > cache.logits[b * 2]) == (test.labels[b] == 1);
    EXPECT_GE(correct, 196) << cell_name(cell);
  }
}

ModelConfig lm_config() {
  ModelConfig c;
  c.vocab_size = 7, c.embedding_dim = 3, c.padding_idx = -1;
  c.cell = CellKind::Lstm, c.hidden_size = 4, c.num_layers = 2;
  c.output = OutputMode::PerStep, c.output_size = 7, c.head = Head::Softmax;
  return c;
}

Batch<double> lm_batch(Rng& rng, int T, int B, std::vector<int> lengths) {
  Batch<double> b;
  b.T = T, b.B = B, b.lengths = std::move(lengths);
  for (int i = 0; i < T * B; ++i) {
    b.tokens.push_back(int32_t(rng.next() % 7));
    b.labels.push_back(int32_t(rng.next() % 7));
  }
  return b;
}

// A kept cache reuses backward's buffers from call to call: the second step allocates (and
// page-faults) nothing the third does not, and a per-step head's gradient reaches the recurrent
// layers without a copy into drnn_out.
TEST(Train, BackwardKeepsItsBuffersFromCallToCall) {
  ModelConfig c;
  c.input_size = 3, c.cell = CellKind::Lstm, c.hidden_size = 8, c.output = OutputMode::PerStep;
  c.output_size = 1, c.head = Head::Identity;
  Model<float> model(c);
  Rng rng(4);
  model.init(rng);
  Batch<float> batch;
  batch.T = 6, batch.B = 4;
  batch.lengths = {6, 3, 5, 6};
  batch.features.resize(size_t(batch.T) * batch.B * 3);
  for (float& x : batch.features) x = float(rng.uniform(-1, 1));
  batch.values.assign(size_t(batch.T) * batch.B, 0.5f);
  ModelCache<float> cache;
  std::vector<const float*> dfeatures;
  for (int call = 0; call < 3; ++call) {
    model.forward(batch, cache, true, &rng, nullptr, nullptr);
    std::vector<float> dlogits(cache.logits.size());
    model.loss(batch, cache, dlogits.data());
    model.params().zero_grad();
    model.backward(batch, cache, dlogits.data());
    dfeatures.push_back(cache.dfeatures.data());
    EXPECT_TRUE(cache.drnn_out.empty()) << "call " << call;
  }
  EXPECT_EQ(dfeatures[1], dfeatures[0]);
  EXPECT_EQ(dfeatures[2], dfeatures[1]);
}

// The work around the recurrent layers that splits over the threads (the embedding's gather, a mean
// head's sums and their gradient, the reverse direction's reordering, a unidirectional layer's
// gather of a padded batch's valid rows) keeps every sum in its order: 2 and 3 threads give the
// logits and gradients of 1, bit for bit. Large enough for each of them to take more than one slice
// (2,560 tokens, 64 steps).
TEST(Train, ThreadCountDoesNotChangeAPaddedMeanHeadModel) {
  for (bool bidirectional : {true, false}) {
    ModelConfig c;
    c.vocab_size = 50, c.embedding_dim = 8, c.cell = bidirectional ? CellKind::Gru : CellKind::Lstm;
    c.hidden_size = 16, c.bidirectional = bidirectional, c.output = OutputMode::Mean;
    c.output_size = 3, c.head = Head::Softmax;
    Model<float> model(c);
    Rng rng(12);
    model.init(rng);
    Batch<float> batch;
    batch.T = 64, batch.B = 40;
    for (int b = 0; b < batch.B; ++b) batch.lengths.push_back(b == 7 ? 0 : 1 + (b * 37) % batch.T);
    for (int k = 0; k < batch.T * batch.B; ++k) batch.tokens.push_back(int32_t(rng.next() % 50));
    for (int b = 0; b < batch.B; ++b) batch.labels.push_back(int32_t(rng.next() % 3));
    auto run = [&](int threads) {
      set_threads(threads);
      ModelCache<float> cache;
      model.forward(batch, cache, true, nullptr);
      std::vector<float> dlogits(cache.logits.size());
      model.loss(batch, cache, dlogits.data());
      model.params().zero_grad();
      model.backward(batch, cache, dlogits.data());
      set_threads(1);
      return std::pair{cache.logits, model.params().grads()};
    };
    const auto one = run(1);
    for (int threads : {2, 3}) {
      const auto many = run(threads);
      EXPECT_EQ(many.first, one.first) << threads << " threads, bidirectional " << bidirectional;
      EXPECT_EQ(many.second, one.second) << threads << " threads, bidirectional " << bidirectional;
    }
  }
}

// A per-step head on a padded batch runs on the valid steps only: their logits and every gradient are
// those of each sequence run alone (the parameters' the sum over the sequences), the padded steps'
// logits are the head's bias, and their rows of dlogits are not read.
TEST(Train, PerStepHeadOnAPaddedBatchEqualsEachSequenceAlone) {
  ModelConfig c;
  c.input_size = 3, c.cell = CellKind::Gru, c.hidden_size = 6, c.output = OutputMode::PerStep;
  c.output_size = 5, c.head = Head::Softmax;
  Model<double> model(c);
  Rng rng(8);
  model.init(rng);
  const int T = 6, B = 3, I = 3, O = 5;
  Batch<double> batch;
  batch.T = T, batch.B = B, batch.lengths = {6, 2, 4};
  batch.features.resize(size_t(T) * B * I);
  for (double& x : batch.features) x = rng.uniform(-1, 1);
  std::vector<double> dlogits(size_t(T) * B * O);
  for (double& g : dlogits) g = rng.uniform(-1, 1);  // padded rows too: they must not be read

  ModelCache<double> cache;
  model.forward(batch, cache, false, nullptr);
  const std::vector<double> logits = cache.logits;
  ParamStore<double>& ps = model.params();
  ps.zero_grad();
  std::vector<double> dfeatures;
  model.backward(batch, cache, dlogits.data(), nullptr, nullptr, &dfeatures);
  const std::vector<double> grads = ps.grads();
  ASSERT_GE(ps.find("fc.bias"), 0);
  const double* bias = ps.value(ps.find("fc.bias"));

  std::vector<double> sum(grads.size(), 0.0);
  for (int b = 0; b < B; ++b) {
    const int L = batch.lengths[size_t(b)];
    Batch<double> one;
    one.T = L, one.B = 1, one.lengths = {L};
    std::vector<double> g;
    for (int t = 0; t < L; ++t) {
      for (int i = 0; i < I; ++i) one.features.push_back(batch.features[(size_t(t) * B + b) * I + i]);
      for (int o = 0; o < O; ++o) g.push_back(dlogits[(size_t(t) * B + b) * O + o]);
    }
    ModelCache<double> alone;
    model.forward(one, alone, false, nullptr);
    ps.zero_grad();
    std::vector<double> dx;
    model.backward(one, alone, g.data(), nullptr, nullptr, &dx);
    for (size_t k = 0; k < sum.size(); ++k) sum[k] += ps.grads()[k];
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < O; ++o) {
        const double got = logits[(size_t(t) * B + b) * O + o];
        if (t < L) EXPECT_NEAR(got, alone.logits[size_t(t) * O + o], 1e-12) << "sequence " << b << " step " << t;
        else EXPECT_EQ(got, bias[o]) << "padded step " << t << " of sequence " << b;
      }
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < I; ++i) {
        const double got = dfeatures[(size_t(t) * B + b) * I + i];
        if (t < L) EXPECT_NEAR(got, dx[size_t(t) * I + i], 1e-12) << "input gradient, sequence " << b;
        else EXPECT_EQ(got, 0.0) << "input gradient of a padded step";
      }
  }
  for (size_t k = 0; k < sum.size(); ++k) EXPECT_NEAR(grads[k], sum[k], 1e-11) << "parameter " << k;
}

TEST(Train, TruncatedBpttIsChunkedTrainingWithTheStateCarriedAndDetached) {
  Rng rng(2);
  const Batch<double> batch = lm_batch(rng, 7, 3, {7, 5, 2});
  Model<double> a(lm_config());
  a.init(rng);
  Model<double> b = a;
  OptimizerConfig oc = OptimizerConfig::defaults_for(OptimizerKind::Sgd);
  oc.lr = 0.5;
  auto opt_a = make_optimizer<double>(oc), opt_b = make_optimizer<double>(oc);
  TrainOptions options;
  options.bptt = 3;
  Rng r1(0), r2(0);
  const StepResult r = train_step(a, *opt_a, batch, options, r1);
  EXPECT_EQ(r.updates, 3);  // steps 0-2, 3-5, 6
  EXPECT_EQ(r.targets, 14);

  // The same by hand: each chunk starts from the previous chunk's final state, as a constant.
  ModelState<double> state;
  TrainOptions full;
  double weighted = 0;
  for (int t0 = 0; t0 < 7; t0 += 3) {
    const Batch<double> chunk = slice_steps(b.config(), batch, t0, std::min(3, 7 - t0));
    const StepResult s = train_step(b, *opt_b, chunk, full, r2, &state);
    weighted += s.loss * double(count_targets(b.config(), chunk));
  }
  EXPECT_EQ(a.params().values(), b.params().values());
  EXPECT_NEAR(r.loss, weighted / 14, 1e-12);

  // And it differs from full BPTT, whose gradients cross the chunk boundaries.
  Model<double> c = b;
  auto opt_c = make_optimizer<double>(oc);
  train_step(c, *opt_c, batch, full, r1);
  EXPECT_NE(c.params().values(), b.params().values());
}

TEST(Train, BpttAtLeastTheLengthIsFullBptt) {
  Rng rng(3);
  const Batch<double> batch = lm_batch(rng, 5, 2, {5, 4});
  Model<double> a(lm_config());
  a.init(rng);
  Model<double> b = a;
  OptimizerConfig oc = OptimizerConfig::defaults_for(OptimizerKind::Adam);
  auto opt_a = make_optimizer<double>(oc), opt_b = make_optimizer<double>(oc);
  TrainOptions t;
  t.bptt = 5;
  Rng r1(0), r2(0);
  train_step(a, *opt_a, batch, t, r1);
  train_step(b, *opt_b, batch, TrainOptions{}, r2);
  EXPECT_EQ(a.params().values(), b.params().values());
}

TEST(Train, StatefulTrainingCarriesTheStateAcrossCalls) {
  Rng rng(4);
  const Batch<double> batch = lm_batch(rng, 4, 2, {4, 4});
  Model<double> model(lm_config());
  model.init(rng);
  auto opt = make_optimizer<double>(OptimizerConfig::defaults_for(OptimizerKind::Sgd));
  ModelState<double> state;
  train_step(model, *opt, batch, TrainOptions{}, rng, &state);
  EXPECT_EQ(state.h.size(), model.state_size(2));
  EXPECT_EQ(state.c.size(), model.state_size(2));
  const ModelState<double> before = state;
  train_step(model, *opt, batch, TrainOptions{}, rng, &state);
  EXPECT_NE(state.h, before.h);
}

TEST(Train, RefusesTruncatedBpttWhereItCannotApply) {
  Rng rng(5);
  ModelConfig c = lm_config();
  c.bidirectional = true;
  Model<double> bi(c);
  auto opt = make_optimizer<double>(OptimizerConfig::defaults_for(OptimizerKind::Sgd));
  TrainOptions t;
  t.bptt = 2;
  EXPECT_THROW(train_step(bi, *opt, lm_batch(rng, 5, 2, {5, 5}), t, rng), Error);
  c = lm_config();
  c.output = OutputMode::Last;
  Model<double> last(c);
  Batch<double> b = lm_batch(rng, 5, 2, {5, 5});
  b.labels = {1, 2};
  EXPECT_THROW(train_step(last, *opt, b, t, rng), Error);
}

TEST(Train, NonFiniteLossStopsBeforeAnyUpdate) {
  Rng rng(6);
  Model<double> model(lm_config());
  model.init(rng);
  model.params().values().back() = std::nan("");  // an output bias: every loss term sees it
  const std::vector<double> before = model.params().values();
  auto opt = make_optimizer<double>(OptimizerConfig::defaults_for(OptimizerKind::Adam));
  try {
    train_step(model, *opt, lm_batch(rng, 3, 2, {3, 3}), TrainOptions{}, rng);
    FAIL() << "no error";
  } catch (const Error& e) {
    // It says where the NaN came from: the output bias.
    EXPECT_NE(std::string(e.what()).find("parameter fc.bias holds nan"), std::string::npos) << e.what();
  }
  for (size_t i = 0; i < before.size(); ++i) {
    if (std::isnan(before[i])) continue;
    EXPECT_EQ(model.params().values()[i], before[i]);
  }
  EXPECT_EQ(opt->steps(), 0);
}

TEST(Train, NonFiniteInputsAreReportedWithTheirPosition) {
  Rng rng(8);
  Model<double> model(ModelConfig{.input_size = 3, .hidden_size = 4, .output_size = 1, .head = Head::Identity});
  model.init(rng);
  auto opt = make_optimizer<double>(OptimizerConfig::defaults_for(OptimizerKind::Adam));
  Batch<double> b;
  b.T = 4, b.B = 2, b.lengths = {4, 4};
  b.features.assign(size_t(4 * 2 * 3), 0.5);
  b.values = {1.0, 2.0};
  b.features[(2 * 2 + 1) * 3 + 1] = std::numeric_limits<double>::infinity();  // step 2, sequence 1, feature 1
  try {
    train_step(model, *opt, b, TrainOptions{}, rng);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input feature 1 of step 2 of sequence 1 in the batch is inf"),
              std::string::npos)
        << e.what();
  }
  b.features[(2 * 2 + 1) * 3 + 1] = 0.5;
  b.values[1] = std::nan("");
  try {
    train_step(model, *opt, b, TrainOptions{}, rng);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target value 1 of the batch is nan"), std::string::npos) << e.what();
  }
  EXPECT_EQ(opt->steps(), 0);
}

TEST(Train, BadBatchesAreRefusedWithTheirShape) {
  Model<float> model(ModelConfig{.vocab_size = 5, .embedding_dim = 2, .hidden_size = 3, .output_size = 2});
  Batch<float> b;
  b.T = 2, b.B = 2, b.lengths = {2, 2}, b.tokens = {1, 2, 3};
  ModelCache<float> cache;
  try {
    model.forward(b, cache, false, nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 tokens, expected T*B = 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rnnkit
