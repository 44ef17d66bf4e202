// Times one training step (forward, backward, Adam update) and one inference pass of a recurrent
// stack, for the cases of bench/torch_train_step.py, and prints ms per step and GFLOP/s.
// GFLOP/s counts the forward as 2*B*T*G*H*(I+H) per layer and direction and training as 3x that.
// Usage: bench_train_step [threads]   (a baseline, not the side-by-side comparison of issue 7)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "rnnkit/rnnkit.h"

using namespace rnnkit;

namespace {

struct Case {
  int B, T, I, H, L;
  bool bidir;
};

double flops(const Case& c, CellKind cell) {
  const int G = gate_count(cell), D = c.bidir ? 2 : 1;
  double f = 0;
  for (int l = 0; l < c.L; ++l) f += 2.0 * c.B * c.T * G * c.H * ((l == 0 ? c.I : D * c.H) + c.H) * D;
  return f;
}

template <typename F>
double best_ms(F&& f, int reps) {
  f();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::stoi(argv[1]) : 1;
  set_blas_threads(threads);
  const Case cases[] = {{32, 50, 64, 128, 1, false}, {64, 100, 64, 256, 2, false}, {32, 50, 128, 256, 1, true}};
  std::printf("cell  B   T   I    H    L bi | train ms  GFLOP/s | infer ms  GFLOP/s   (%d thread%s)\n", threads,
              threads > 1 ? "s" : "");
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru})
    for (const Case& c : cases) {
      ModelConfig mc;
      mc.input_size = c.I, mc.cell = cell, mc.hidden_size = c.H, mc.num_layers = c.L, mc.bidirectional = c.bidir;
      mc.output = OutputMode::PerStep, mc.output_size = 1, mc.head = Head::Identity;
      Model<float> model(mc);
      Rng rng(1);
      model.init(rng);
      Batch<float> batch;
      batch.T = c.T, batch.B = c.B, batch.lengths.assign(c.B, c.T);
      batch.features.resize(size_t(c.T) * c.B * c.I);
      for (float& x : batch.features) x = float(rng.uniform(-1, 1));
      batch.values.assign(size_t(c.T) * c.B, 0.5f);
      auto opt = make_optimizer<float>(OptimizerConfig::defaults_for(OptimizerKind::Adam));
      const double train = best_ms([&] { train_step(model, *opt, batch, TrainOptions{}, rng); }, 5);
      ModelCache<float> cache;
      const double infer = best_ms([&] { model.forward(batch, cache, false, nullptr); }, 5);
      const double f = flops(c, cell);
      std::printf("%-5s %-3d %-3d %-4d %-4d %d %-2s | %8.1f %8.1f | %8.1f %8.1f\n", cell_name(cell), c.B, c.T, c.I,
                  c.H, c.L, c.bidir ? "y" : "n", train, 3 * f / train / 1e6, infer, f / infer / 1e6);
    }
}
