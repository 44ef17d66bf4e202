// Streams: step-by-step and chunked inference equal the full-sequence forward pass for every cell,
// stacked, with every output mode; state copy, save / restore and reset; no allocation per step.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <thread>
#include <tuple>

#include "rnnkit/deploy/stream.h"
#include "rnnkit/rnnkit.h"

#include "support/alloc_counter.h"

using rnnkit::testing_alloc::allocations;
using rnnkit::testing_alloc::counting;

namespace rnnkit {
namespace {

// A 2-layer model of the cell and output mode, with an embedding (tokens) or features.
std::shared_ptr<Model<double>> make_model(CellKind cell, OutputMode output, bool tokens, uint64_t seed = 3,
                                          int hidden = 6) {
  ModelConfig c;
  if (tokens) c.vocab_size = 11, c.embedding_dim = 5;
  else c.input_size = 4;
  c.cell = cell, c.hidden_size = hidden, c.num_layers = 2;
  c.output = output, c.output_size = 3, c.head = Head::Softmax;
  auto m = std::make_shared<Model<double>>(c);
  Rng rng(seed);
  m->init(rng);
  return m;
}

// The head's outputs of the full-sequence forward pass over the first `len` steps.
std::vector<double> full_forward(const Model<double>& m, const std::vector<int32_t>& tokens,
                                 const std::vector<double>& features, int len) {
  Batch<double> b;
  b.T = len, b.B = 1, b.lengths = {len};
  if (m.config().uses_embedding()) b.tokens.assign(tokens.begin(), tokens.begin() + len);
  else b.features.assign(features.begin(), features.begin() + len * m.config().input_size);
  ModelCache<double> cache;
  m.forward(b, cache, false, nullptr);
  std::vector<double> out = cache.logits;
  m.apply_head(out.data(), cache.rows);
  return out;
}

using Case = std::tuple<CellKind, OutputMode, bool>;
class StreamEqualsForward : public ::testing::TestWithParam<Case> {};

// Hidden size 16 as well as 6: the GRU's r and z gates then end on a 32-column panel of the packed
// W_hh and fold into the input projection (the single-step path splits the product there too).
TEST_P(StreamEqualsForward, StepByStepAndChunked) {
  const auto [cell, output, tokens] = GetParam();
  for (int hidden : {6, 16}) {
    SCOPED_TRACE("hidden " + std::to_string(hidden));
    auto model = make_model(cell, output, tokens, 3, hidden);
    const int T = 9, I = 4, O = 3;
    Rng rng(7);
    std::vector<int32_t> ids(T);
    std::vector<double> x(size_t(T) * I);
    for (auto& id : ids) id = int32_t(rng.uniform(1, 10.99));
    for (auto& v : x) v = rng.uniform(-1, 1);

    const std::vector<double> full = full_forward(*model, ids, x, T);
    Stream<double> stream(model);
    for (int t = 0; t < T; ++t) {
      const std::vector<double>& y = tokens ? stream.step(ids[size_t(t)]) : stream.step(x.data() + t * I);
      ASSERT_EQ(y.size(), size_t(O));
      // Per step: step t of the full pass. Last / mean: the full pass over the prefix ending at t.
      const std::vector<double> want =
          output == OutputMode::PerStep ? std::vector<double>(full.begin() + t * O, full.begin() + (t + 1) * O)
                                        : full_forward(*model, ids, x, t + 1);
      for (int k = 0; k < O; ++k) EXPECT_NEAR(y[size_t(k)], want[size_t(k)], 1e-12) << "step " << t;
    }
    EXPECT_EQ(stream.steps(), T);

    // Chunks of 4, 1 and 4 steps give the same as the whole sequence.
    stream.reset();
    std::vector<double> chunked;
    for (auto [begin, len] : {std::pair{0, 4}, std::pair{4, 1}, std::pair{5, 4}}) {
      const std::vector<double>& y =
          tokens ? stream.chunk(ids.data() + begin, len) : stream.chunk(x.data() + begin * I, len);
      ASSERT_EQ(y.size(), size_t(output == OutputMode::PerStep ? len * O : O));
      if (output == OutputMode::PerStep || begin + len == T) chunked.insert(chunked.end(), y.begin(), y.end());
    }
    const std::vector<double> want =
        output == OutputMode::PerStep ? full : std::vector<double>(full.end() - O, full.end());
    ASSERT_EQ(chunked.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(chunked[k], want[k], 1e-12) << k;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cells, StreamEqualsForward,
    ::testing::Combine(::testing::Values(CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru),
                       ::testing::Values(OutputMode::PerStep, OutputMode::Last, OutputMode::Mean),
                       ::testing::Bool()));

TEST(Stream, BidirectionalModelsSayTheyCannotStream) {
  ModelConfig c;
  c.input_size = 2, c.hidden_size = 3, c.bidirectional = true, c.output_size = 2;
  auto m = std::make_shared<Model<double>>(c);
  try {
    Stream<double> s(m);
    FAIL() << "a bidirectional model streamed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bidirectional"), std::string::npos) << e.what();
  }
}

TEST(Stream, CopyBranchesSaveRestoreAndReset) {
  auto model = make_model(CellKind::Lstm, OutputMode::PerStep, true);
  Stream<double> a(model);
  a.step(1), a.step(2);
  Stream<double> b = a;  // a branch from the same state
  const std::vector<double> ya = a.step(3), yb = b.step(3);
  EXPECT_EQ(ya, yb);
  const std::vector<double> other = b.step(4);
  EXPECT_NE(a.step(5), other);  // branches move on independently

  // Saved bytes restore the exact state, into a fresh stream.
  const std::vector<uint8_t> saved = b.save_state();
  Stream<double> c(model);
  c.load_state(saved.data(), saved.size());
  EXPECT_EQ(c.steps(), 4);
  EXPECT_EQ(c.state().h, b.state().h);
  EXPECT_EQ(c.state().c, b.state().c);
  EXPECT_EQ(c.step(6), b.step(6));

  // Reset starts the sequence again.
  c.reset();
  Stream<double> fresh(model);
  EXPECT_EQ(c.step(1), fresh.step(1));

  // Another architecture's state, damaged bytes and wrong sizes are errors, and leave the state alone.
  auto gru = make_model(CellKind::Gru, OutputMode::PerStep, true);
  Stream<double> g(gru);
  const std::vector<uint8_t> gru_state = g.save_state();
  const StreamState<double> before = c.state();
  EXPECT_THROW(c.load_state(gru_state.data(), gru_state.size()), Error);
  EXPECT_THROW(c.load_state(saved.data(), saved.size() / 2), Error);
  StreamState<double> bad = before;
  bad.h.pop_back();
  EXPECT_THROW(c.set_state(bad), Error);
  EXPECT_EQ(c.state().h, before.h);
  // An out-of-range token is an error and the state is unchanged.
  EXPECT_THROW(c.step(99), Error);
  EXPECT_EQ(c.state().h, before.h);
  EXPECT_EQ(c.steps(), before.steps);
}

TEST(Stream, ManyThreadsStreamOverOneModel) {
  // One immutable model, a stream per thread, each on its own sequence: every thread gets what a
  // lone stream gets.
  auto model = make_model(CellKind::Lstm, OutputMode::PerStep, true);
  const int threads = 4, T = 50;
  std::vector<std::vector<double>> want(threads), got(threads);
  for (int k = 0; k < threads; ++k) {
    Stream<double> s(model);
    for (int t = 0; t < T; ++t) {
      const auto& y = s.step(int32_t(1 + (t * (k + 3)) % 10));
      want[size_t(k)].insert(want[size_t(k)].end(), y.begin(), y.end());
    }
  }
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k)
    pool.emplace_back([&, k] {
      Stream<double> s(model);
      for (int t = 0; t < T; ++t) {
        const auto& y = s.step(int32_t(1 + (t * (k + 3)) % 10));
        got[size_t(k)].insert(got[size_t(k)].end(), y.begin(), y.end());
      }
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(got, want);
}

TEST(Stream, NoAllocationPerStep) {
  for (CellKind cell : {CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru})
    for (OutputMode output : {OutputMode::PerStep, OutputMode::Last, OutputMode::Mean}) {
      auto model = make_model(cell, output, true);
      Stream<double> s(model);
      const int32_t chunk[3] = {1, 2, 3};
      s.step(1), s.chunk(chunk, 3);  // first calls of each size size the buffers
      allocations = 0;
      counting = true;
      for (int t = 0; t < 100; ++t) s.step(int32_t(1 + t % 10));
      for (int t = 0; t < 10; ++t) s.chunk(chunk, 3);
      counting = false;
      EXPECT_EQ(allocations.load(), 0) << cell_name(cell) << " " << output_mode_name(output);
    }
}

}  // namespace
}  // namespace rnnkit
