// Optimizers, schedules and clipping beyond the PyTorch parity fixtures: frozen parameters,
// validation of hyper-parameters, clipping rules.
#include <gtest/gtest.h>

#include <cmath>

#include "rnnkit/rnnkit.h"

namespace rnnkit {
namespace {

TEST(Optimizer, SkipsFrozenParameters) {
  for (OptimizerKind kind : {OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::RmsProp,
                             OptimizerKind::Adagrad}) {
    ParamStore<float> ps;
    ps.add("trained", {2});
    ps.add("frozen", {2}, false);
    std::fill(ps.values().begin(), ps.values().end(), 1.0f);
    std::fill(ps.grads().begin(), ps.grads().end(), 0.5f);
    OptimizerConfig c = OptimizerConfig::defaults_for(kind);
    c.weight_decay = 0.1;
    auto opt = make_optimizer<float>(c);
    opt->step(ps);
    EXPECT_LT(ps.values()[0], 1.0f) << optimizer_name(kind);
    EXPECT_EQ(ps.values()[2], 1.0f) << optimizer_name(kind);
    EXPECT_EQ(ps.values()[3], 1.0f) << optimizer_name(kind);
  }
}

TEST(Optimizer, FirstAdamStepMovesEachWeightByTheLearningRate) {
  ParamStore<double> ps;
  ps.add("w", {3});
  ps.grads() = {0.5, -2.0, 1e-3};
  OptimizerConfig c = OptimizerConfig::defaults_for(OptimizerKind::Adam);
  c.lr = 0.1;
  auto opt = make_optimizer<double>(c);
  opt->step(ps);
  EXPECT_NEAR(ps.values()[0], -0.1, 1e-6);
  EXPECT_NEAR(ps.values()[1], 0.1, 1e-6);
  EXPECT_NEAR(ps.values()[2], -0.1, 1e-4);
  EXPECT_EQ(opt->steps(), 1);
  EXPECT_EQ(opt->state().count("exp_avg"), 1u);
}

// Adam's update and the gradient norm are spread over the threads for large parameters (vectorised,
// with a tail shorter than a vector): the same bits at any thread count, and each element as the
// scalar formula computes it in double, within float rounding.
TEST(Optimizer, AdamAndClippingGiveTheSameBitsAtAnyThreadCount) {
  auto run = [](int threads) {
    set_threads(threads);
    ParamStore<float> ps;
    ps.add("big", {300001});
    ps.add("small", {7});
    Rng rng(5);
    for (float& v : ps.values()) v = float(rng.uniform(-1, 1));
    OptimizerConfig c = OptimizerConfig::defaults_for(OptimizerKind::AdamW);
    c.lr = 0.01;
    auto opt = make_optimizer<float>(c);
    std::vector<double> norms;
    for (int step = 0; step < 3; ++step) {
      for (float& g : ps.grads()) g = float(rng.uniform(-2, 2));
      norms.push_back(clip_grad_norm(ps, 100.0));
      opt->step(ps);
    }
    set_threads(1);
    return std::make_pair(ps.values(), norms);
  };
  const auto [one, norms_one] = run(1);
  for (int threads : {2, 3}) {
    const auto [many, norms_many] = run(threads);
    EXPECT_EQ(norms_one, norms_many) << threads << " threads";
    ASSERT_EQ(one, many) << threads << " threads";
  }

  // One AdamW step by hand, in double, for the last (tail) elements.
  ParamStore<float> ps;
  ps.add("w", {13});
  for (int i = 0; i < 13; ++i) ps.values()[size_t(i)] = 0.1f * float(i) - 0.5f, ps.grads()[size_t(i)] = 0.3f - 0.05f * float(i);
  const std::vector<float> p0 = ps.values(), g = ps.grads();
  OptimizerConfig c = OptimizerConfig::defaults_for(OptimizerKind::AdamW);
  c.lr = 0.01;
  make_optimizer<float>(c)->step(ps);
  for (int i = 0; i < 13; ++i) {
    const double gi = g[size_t(i)], m = (1 - c.beta1) * gi, v = (1 - c.beta2) * gi * gi;
    const double denom = std::sqrt(v) / std::sqrt(1 - c.beta2) + c.eps;
    const double want = double(p0[size_t(i)]) * (1 - c.lr * c.weight_decay) - c.lr / (1 - c.beta1) * m / denom;
    EXPECT_NEAR(ps.values()[size_t(i)], want, 1e-6 * (1 + std::abs(want))) << "element " << i;
  }
}

// SGD, RMSprop and Adagrad run vectorised and threaded as Adam does: every variant (momentum,
// Nesterov, dampening, weight decay, centered) gives the same bits at any thread count, and the float
// run follows the double one within float rounding over three steps (tails shorter than a vector too).
TEST(Optimizer, EveryOptimizerGivesTheSameBitsAtAnyThreadCountAndFollowsDouble) {
  std::vector<std::pair<std::string, OptimizerConfig>> cases;
  auto add = [&](const std::string& name, OptimizerKind kind, auto tweak) {
    OptimizerConfig c = OptimizerConfig::defaults_for(kind);
    tweak(c);
    cases.emplace_back(name, c);
  };
  add("sgd", OptimizerKind::Sgd, [](OptimizerConfig& c) { c.lr = 0.05; });
  add("sgd momentum dampening wd", OptimizerKind::Sgd,
      [](OptimizerConfig& c) { c.lr = 0.05, c.momentum = 0.9, c.dampening = 0.3, c.weight_decay = 0.01; });
  add("sgd nesterov", OptimizerKind::Sgd, [](OptimizerConfig& c) { c.lr = 0.05, c.momentum = 0.8, c.nesterov = true; });
  add("rmsprop", OptimizerKind::RmsProp, [](OptimizerConfig& c) { c.lr = 0.01; });
  add("rmsprop centered momentum wd", OptimizerKind::RmsProp,
      [](OptimizerConfig& c) { c.lr = 0.01, c.centered = true, c.momentum = 0.5, c.weight_decay = 0.01; });
  add("rmsprop centered", OptimizerKind::RmsProp, [](OptimizerConfig& c) { c.lr = 0.01, c.centered = true; });
  add("rmsprop momentum", OptimizerKind::RmsProp, [](OptimizerConfig& c) { c.lr = 0.01, c.momentum = 0.5; });
  add("adagrad decay wd", OptimizerKind::Adagrad,
      [](OptimizerConfig& c) { c.lr = 0.05, c.lr_decay = 0.1, c.weight_decay = 0.01, c.initial_accumulator = 0.1; });
  for (const auto& [name, config] : cases) {
    auto run = [&](auto zero, int threads) {
      using Real = decltype(zero);
      set_threads(threads);
      ParamStore<Real> ps;
      ps.add("big", {100003});
      ps.add("small", {7});
      Rng rng(9);
      for (Real& v : ps.values()) v = Real(float(rng.uniform(-1, 1)));
      auto opt = make_optimizer<Real>(config);
      for (int step = 0; step < 3; ++step) {
        for (Real& g : ps.grads()) g = Real(float(rng.uniform(-2, 2)));
        opt->step(ps);
      }
      set_threads(1);
      return ps.values();
    };
    const std::vector<float> one = run(0.0f, 1);
    for (int threads : {2, 3}) ASSERT_EQ(one, run(0.0f, threads)) << name << ", " << threads << " threads";
    const std::vector<double> exact = run(0.0, 1);
    double worst = 0;
    for (size_t i = 0; i < one.size(); ++i)
      worst = std::max(worst, std::abs(double(one[i]) - exact[i]) / (1 + std::abs(exact[i])));
    EXPECT_LT(worst, 1e-5) << name;
  }
}

TEST(Optimizer, RefusesBadHyperParameters) {
  OptimizerConfig c = OptimizerConfig::defaults_for(OptimizerKind::Sgd);
  c.nesterov = true;  // without momentum
  EXPECT_THROW(make_optimizer<float>(c), Error);
  c = OptimizerConfig::defaults_for(OptimizerKind::Adam);
  c.beta1 = 1.0;
  EXPECT_THROW(make_optimizer<float>(c), Error);
  c.beta1 = 0.9;
  c.lr = -1;
  EXPECT_THROW(make_optimizer<float>(c), Error);
  EXPECT_THROW(parse_optimizer("adamax"), Error);
  EXPECT_EQ(parse_optimizer("rmsprop"), OptimizerKind::RmsProp);
}

TEST(Clip, NormScalesOnlyAboveTheLimitAndSkipsFrozen) {
  ParamStore<double> ps;
  ps.add("a", {2});
  ps.add("frozen", {1}, false);
  ps.grads() = {3.0, 4.0, 100.0};
  EXPECT_NEAR(grad_norm(ps), 5.0, 1e-12);
  EXPECT_NEAR(clip_grad_norm(ps, 10.0), 5.0, 1e-12);
  EXPECT_EQ(ps.grads()[0], 3.0);
  EXPECT_NEAR(clip_grad_norm(ps, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(ps.grads()[0], 0.6, 1e-6);
  EXPECT_NEAR(ps.grads()[1], 0.8, 1e-6);
  EXPECT_EQ(ps.grads()[2], 100.0);
  ps.grads() = {3.0, -4.0, 100.0};
  clip_grad_value(ps, 2.0);
  EXPECT_EQ(ps.grads(), (std::vector<double>{2.0, -2.0, 100.0}));
}

TEST(Schedule, CosineReachesEtaMinAtTMax) {
  ScheduleConfig c;
  c.kind = ScheduleKind::Cosine;
  c.t_max = 4;
  c.eta_min = 0.01;
  LrSchedule s(c, 1.0);
  double lr = 0;
  for (int e = 0; e < 4; ++e) lr = s.step();
  EXPECT_NEAR(lr, 0.01, 1e-12);
  EXPECT_NEAR(s.step(), 0.01 + 0.99 * (1 - std::cos(M_PI / 4)) / 2, 1e-12);  // and climbs back
}

TEST(Schedule, PlateauNeedsAMetric) {
  ScheduleConfig c;
  c.kind = ScheduleKind::Plateau;
  LrSchedule s(c, 0.1);
  EXPECT_THROW(s.step(), Error);
  c.factor = 1.5;
  EXPECT_THROW(LrSchedule(c, 0.1), Error);
}

}  // namespace
}  // namespace rnnkit
