// Quick start: a character-level LSTM language model on the first pages of Moby-Dick.
// Trains with Adam and gradient clipping, reports validation bits per character, saves the model,
// reloads it (checking the outputs are bit-identical), predicts the next character of a prompt and
// generates text step by step, carrying the hidden state between steps.
//
// Usage: rnnkit_quickstart [TEXT_FILE] [MODEL_OUT] [STEPS]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "rnnkit/rnnkit.h"

using namespace rnnkit;

namespace {

// B windows of T+1 characters starting at `starts`: inputs are the first T, targets the last T.
Batch<float> make_batch(const std::vector<int32_t>& ids, const std::vector<size_t>& starts, int T) {
  Batch<float> batch;
  batch.T = T;
  batch.B = int(starts.size());
  batch.lengths.assign(batch.B, T);
  batch.tokens.resize(size_t(T) * batch.B);
  batch.labels.resize(size_t(T) * batch.B);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < T; ++t) {
      batch.tokens[size_t(t) * batch.B + b] = ids[starts[b] + t];
      batch.labels[size_t(t) * batch.B + b] = ids[starts[b] + t + 1];
    }
  return batch;
}

double bits_per_char(const Model<float>& model, const std::vector<int32_t>& ids, int T) {
  std::vector<size_t> starts;
  for (size_t s = 0; s + T + 1 <= ids.size(); s += T) starts.push_back(s);
  ModelCache<float> cache;
  Batch<float> batch = make_batch(ids, starts, T);
  model.forward(batch, cache, false, nullptr);
  return model.loss(batch, cache, nullptr) / std::log(2.0);
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string text_path = argc > 1 ? argv[1] : "examples/quickstart/data/loomings.txt";
  const std::string model_path = argc > 2 ? argv[2] : "build/quickstart.safetensors";
  const int steps = argc > 3 ? std::stoi(argv[3]) : 300;

  set_threads(1);  // these matrices are small: one thread is faster than waking several
  const std::string text = read_file(text_path);  // bytes: the model predicts bytes
  std::string vocab;  // the distinct bytes of the text, sorted
  for (unsigned char ch : text)
    if (vocab.find(char(ch)) == std::string::npos) vocab.push_back(char(ch));
  std::sort(vocab.begin(), vocab.end());
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = int32_t(vocab.find(text[i]));
  const size_t split = ids.size() * 9 / 10;
  const std::vector<int32_t> train(ids.begin(), ids.begin() + split), valid(ids.begin() + split, ids.end());
  std::printf("text: %s, %zu characters, %zu distinct; %zu for training, %zu for validation\n", text_path.c_str(),
              text.size(), vocab.size(), train.size(), valid.size());

  ModelConfig config;
  config.vocab_size = int(vocab.size());
  config.embedding_dim = 32;
  config.padding_idx = -1;
  config.cell = CellKind::Lstm;
  config.hidden_size = 128;
  config.output = OutputMode::PerStep;
  config.output_size = int(vocab.size());
  config.head = Head::Softmax;
  Model<float> model(config);
  Rng rng(42);
  model.init(rng);

  OptimizerConfig oc = OptimizerConfig::defaults_for(OptimizerKind::Adam);
  oc.lr = 3e-3;
  auto optimizer = make_optimizer<float>(oc);
  TrainOptions options;
  options.clip_norm = 5.0;
  const int T = 64, B = 16;
  std::printf("model: embedding %d, LSTM %d, %zu parameters; Adam lr %.0e, clip %.0f, batch %d x %d steps\n",
              config.embedding_dim, config.hidden_size, model.params().size(), oc.lr, options.clip_norm, B, T);
  std::printf("before training: validation %.3f bits per character\n", bits_per_char(model, valid, T));

  const auto t0 = std::chrono::steady_clock::now();
  double running = 0;
  for (int step = 1; step <= steps; ++step) {
    std::vector<size_t> starts(B);
    for (auto& s : starts) s = rng.next() % (train.size() - T - 1);
    StepResult r = train_step(model, *optimizer, make_batch(train, starts, T), options, rng);
    running = step == 1 ? r.loss : 0.95 * running + 0.05 * r.loss;
    if (step % 100 == 0 || step == steps)
      std::printf("step %4d: training loss %.3f, validation %.3f bits per character\n", step, running,
                  bits_per_char(model, valid, T));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("trained %d steps in %.1f s (%.0f sequences/s)\n", steps, seconds, steps * B / seconds);

  nlohmann::json pre = {{"tokenizer", "bytes"}, {"vocab", nlohmann::json::array()}};
  for (unsigned char ch : vocab) pre["vocab"].push_back(int(ch));  // byte values
  save_model(model_path, model, pre.dump());
  LoadedModel<float> loaded = load_model<float>(model_path);
  {
    std::vector<size_t> starts = {0, 100, 200};
    Batch<float> batch = make_batch(valid, starts, T);
    ModelCache<float> a, b;
    model.forward(batch, a, false, nullptr);
    loaded.model.forward(batch, b, false, nullptr);
    const bool same = a.logits == b.logits;
    std::printf("saved %s and reloaded it: outputs %s\n", model_path.c_str(),
                same ? "bit-identical" : "DIFFER (bug)");
    if (!same) return 1;
  }

  // Prediction: the most likely next characters after a prompt, by running the prompt step by step.
  const Model<float>& m = loaded.model;
  auto feed = [&](const std::string& s, ModelState<float>& state, std::vector<float>& probs) {
    for (char ch : s) {
      const size_t id = vocab.find(ch);
      if (id == std::string::npos) continue;  // a character the model never saw
      Batch<float> step;
      step.T = 1, step.B = 1, step.lengths = {1}, step.tokens = {int32_t(id)};
      ModelCache<float> cache;
      ModelState<float> next;
      m.forward(step, cache, false, nullptr, state.h.empty() ? nullptr : &state, &next);
      state = std::move(next);
      probs = cache.logits;
      m.apply_head(probs.data(), 1);
    }
  };
  const std::string prompt = "Call me Ishmael. Some years ag";
  ModelState<float> state;
  std::vector<float> probs;
  feed(prompt, state, probs);
  std::vector<int> order(probs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::partial_sort(order.begin(), order.begin() + 3, order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
  std::printf("prediction: after \"%s\" the next character is", prompt.c_str());
  for (int k = 0; k < 3; ++k) std::printf(" '%c' (%.2f)%s", vocab[order[k]], probs[order[k]], k < 2 ? "," : "\n");

  // Generation: sample with temperature 0.7, feeding each character back in.
  std::string generated = "The sea";
  state = {};
  feed(generated, state, probs);
  for (int i = 0; i < 240; ++i) {
    std::vector<double> w(probs.size());
    double total = 0;
    for (size_t k = 0; k < w.size(); ++k) total += (w[k] = std::pow(double(probs[k]), 1.0 / 0.7));
    double u = rng.uniform() * total;
    size_t pick = 0;
    while (pick + 1 < w.size() && (u -= w[pick]) > 0) ++pick;
    generated.push_back(vocab[pick]);
    feed(std::string(1, vocab[pick]), state, probs);
  }
  std::printf("generated (temperature 0.7):\n%s\n", generated.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "rnnkit_quickstart: %s\n", e.what());
  return 1;
}
