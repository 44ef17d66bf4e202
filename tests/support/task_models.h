// Small task models with random weights, built in memory: deterministic answers for the server's
// tests and its fuzz target (which compares nothing, but must reach every branch).
#pragma once

#include <memory>

#include "rnnkit/workflow/predictor.h"

namespace rnnkit::test_models {

inline Model<float> random_model(const ModelConfig& c, uint64_t seed = 4) {
  Model<float> m(c);
  Rng rng(seed);
  m.init(rng);
  return m;
}

inline std::shared_ptr<const workflow::Predictor> predictor(Model<float> m, workflow::TaskState st) {
  return std::make_shared<const workflow::Predictor>(workflow::LoadedTaskModel{std::move(m), std::move(st), {}});
}

// Texts -> one of three labels (a GRU over word embeddings).
inline std::shared_ptr<const workflow::Predictor> classifier() {
  workflow::TaskState st;
  st.task = workflow::Task::Classify;
  st.text.fit({"the food is good", "the service was awful", "great tasty lovely food", "rude cold bad service"});
  st.labels = {"negative", "positive", "neutral"};
  ModelConfig c;
  c.vocab_size = st.text.vocab().size(), c.embedding_dim = 6, c.hidden_size = 8, c.cell = CellKind::Gru;
  c.output_size = 3;
  return predictor(random_model(c), std::move(st));
}

// Rows of two columns (x, y) -> a tag per row, windows of 8 rows.
inline std::shared_ptr<const workflow::Predictor> tagger() {
  workflow::TaskState st;
  st.task = workflow::Task::Tag;
  st.features = {"x", "y"};
  st.labels = {"0", "1"};
  st.window = 8;
  st.scaler = Scaler(ScalerKind::Standard);
  st.scaler.fit({0, 1, 2, 3, 4, 5}, 2);
  ModelConfig c;
  c.input_size = 2, c.hidden_size = 4, c.output_size = 2, c.output = OutputMode::PerStep;
  return predictor(random_model(c), std::move(st));
}

// A column v -> its next value, from windows of 7 rows.
inline std::shared_ptr<const workflow::Predictor> forecaster() {
  workflow::TaskState st;
  st.task = workflow::Task::Forecast;
  st.features = {"v"};
  st.targets = {"v"};
  st.window = 7, st.horizon = 1;
  st.scaler = Scaler(ScalerKind::Standard);
  st.scaler.fit({1, 1, 2, 2, 3, 3}, 2);
  ModelConfig c;
  c.input_size = 1, c.hidden_size = 4, c.output_size = 1, c.head = Head::Identity;
  return predictor(random_model(c), std::move(st));
}

// Characters -> the next character.
inline std::shared_ptr<const workflow::Predictor> language_model() {
  workflow::TaskState st;
  st.task = workflow::Task::Lm;
  TextPreprocessorConfig pc;
  pc.tokenizer.kind = TokenizerKind::Chars;
  st.text = TextPreprocessor(pc);
  st.text.fit({"call me ishmael. some years ago"});
  ModelConfig c;
  c.vocab_size = st.text.vocab().size(), c.embedding_dim = 5, c.hidden_size = 8, c.cell = CellKind::Lstm;
  c.output = OutputMode::PerStep, c.output_size = st.text.vocab().size();
  return predictor(random_model(c), std::move(st));
}

}  // namespace rnnkit::test_models
