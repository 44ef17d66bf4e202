// Finite-difference gradient checks in double precision: every cell, stacked and bidirectional,
// T >= 3 with unequal lengths, covering every parameter, the inputs and the initial states (given,
// or zero and not asked for: the first step's recurrent products are then left out); and the
// whole model for every head and output mode, with dropout (its mask held fixed by the seed).
#include <gtest/gtest.h>

#include <functional>

#include "rnnkit/rnnkit.h"

namespace rnnkit {
namespace {

// Central differences: d loss / d v[i] ~ (loss(v + h) - loss(v - h)) / 2h, compared with the
// analytic gradient to 1e-7 absolute + 1e-5 relative.
void expect_gradient(std::vector<double>& v, size_t offset, size_t count, const std::vector<double>& analytic,
                     const std::function<double()>& loss, const std::string& what) {
  const double h = 1e-6;
  ASSERT_EQ(analytic.size(), count) << what;
  int failures = 0;
  for (size_t i = 0; i < count; ++i) {
    double& x = v[offset + i];
    const double saved = x;
    x = saved + h;
    const double up = loss();
    x = saved - h;
    const double down = loss();
    x = saved;
    const double numeric = (up - down) / (2 * h);
    const double tol = 1e-7 + 1e-5 * std::max(std::abs(numeric), std::abs(analytic[i]));
    if (std::abs(numeric - analytic[i]) > tol && failures++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric;
  }
}


void fill(std::vector<double>& v, Rng& rng, double scale = 1.0) {
  for (double& x : v) x = rng.uniform(-scale, scale);
}

// ---------------------------------------------------------------------------------------------------

struct RecurrentCase {
  CellKind cell;
  int layers;
  bool bidirectional;
  double dropout;
  bool zero_state = false;  // no initial state given and no gradient asked for it; a sequence of length 0
};

std::string case_name(const RecurrentCase& c) {
  return std::string(cell_name(c.cell)) + "_" + std::to_string(c.layers) + "l_" + (c.bidirectional ? "bi" : "uni") +
         (c.dropout > 0 ? "_dropout" : "") + (c.zero_state ? "_zero_state" : "");
}

class RecurrentGradient : public ::testing::TestWithParam<RecurrentCase> {};

TEST_P(RecurrentGradient, MatchesFiniteDifferences) {
  const RecurrentCase& tc = GetParam();
  RecurrentConfig rc;
  rc.cell = tc.cell;
  rc.input_size = 3;
  rc.hidden_size = 2;
  rc.num_layers = tc.layers;
  rc.bidirectional = tc.bidirectional;
  rc.dropout = tc.dropout;
  ParamStore<double> params;
  Recurrent<double> rnn(rc, params, "rnn");
  Rng rng(7);
  rnn.init(params, rng);
  for (double& w : params.values()) w *= 2.0;  // larger weights: gates away from their linear region

  const int T = 4, B = 3, H = rc.hidden_size, D = rc.directions();
  const std::vector<int> lengths = tc.zero_state ? std::vector<int>{4, 0, 3} : std::vector<int>{4, 2, 3};
  const bool given = !tc.zero_state;  // the initial states
  const size_t S = size_t(tc.layers) * D * B * H, Y = size_t(T) * B * D * H;
  const bool lstm = tc.cell == CellKind::Lstm;
  std::vector<double> x(size_t(T) * B * rc.input_size), h0(S), c0(S), R(Y), Rh(S), Rc(S);
  for (auto* v : {&x, &h0, &c0, &R, &Rh, &Rc}) fill(*v, rng);

  // loss = sum(y R) + sum(hn Rh) + sum(cn Rc), in training mode so that dropout is active.
  auto loss = [&](RecurrentCache<double>& cache) {
    std::vector<double> y(Y), hn(S), cn(S);
    Rng dropout_rng(99);  // the same mask on every evaluation
    rnn.forward(params, x.data(), T, B, lengths.data(), given ? h0.data() : nullptr,
                lstm && given ? c0.data() : nullptr, y.data(), hn.data(), lstm ? cn.data() : nullptr, cache, true,
                &dropout_rng);
    double l = 0;
    for (size_t i = 0; i < Y; ++i) l += y[i] * R[i];
    for (size_t i = 0; i < S; ++i) l += hn[i] * Rh[i] + (lstm ? cn[i] * Rc[i] : 0.0);
    return l;
  };
  RecurrentCache<double> cache;
  loss(cache);
  std::vector<double> dx(x.size(), 0.0), dh0(S), dc0(S);
  params.zero_grad();
  rnn.backward(params, cache, R.data(), Rh.data(), lstm ? Rc.data() : nullptr, dx.data(),
               given ? dh0.data() : nullptr, lstm && given ? dc0.data() : nullptr);
  auto eval = [&] {
    RecurrentCache<double> c;
    return loss(c);
  };
  for (int i = 0; i < params.count(); ++i) {
    const ParamInfo& p = params.info(i);
    std::vector<double> g(params.grad(i), params.grad(i) + p.size);
    expect_gradient(params.values(), p.offset, p.size, g, eval, p.name);
  }
  expect_gradient(x, 0, x.size(), dx, eval, "x");
  if (given) expect_gradient(h0, 0, S, dh0, eval, "h0");
  if (lstm && given) expect_gradient(c0, 0, S, dc0, eval, "c0");
}

std::vector<RecurrentCase> recurrent_cases() {
  std::vector<RecurrentCase> cases;
  for (CellKind cell : {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru})
    for (int layers : {1, 2})
      for (bool bidir : {false, true}) cases.push_back({cell, layers, bidir, 0.0});
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru}) cases.push_back({cell, 3, true, 0.3});
  for (CellKind cell : {CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru}) cases.push_back({cell, 2, true, 0.0, true});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllCells, RecurrentGradient, ::testing::ValuesIn(recurrent_cases()),
                         [](const auto& info) { return case_name(info.param); });

// ---------------------------------------------------------------------------------------------------

struct ModelCase {
  std::string name;
  ModelConfig config;
};

ModelConfig model_config(bool embedding, CellKind cell, bool bidir, OutputMode output, Head head) {
  ModelConfig c;
  if (embedding) {
    c.vocab_size = 6, c.embedding_dim = 3, c.padding_idx = 0;
  } else {
    c.input_size = 2;
  }
  c.cell = cell, c.hidden_size = 3, c.num_layers = 2, c.bidirectional = bidir;
  c.dropout = 0.2, c.output_dropout = 0.25;
  c.output = output, c.output_size = head == Head::Softmax ? 4 : 2, c.head = head;
  return c;
}

class ModelGradient : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelGradient, MatchesFiniteDifferences) {
  const ModelConfig& config = GetParam().config;
  Model<double> model(config);
  Rng rng(3);
  model.init(rng);
  const int T = 4, B = 3;
  Batch<double> batch;
  batch.T = T, batch.B = B, batch.lengths = {3, 4, 2};
  const std::vector<uint8_t> valid = step_mask(T, B, batch.lengths);
  if (config.uses_embedding()) {
    for (int i = 0; i < T * B; ++i) batch.tokens.push_back(valid[i] ? 1 + int32_t(rng.next() % 5) : 0);
  } else {
    batch.features.resize(size_t(T) * B * config.input_size);
    fill(batch.features, rng);
  }
  const int N = config.output == OutputMode::PerStep ? T * B : B;
  if (config.head == Head::Softmax) {
    for (int i = 0; i < N; ++i) batch.labels.push_back(int32_t(rng.next() % config.output_size));
    batch.labels[1] = -1;  // ignored
  } else {
    for (int i = 0; i < N * config.output_size; ++i)
      batch.values.push_back(config.head == Head::Sigmoid ? rng.uniform() : rng.normal());
  }
  const size_t S = model.state_size(B);
  ModelState<double> init;
  init.h.resize(S);
  fill(init.h, rng, 0.5);
  if (config.cell == CellKind::Lstm) {
    init.c.resize(S);
    fill(init.c, rng, 0.5);
  }

