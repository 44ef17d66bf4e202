// rnnkit generate: sample text from a language model, step by step with the state carried.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "rnnkit/workflow/predictor.h"

namespace rnnkit::cli {

namespace {

struct GenerateFlags {
  std::string model, prime;
  int length = 200, top_k = 0;
  double temperature = 0.8, top_p = 1.0;
  uint64_t seed = 1;
};

void run_generate(const GenerateFlags& f) {
  const Predictor predictor(f.model);
  const TaskState& st = predictor.state();
  require(st.task == Task::Lm, f.model + ": generate needs a language model");
  require(f.temperature > 0, "--temperature must be > 0");
  require(f.top_p > 0 && f.top_p <= 1, "--top-p must lie in (0, 1]");
  const Vocabulary& vocab = st.text.vocab();
  const Tokenizer& tok = st.text.tokenizer();
  Rng rng(f.seed);
  Stream<float> stream = predictor.stream();  // says so when the model is bidirectional
  std::vector<int32_t> prime = st.text.encode(f.prime);
  if (prime.empty()) prime.push_back(vocab.id(vocab.tokens().back()));  // any start when no prime is given
  // The prime as one chunk; the next-token distribution is the output of its last step.
  const std::vector<float>& primed = stream.chunk(prime.data(), int(prime.size()));
  const size_t C = size_t(predictor.model().config().output_size);
  std::vector<float> probs(primed.end() - std::ptrdiff_t(C), primed.end());
  std::vector<std::string> out;
  for (int i = 0; i < f.length; ++i) {
    // Temperature, then top-k and top-p (nucleus) filtering, then a draw.
    // p^(1/T), relative to the largest (the softmax of logits / T).
    const float mx = *std::max_element(probs.begin(), probs.end());
    std::vector<std::pair<double, int>> w;
    double total = 0;
    for (size_t c = 0; c < probs.size(); ++c) {
      if (int(c) == vocab.pad_id()) continue;
      const double v = std::pow(double(probs[c]) / double(mx), 1.0 / f.temperature);
      w.emplace_back(v, int(c));
      total += v;
    }
    std::sort(w.begin(), w.end(), std::greater<>());
    if (f.top_k > 0 && w.size() > size_t(f.top_k)) w.resize(size_t(f.top_k));
    double kept = 0, cum = 0;
    size_t n = 0;
    for (; n < w.size(); ++n) {
      cum += w[n].first / total;
      kept += w[n].first;
      if (cum >= f.top_p) {
        ++n;
        break;
      }
    }
    w.resize(std::max<size_t>(n, 1));
    kept = 0;
    for (const auto& [v, c] : w) kept += v;
    double u = rng.uniform() * kept;
    int pick = w.back().second;
    for (const auto& [v, c] : w)
      if ((u -= v) <= 0) {
        pick = c;
        break;
      }
    out.push_back(vocab.token(pick));
    const std::vector<float>& next = stream.step(pick);
    probs.assign(next.begin(), next.end());
  }
  std::printf("%s%s\n", f.prime.c_str(), tok.detokenize(out).c_str());
}

}  // namespace

void add_generate(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* c = app.add_subcommand("generate", "sample text from a language model");
  c->add_option("--model,-m", f->model, "model file")->required();
  c->add_option("--prime,-p", f->prime, "text to start from");
  c->add_option("--length,-n", f->length, "tokens to generate")->capture_default_str();
  c->add_option("--temperature,-t", f->temperature, "sampling temperature")->capture_default_str();
  c->add_option("--top-k", f->top_k, "sample among the k most likely (0: all)")->capture_default_str();
  c->add_option("--top-p", f->top_p, "sample within this probability mass")->capture_default_str();
  c->add_option("--seed", f->seed, "random seed")->capture_default_str();
  c->callback([f] { run_generate(*f); });
}

}  // namespace rnnkit::cli
