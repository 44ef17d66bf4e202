// Recurrent layers: packed-sequence semantics (a padded batch equals each sequence run alone),
// last-step gathering, initialisation and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <utility>

#include "rnnkit/rnnkit.h"

namespace rnnkit {
namespace {

struct Outcome {
  std::vector<double> y, hn, cn, dx, dh0, dc0, grads;
};

// Forward and backward of one batch with dy = R on every step, dhn = Rh, dcn = Rc.
Outcome run(const Recurrent<double>& rnn, ParamStore<double>& ps, const std::vector<double>& x, int T, int B,
        const std::vector<int>& lengths, const std::vector<double>& h0, const std::vector<double>& c0,
        const std::vector<double>& R, const std::vector<double>& Rh, const std::vector<double>& Rc) {
  const RecurrentConfig& c = rnn.config();
  const bool lstm = c.cell == CellKind::Lstm;
  Outcome r;
  r.y.resize(size_t(T) * B * c.directions() * c.hidden_size);
  r.hn.resize(h0.size());
  r.cn.resize(h0.size());
  RecurrentCache<double> cache;
  rnn.forward(ps, x.data(), T, B, lengths.data(), h0.data(), lstm ? c0.data() : nullptr, r.y.data(), r.hn.data(),
              lstm ? r.cn.data() : nullptr, cache, false, nullptr);
  r.dx.assign(x.size(), 0.0);
  r.dh0.resize(h0.size());
  r.dc0.resize(h0.size());
  ps.zero_grad();
  rnn.backward(ps, cache, R.data(), Rh.data(), lstm ? Rc.data() : nullptr, r.dx.data(), r.dh0.data(),
               lstm ? r.dc0.data() : nullptr);
  r.grads = ps.grads();
  return r;
}

class PackedSemantics : public ::testing::TestWithParam<CellKind> {};

TEST_P(PackedSemantics, PaddedBatchEqualsEachSequenceAlone) {
  RecurrentConfig c;
  c.cell = GetParam();
  c.input_size = 3, c.hidden_size = 4, c.num_layers = 2, c.bidirectional = true;
  ParamStore<double> ps;
  Recurrent<double> rnn(c, ps, "rnn");
  Rng rng(5);
  rnn.init(ps, rng);
  const int T = 6, B = 3, I = 3, H = 4, D = 2, LD = 4;
  const std::vector<int> lengths = {3, 6, 1};
  auto random = [&](size_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = rng.uniform(-1, 1);
    return v;
  };
  std::vector<double> x = random(size_t(T) * B * I), h0 = random(size_t(LD) * B * H), c0 = random(h0.size()),
                      R = random(size_t(T) * B * D * H), Rh = random(h0.size()), Rc = random(h0.size());
  const std::vector<uint8_t> valid = step_mask(T, B, lengths);
  for (int t = 0; t < T; ++t)  // garbage in padded inputs must not matter
    for (int b = 0; b < B; ++b)
      if (!valid[size_t(t) * B + b])
        for (int i = 0; i < I; ++i) x[(size_t(t) * B + b) * I + i] = 1e3;
  const Outcome batch = run(rnn, ps, x, T, B, lengths, h0, c0, R, Rh, Rc);

  std::vector<double> grad_sum(ps.size(), 0.0);
  for (int b = 0; b < B; ++b) {
    const int L = lengths[b];
    auto slice = [&](const std::vector<double>& v, int rows, int width, int stride_b) {
      std::vector<double> out;
      for (int r = 0; r < rows; ++r)
        for (int k = 0; k < width; ++k) out.push_back(v[(size_t(r) * stride_b + b) * width + k]);
      return out;
    };
    const Outcome one = run(rnn, ps, slice(x, L, I, B), L, 1, {L}, slice(h0, LD, H, B), slice(c0, LD, H, B),
                        slice(R, L, D * H, B), slice(Rh, LD, H, B), slice(Rc, LD, H, B));
    const std::vector<double> y_b = slice(batch.y, L, D * H, B);
    for (size_t k = 0; k < one.y.size(); ++k) EXPECT_NEAR(one.y[k], y_b[k], 1e-12) << "y of sequence " << b;
    const std::vector<double> hn_b = slice(batch.hn, LD, H, B), dh0_b = slice(batch.dh0, LD, H, B),
                              dx_b = slice(batch.dx, L, I, B);
    for (size_t k = 0; k < one.hn.size(); ++k) EXPECT_NEAR(one.hn[k], hn_b[k], 1e-12) << "hn of sequence " << b;
    for (size_t k = 0; k < one.dh0.size(); ++k) EXPECT_NEAR(one.dh0[k], dh0_b[k], 1e-12) << "dh0 of sequence " << b;
    for (size_t k = 0; k < one.dx.size(); ++k) EXPECT_NEAR(one.dx[k], dx_b[k], 1e-12) << "dx of sequence " << b;
    if (c.cell == CellKind::Lstm) {
      const std::vector<double> cn_b = slice(batch.cn, LD, H, B);
      for (size_t k = 0; k < one.cn.size(); ++k) EXPECT_NEAR(one.cn[k], cn_b[k], 1e-12) << "cn of sequence " << b;
    }
    for (size_t k = 0; k < grad_sum.size(); ++k) grad_sum[k] += one.grads[k];
  }
  // Padded steps output zeros and get no gradient; parameter gradients are the sum over sequences.
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      if (!valid[size_t(t) * B + b]) {
        for (int k = 0; k < D * H; ++k) EXPECT_EQ(batch.y[(size_t(t) * B + b) * D * H + k], 0.0);
        for (int i = 0; i < I; ++i) EXPECT_EQ(batch.dx[(size_t(t) * B + b) * I + i], 0.0);
      }
  for (size_t k = 0; k < grad_sum.size(); ++k) EXPECT_NEAR(batch.grads[k], grad_sum[k], 1e-11) << "parameter " << k;
}

// The time loop runs on batch slices, one per thread, or (few rows and a large W_hh) each step's
// product by column slices, and with two threads the two directions side by side: any thread count
// gives the same outputs and gradients as one thread, bit for bit (every sum keeps its order).
// B = 19 splits unevenly into row slices; B = 5 with G*H*H >= 2^18 takes the column split; B = 40,
// padded, has enough valid rows (140) for the threads to share gathering h's. Padded (some sequences
// end early: one input GEMM, gathered rows) and every sequence full length (the input projected step
// by step).
TEST_P(PackedSemantics, ThreadCountDoesNotChangeResults) {
  const CellKind cell = GetParam();
  const int large_h = cell == CellKind::Lstm ? 256 : cell == CellKind::Gru ? 296 : 512;
  for (bool padded : {true, false})
  for (auto [B, H] : {std::pair{19, 7}, std::pair{5, large_h}, std::pair{40, 7}}) {
    RecurrentConfig c;
    c.cell = cell;
    c.input_size = 5, c.hidden_size = H, c.num_layers = 2, c.bidirectional = true;
    ParamStore<double> ps;
    Recurrent<double> rnn(c, ps, "rnn");
    Rng rng(9);
    rnn.init(ps, rng);
    const int T = 6, LD = 4;
    std::vector<int> lengths(static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) lengths[size_t(b)] = padded ? 1 + (b * 5) % T : T;
    // (B = 5: the running rows at a step are all of them, a run starting past row 0, or a range with
    // ended rows inside it, which the column split's products take too)
    if (padded && B == 5) lengths = {3, 1, 6, 2, 5};
    auto random = [&](size_t n) {
      std::vector<double> v(n);
      for (double& x : v) x = rng.uniform(-1, 1);
      return v;
    };
    const size_t S = size_t(LD) * B * H;
    const std::vector<double> x = random(size_t(T) * B * 5), h0 = random(S), c0 = random(S),
                              R = random(size_t(T) * B * 2 * H), Rh = random(S), Rc = random(S);
    set_threads(1);
    const Outcome one = run(rnn, ps, x, T, B, lengths, h0, c0, R, Rh, Rc);
    for (int threads : {2, 3}) {
      set_threads(threads);
      const Outcome many = run(rnn, ps, x, T, B, lengths, h0, c0, R, Rh, Rc);
      for (auto [a, b, what] : {std::tuple{&one.y, &many.y, "y"}, {&one.hn, &many.hn, "hn"}, {&one.dx, &many.dx, "dx"},
                                {&one.dh0, &many.dh0, "dh0"}, {&one.grads, &many.grads, "grads"}})
        for (size_t k = 0; k < a->size(); ++k)
          ASSERT_EQ((*a)[k], (*b)[k]) << what << "[" << k << "] with " << threads << " threads, B " << B
                                      << (padded ? ", padded" : "");
    }
    set_threads(1);
  }
}

// An inference cache keeps no activations and reads the input in place (forwards, or backwards for
// the reverse direction when each step projects its own input): the same outputs, bit for bit, as a
// cache kept for backward, with and without padding, with the input projected step by step (small
// W_ih) and in one GEMM (I = H = 300: W_ih above the per-step size); backward refuses it.
TEST_P(PackedSemantics, InferenceCacheGivesTheSameOutputs) {
  const CellKind cell = GetParam();
  for (int I : {3, 300})
    for (int T : {5, 6})  // the final state in either of the two rows an inference pass alternates
    for (bool padded : {false, true}) {
      RecurrentConfig c;
      c.cell = cell;
      c.input_size = I, c.hidden_size = I == 3 ? 4 : 300, c.num_layers = 2, c.bidirectional = true;
      ParamStore<double> ps;
      Recurrent<double> rnn(c, ps, "rnn");
      Rng rng(21);
      rnn.init(ps, rng);
      const int B = 3, H = c.hidden_size;
      std::vector<int> lengths = padded ? std::vector<int>{T, 2, 4} : std::vector<int>{T, T, T};
      std::vector<double> x(size_t(T) * B * I), h0(size_t(4) * B * H), c0(h0.size());
      for (auto* v : {&x, &h0, &c0})
        for (double& e : *v) e = rng.uniform(-1, 1);
      auto forward = [&](bool inference, std::vector<double>& y, std::vector<double>& hn, std::vector<double>& cn,
                         RecurrentCache<double>& cache) {
        y.assign(size_t(T) * B * 2 * H, 0.0), hn.assign(h0.size(), 0.0), cn.assign(h0.size(), 0.0);
        cache.inference = inference;
        rnn.forward(ps, x.data(), T, B, lengths.data(), h0.data(), c0.data(), y.data(), hn.data(), cn.data(), cache,
                    false, nullptr);
      };
      std::vector<double> y1, hn1, cn1, y2, hn2, cn2;
      RecurrentCache<double> kept, inference;
      forward(false, y1, hn1, cn1, kept);
      forward(true, y2, hn2, cn2, inference);
      EXPECT_EQ(y1, y2) << "I " << I << (padded ? " padded" : "");
      EXPECT_EQ(hn1, hn2) << "I " << I << (padded ? " padded" : "");
      if (cell == CellKind::Lstm) {
        EXPECT_EQ(cn1, cn2) << "I " << I << (padded ? " padded" : "");
      }
      if (!padded && I == 3) {  // the input projected step by step (small W_ih): nothing kept beyond a step
        const size_t BH = size_t(B) * H;
        for (const auto& d : inference.dirs) {
          EXPECT_EQ(d.act.size(), BH * gate_count(cell)) << "T " << T;
          EXPECT_EQ(d.h.size(), 2 * BH) << "T " << T;
        }
      }
      std::vector<double> dy(y1.size(), 1.0);
      EXPECT_THROW(rnn.backward(ps, inference, dy.data(), nullptr, nullptr, nullptr, nullptr, nullptr), Error);
    }
}

// An inference cache keeps its packed weights from call to call while the parameters' stamp stays the
// same, and packs them again once the parameters have been written: every call gives what a fresh
// cache gives, with the input projected step by step (I = 3) and in one product before the loop.
TEST_P(PackedSemantics, InferenceCacheRepacksAfterTheWeightsChange) {
  for (int I : {3, 300}) {
    RecurrentConfig c;
    c.cell = GetParam();
    c.input_size = I, c.hidden_size = I == 3 ? 4 : 300, c.num_layers = 2, c.bidirectional = true;
    ParamStore<double> ps;
    Recurrent<double> rnn(c, ps, "rnn");
    Rng rng(5);
    rnn.init(ps, rng);
    const int T = 4, B = 3, H = c.hidden_size;
    const std::vector<int> lengths{T, T, T};
    std::vector<double> x(size_t(T) * B * I);
    for (double& e : x) e = rng.uniform(-1, 1);
    auto forward = [&](RecurrentCache<double>& cache) {
      std::vector<double> y(size_t(T) * B * 2 * H);
      cache.inference = true;
      rnn.forward(ps, x.data(), T, B, lengths.data(), nullptr, nullptr, y.data(), nullptr, nullptr, cache, false,
                  nullptr);
      return y;
    };
    RecurrentCache<double> kept;
    const std::vector<double> first = forward(kept);
    const uint64_t stamp = ps.stamp();
    EXPECT_EQ(forward(kept), first) << "I " << I;  // the packed weights reused
    EXPECT_EQ(ps.stamp(), stamp);
    for (const char* name : {"rnn.weight_ih_l0", "rnn.weight_hh_l1_reverse"}) {
      const int w = ps.find(name);
      ASSERT_GE(w, 0) << name;
      double* v = ps.value(w);
      for (size_t k = 0; k < ps.info(w).size; ++k) v[k] *= 0.5;
      RecurrentCache<double> fresh;
      const std::vector<double> want = forward(fresh);
      EXPECT_NE(want, first) << name;
      EXPECT_EQ(forward(kept), want) << "I " << I << ", after " << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCells, PackedSemantics,
                         ::testing::Values(CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru),
                         [](const auto& info) { return std::string(cell_name(info.param)); });

TEST(Recurrent, ZeroLengthSequencePassesStateThrough) {
  RecurrentConfig c;
  c.cell = CellKind::Lstm, c.input_size = 2, c.hidden_size = 3;
  ParamStore<float> ps;
  Recurrent<float> rnn(c, ps, "rnn");
  Rng rng(1);
  rnn.init(ps, rng);
  const std::vector<int> lengths = {0, 2};
  std::vector<float> x(2 * 2 * 2, 0.5f), h0(6, 0.25f), c0(6, -0.5f), y(2 * 2 * 3), hn(6), cn(6);
  RecurrentCache<float> cache;
  rnn.forward(ps, x.data(), 2, 2, lengths.data(), h0.data(), c0.data(), y.data(), hn.data(), cn.data(), cache, false,
              nullptr);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(hn[k], 0.25f);
    EXPECT_EQ(cn[k], -0.5f);
    EXPECT_EQ(y[k], 0.0f);
  }
  EXPECT_NE(hn[3], 0.25f);
}

// zero_grad() only marks the gradients zero: the weight products then write over whatever the storage
// held (here NaN) and give the same gradient as adding onto zeros; a second backward without
// zero_grad() adds onto the first.
TEST(Recurrent, GradientsOverwriteAfterZeroGradAndAccumulateWithout) {
  ModelConfig mc;
  mc.input_size = 3, mc.cell = CellKind::Lstm, mc.hidden_size = 4, mc.num_layers = 2, mc.bidirectional = true;
  mc.output = OutputMode::PerStep, mc.output_size = 2, mc.head = Head::Identity;
  Model<double> model(mc);
  Rng rng(7);
  model.init(rng);
  Batch<double> batch;
  batch.T = 5, batch.B = 3, batch.lengths = {5, 2, 4};
  batch.features.resize(size_t(batch.T) * batch.B * 3);
  for (double& x : batch.features) x = rng.uniform(-1, 1);
  batch.values.resize(size_t(batch.T) * batch.B * 2);
  for (double& v : batch.values) v = rng.uniform(-1, 1);
  ModelCache<double> cache;
  model.forward(batch, cache, true, &rng);
  std::vector<double> dlogits(cache.logits.size());
  model.loss(batch, cache, dlogits.data());
  ParamStore<double>& ps = model.params();

  std::fill(ps.grads().begin(), ps.grads().end(), 0.0);  // zeros in the storage: the products add onto them
  model.backward(batch, cache, dlogits.data());
  const std::vector<double> onto_zeros = ps.grads();

  std::fill(ps.grads().begin(), ps.grads().end(), std::nan(""));
  ps.zero_grad();
  model.backward(batch, cache, dlogits.data());
  const std::vector<double> fresh = ps.grads();
  ASSERT_EQ(fresh.size(), onto_zeros.size());
  for (size_t i = 0; i < fresh.size(); ++i) EXPECT_EQ(fresh[i], onto_zeros[i]) << i;

  model.backward(batch, cache, dlogits.data());
  for (size_t i = 0; i < fresh.size(); ++i) EXPECT_NEAR(ps.grads()[i], 2 * fresh[i], 1e-14) << i;
}

TEST(Recurrent, GatherLastTakesForwardEndAndReverseStart) {
  // y (T=3, B=2, D*H=2*1): value = 10*t + b for the forward half, -(10*t + b) for the reverse half.
  std::vector<double> y;
  for (int t = 0; t < 3; ++t)
    for (int b = 0; b < 2; ++b) y.insert(y.end(), {10.0 * t + b, -(10.0 * t + b)});
  const std::vector<int> lengths = {2, 3};
  std::vector<double> last(4);
  gather_last(y.data(), 3, 2, 2, 1, lengths.data(), last.data());
  EXPECT_EQ(last, (std::vector<double>{10, -0.0, 21, -1}));
  std::vector<double> dy(y.size(), 0.0);
  scatter_last(std::vector<double>{1, 2, 3, 4}.data(), 3, 2, 2, 1, lengths.data(), dy.data());
  EXPECT_EQ(dy[(1 * 2 + 0) * 2 + 0], 1);  // t=1, b=0, forward
  EXPECT_EQ(dy[(0 * 2 + 0) * 2 + 1], 2);  // t=0, b=0, reverse
  EXPECT_EQ(dy[(2 * 2 + 1) * 2 + 0], 3);
  EXPECT_EQ(dy[(0 * 2 + 1) * 2 + 1], 4);
}

TEST(Recurrent, InitialisesLikePyTorch) {
  RecurrentConfig c;
  c.cell = CellKind::Gru, c.input_size = 5, c.hidden_size = 16, c.num_layers = 2, c.bidirectional = true;
  ParamStore<float> ps;
  Recurrent<float> rnn(c, ps, "rnn");
  Rng rng(2);
  rnn.init(ps, rng);
  const float bound = 1.0f / 4.0f;
  double sum = 0;
  for (float v : ps.values()) {
    EXPECT_LE(std::abs(v), bound);
    sum += v;
  }
  EXPECT_LT(std::abs(sum / double(ps.size())), 0.01);  // centred
  EXPECT_EQ(ps.info(0).name, "rnn.weight_ih_l0");
  EXPECT_EQ(ps.info(4).name, "rnn.weight_ih_l0_reverse");
  EXPECT_EQ(ps.info(8).shape, (Shape{48, 32}));  // layer 1 reads both directions
}

TEST(Recurrent, RefusesLengthsOutsideTheBatch) {
  RecurrentConfig c;
  c.cell = CellKind::RnnTanh, c.input_size = 1, c.hidden_size = 1;
  ParamStore<float> ps;
  Recurrent<float> rnn(c, ps, "rnn");
  const std::vector<int> lengths = {3};
  std::vector<float> x(2), y(2);
  RecurrentCache<float> cache;
  try {
    rnn.forward(ps, x.data(), 2, 1, lengths.data(), nullptr, nullptr, y.data(), nullptr, nullptr, cache, false, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence 0 has length 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_cell("lstmm"), Error);
}

TEST(Embedding, PaddingRowIsZeroAndGetsNoGradient) {
  ParamStore<float> ps;
  Embedding<float> emb({4, 2, 1, false}, ps, "embedding");
  Rng rng(3);
  emb.init(ps, rng);
  EXPECT_EQ(ps.value(0)[2], 0.0f);
  EXPECT_EQ(ps.value(0)[3], 0.0f);
  const std::vector<int32_t> ids = {1, 3, 1};
  const std::vector<float> dy(6, 1.0f);
  ps.zero_grad();
  emb.backward(ps, ids.data(), 3, dy.data());
  EXPECT_EQ(ps.grad(0)[2], 0.0f);
  EXPECT_EQ(ps.grad(0)[6], 1.0f);
  std::vector<float> y(2);
  const int32_t bad = 4;
  EXPECT_THROW(emb.forward(ps, &bad, 1, y.data()), Error);
}

}  // namespace
}  // namespace rnnkit