  auto loss = [&](ModelCache<double>& cache, std::vector<double>* dlogits) {
    Rng dropout_rng(5);
    model.forward(batch, cache, true, &dropout_rng, &init);
    if (dlogits) dlogits->resize(cache.logits.size());
    return model.loss(batch, cache, dlogits ? dlogits->data() : nullptr);
  };
  ModelCache<double> cache;
  std::vector<double> dlogits;
  loss(cache, &dlogits);
  model.params().zero_grad();
  ModelState<double> dinit;
  std::vector<double> dfeatures;
  model.backward(batch, cache, dlogits.data(), nullptr, &dinit, &dfeatures);
  auto eval = [&] {
    ModelCache<double> c;
    return loss(c, nullptr);
  };
  ParamStore<double>& ps = model.params();
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    std::vector<double> g(ps.grad(i), ps.grad(i) + p.size);
    if (p.name == "embedding.weight") {
      // The padding row gets no gradient (PyTorch's rule), whatever finite differences say.
      for (int k = 0; k < config.embedding_dim; ++k) EXPECT_EQ(g[k], 0.0) << "padding row";
      expect_gradient(ps.values(), p.offset + config.embedding_dim, p.size - config.embedding_dim,
                      std::vector<double>(g.begin() + config.embedding_dim, g.end()), eval, p.name);
      continue;
    }
    expect_gradient(ps.values(), p.offset, p.size, g, eval, p.name);
  }
  if (!config.uses_embedding()) expect_gradient(batch.features, 0, batch.features.size(), dfeatures, eval, "features");
  expect_gradient(init.h, 0, S, dinit.h, eval, "initial h");
  if (config.cell == CellKind::Lstm) expect_gradient(init.c, 0, S, dinit.c, eval, "initial c");
}

