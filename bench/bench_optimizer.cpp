// Times one update of each optimizer over the parameters of the LSTM H = 1024 case (4096 x 2048,
// 8.4 M floats), best of 8: the element-wise pass every training step ends with.
// Usage: bench_optimizer [THREADS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "rnnkit/core/params.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/optim/optimizer.h"

using namespace rnnkit;

int main(int argc, char** argv) {
  set_threads(argc > 1 ? std::stoi(argv[1]) : 1);
  ParamStore<float> ps;
  ps.add("w", {4096, 2048});
  for (size_t i = 0; i < ps.values().size(); ++i)
    ps.values()[i] = 0.001f * float(i % 97), ps.grads()[i] = 0.01f * float(i % 89) - 0.4f;
  struct Case {
    const char* name;
    OptimizerKind kind;
    double momentum;
  };
  for (const Case& c : {Case{"sgd", OptimizerKind::Sgd, 0.0}, Case{"sgd_momentum", OptimizerKind::Sgd, 0.9},
                        Case{"adam", OptimizerKind::Adam, 0.0}, Case{"adamw", OptimizerKind::AdamW, 0.0},
                        Case{"rmsprop", OptimizerKind::RmsProp, 0.0}, Case{"adagrad", OptimizerKind::Adagrad, 0.0}}) {
    OptimizerConfig config = OptimizerConfig::defaults_for(c.kind);
    if (c.momentum > 0) config.momentum = c.momentum;
    auto opt = make_optimizer<float>(config);
    double best = 1e30;
    for (int r = 0; r < 8; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      opt->step(ps);
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("%-13s %6.2f ms for %zu parameters\n", c.name, best, ps.values().size());
  }
  return 0;
}