std::vector<ModelCase> model_cases() {
  return {
      {"lstm_embedding_bi_last_softmax", model_config(true, CellKind::Lstm, true, OutputMode::Last, Head::Softmax)},
      {"gru_embedding_uni_per_step_softmax",
       model_config(true, CellKind::Gru, false, OutputMode::PerStep, Head::Softmax)},
      {"rnn_features_bi_per_step_sigmoid",
       model_config(false, CellKind::RnnTanh, true, OutputMode::PerStep, Head::Sigmoid)},
      {"lstm_features_uni_last_identity",
       model_config(false, CellKind::Lstm, false, OutputMode::Last, Head::Identity)},
      {"gru_features_bi_last_sigmoid", model_config(false, CellKind::Gru, true, OutputMode::Last, Head::Sigmoid)},
      {"gru_embedding_bi_mean_softmax", model_config(true, CellKind::Gru, true, OutputMode::Mean, Head::Softmax)},
      {"lstm_features_uni_mean_identity", model_config(false, CellKind::Lstm, false, OutputMode::Mean, Head::Identity)},
      {"lstm_features_bi_per_step_identity",
       model_config(false, CellKind::Lstm, true, OutputMode::PerStep, Head::Identity)},
  };
}

INSTANTIATE_TEST_SUITE_P(Heads, ModelGradient, ::testing::ValuesIn(model_cases()),
                         [](const auto& info) { return info.param.name; });

// Dense and embedding alone, so a failure points at the layer.
TEST(LayerGradient, DenseAndEmbedding) {
  ParamStore<double> ps;
  Embedding<double> emb({5, 3, 2, false}, ps, "embedding");
  Dense<double> fc({3, 2, true}, ps, "fc");
  Rng rng(11);
  emb.init(ps, rng);
  fc.init(ps, rng);
  const std::vector<int32_t> ids = {1, 4, 2, 1, 0};
  std::vector<double> R(ids.size() * 2);
  fill(R, rng);
  auto loss = [&] {
    std::vector<double> e(ids.size() * 3), y(ids.size() * 2);
    emb.forward(ps, ids.data(), int(ids.size()), e.data());
    fc.forward(ps, e.data(), int(ids.size()), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * y[i] * R[i];
    return l;
  };
  std::vector<double> e(ids.size() * 3), y(ids.size() * 2), dy(y.size()), de(e.size(), 0.0);
  emb.forward(ps, ids.data(), int(ids.size()), e.data());
  fc.forward(ps, e.data(), int(ids.size()), y.data());
  for (size_t i = 0; i < y.size(); ++i) dy[i] = 2 * y[i] * R[i];
  ps.zero_grad();
  fc.backward(ps, e.data(), int(ids.size()), dy.data(), de.data());
  emb.backward(ps, ids.data(), int(ids.size()), de.data());
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    std::vector<double> g(ps.grad(i), ps.grad(i) + p.size);
    if (p.name == "embedding.weight") {
      for (int k = 0; k < 3; ++k) EXPECT_EQ(g[2 * 3 + k], 0.0) << "padding row 2";
      for (int k = 0; k < 3; ++k) g[2 * 3 + k] = 0.0;
      std::vector<double> saved(ps.values().begin() + p.offset + 6, ps.values().begin() + p.offset + 9);
      expect_gradient(ps.values(), p.offset, 6, std::vector<double>(g.begin(), g.begin() + 6), loss, p.name);
      expect_gradient(ps.values(), p.offset + 9, p.size - 9, std::vector<double>(g.begin() + 9, g.end()), loss, p.name);
      continue;
    }
    expect_gradient(ps.values(), p.offset, p.size, g, loss, p.name);
  }
}

}  // namespace
}  // namespace rnnkit
