// Times one training step (forward, backward, Adam update) and one inference pass of a recurrent
// stack, and prints ms per step and GFLOP/s.
// GFLOP/s counts the forward as 2*B*T*G*H*(I+H) per layer and direction and training as 3x that.
// Usage: bench_train_step [THREADS]                      a table of the baseline cases
//        bench_train_step CELL B T I H LAYERS BIDIR THREADS [REPS]
//                                                   one case as a JSON line, for bench/compare.py:
//                                                   train_ms and train_gflops, train_dx_ms (the step
//                                                   with the input features' gradient too), infer_ms
//                                                   and infer_gflops, stream_us (one step at batch 1
//                                                   with the state carried), ragged_train_ms (a padded
//                                                   batch of about half real steps) and its
//                                                   ragged_real_fraction, unpadded_train_ms (its real
//                                                   steps as a full batch of unpadded_rows rows),
//                                                   update_ms (the gradient norm and Adam update alone),
//                                                   max_rss_mb
//        bench_train_step CELL B T I H LAYERS BIDIR THREADS REPS train|train_dx|infer|ragged
//                                                   the training step (without or with the input's
//                                                   gradient), the inference pass or the padded
//                                                   batch's training step only (for a profiler)
//        bench_train_step sgemm THREADS             the GEMM rate of a 2048^3 sgemm through OpenBLAS
//                                                   and through rnnkit's kernel, JSON
//        bench_train_step machine                   what the results depend on, JSON: the round trip
//                                                   of a value between two cores, the memory read rate
//                                                   of 1 and 2 threads, and one core's peak rate of
//                                                   fused multiply-adds
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <cblas.h>

#include "bench_util.h"
#include "fma_peak.h"
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

Model<float> make_model(CellKind cell, const Case& c, Rng& rng) {
  ModelConfig mc;
  mc.input_size = c.I, mc.cell = cell, mc.hidden_size = c.H, mc.num_layers = c.L, mc.bidirectional = c.bidir;
  mc.output = OutputMode::PerStep, mc.output_size = 1, mc.head = Head::Identity;
  Model<float> model(mc);
  model.init(rng);
  return model;
}

// A (T, B) batch of uniform features with the target 0.5 on every step.
Batch<float> make_batch(const Case& c, Rng& rng) {
  Batch<float> batch;
  batch.T = c.T, batch.B = c.B, batch.lengths.assign(c.B, c.T);
  batch.features.resize(size_t(c.T) * c.B * c.I);
  for (float& x : batch.features) x = float(rng.uniform(-1, 1));
  batch.values.assign(size_t(c.T) * c.B, 0.5f);
  return batch;
}

int one_case(int argc, char** argv) {
  const double base = bench::rss_mb();
  const CellKind cell = parse_cell(argv[1]);
  const Case c{std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4]), std::stoi(argv[5]), std::stoi(argv[6]),
               std::stoi(argv[7]) != 0};
  set_threads(std::stoi(argv[8]));
  const int reps = argc > 9 ? std::stoi(argv[9]) : 5;
  Rng rng(1);
  Model<float> model = make_model(cell, c, rng);
  const Batch<float> batch = make_batch(c, rng);
  auto opt = make_optimizer<float>(OptimizerConfig::defaults_for(OptimizerKind::Adam));
  const std::string only = argc > 10 ? argv[10] : "";
  if (only == "infer") {
    ModelCache<float> cache;
    cache.inference = true;
    const double infer = bench::best_ms([&] { model.forward(batch, cache, false, nullptr); }, reps);
    std::printf("{\"infer_ms\": %.3f, \"infer_gflops\": %.1f}\n", infer, flops(c, cell) / infer / 1e6);
    return 0;
  }
  // A padded batch: sequence b has (b + 1) * T / B steps, about half the padded length in all (built
  // after the training peak is taken, unless it is the one timed: it copies the batch).
  auto padded_length = [&](int b) { return std::max(1, (b + 1) * c.T / c.B); };
  double real = 0;  // the padded batch's real steps
  for (int b = 0; b < c.B; ++b) real += padded_length(b);
  auto padded_batch = [&] {
    Batch<float> ragged = batch;
    for (int b = 0; b < c.B; ++b) ragged.lengths[size_t(b)] = padded_length(b);
    return ragged;
  };
  // The padded batch's real steps without padding: a full batch of as many rows of T steps as the real
  // steps fill (rounded), the yardstick for "costs what its real steps cost" (a smaller batch runs each
  // row less efficiently than a larger one; padding adds to that).
  auto unpadded_ms = [&] {
    Case dense = c;
    dense.B = std::max(1, int(real / c.T + 0.5));
    const Batch<float> rows = make_batch(dense, rng);
    return std::pair{bench::best_ms([&] { train_step(model, *opt, rows, TrainOptions{}, rng); }, reps), dense.B};
  };
  // The training step with the gradient of the input features as well: train_step's forward, loss,
  // backward, gradient norm and update (without its checks for non-finite values), plus the features'
  // gradient that train_step leaves out because nothing reads it (PyTorch too leaves it out for an
  // input that does not require grad), but that oneDNN's backward always computes (diff_src_layer):
  // the like-for-like step for the comparison with oneDNN.
  ModelCache<float> dx_cache;
  std::vector<float> dlogits, dx;
  auto train_dx_step = [&] {
    model.forward(batch, dx_cache, true, &rng);
    dlogits.resize(dx_cache.logits.size());
    model.loss(batch, dx_cache, dlogits.data());
    model.params().zero_grad();
    model.backward(batch, dx_cache, dlogits.data(), nullptr, nullptr, &dx);
    grad_norm(model.params());
    opt->step(model.params());
  };
  if (only == "train_dx") {
    std::printf("{\"train_dx_ms\": %.3f}\n", bench::best_ms(train_dx_step, reps));
    return 0;
  }
  // The part of a training step that no padding shortens: the gradients' norm and the Adam update,
  // passes over every parameter (zero_grad only marks the gradients, which the backward's products
  // then overwrite; the weights' packing in the forward is another pass, not counted here). A padded
  // batch whose rows ran as efficiently as a full batch's would cost update + real fraction * (full -
  // update), above the real fraction of the full step.
  auto update_ms = [&] {
    return bench::best_ms(
        [&] {
          grad_norm(model.params());
          opt->step(model.params());
        },
        reps);
  };
  if (only == "ragged") {
    const Batch<float> ragged = padded_batch();
    const double t = bench::best_ms([&] { train_step(model, *opt, ragged, TrainOptions{}, rng); }, reps);
    const auto [unpadded, unpadded_rows] = unpadded_ms();
    std::printf("{\"ragged_train_ms\": %.3f, \"ragged_real_fraction\": %.3f, \"unpadded_train_ms\": %.3f, "
                "\"unpadded_rows\": %d, \"update_ms\": %.3f}\n",
                t, real / (double(c.B) * c.T), unpadded, unpadded_rows, update_ms());
    return 0;
  }
  const double train = bench::best_ms([&] { train_step(model, *opt, batch, TrainOptions{}, rng); }, reps);
  const double train_peak = bench::peak_rss_mb();  // training alone: before the inference buffers below
  if (only == "train") {
    std::printf("{\"train_ms\": %.3f, \"train_gflops\": %.1f, \"train_max_rss_mb\": %.1f}\n", train,
                3 * flops(c, cell) / train / 1e6, train_peak);
    return 0;
  }
  const double train_dx = bench::best_ms(train_dx_step, reps);
  ModelCache<float> cache;
  cache.inference = true;
  const double infer = bench::best_ms([&] { model.forward(batch, cache, false, nullptr); }, reps);
  const Batch<float> ragged = padded_batch();
  const double ragged_train =
      bench::best_ms([&] { train_step(model, *opt, ragged, TrainOptions{}, rng); }, reps);
  const auto [unpadded_train, unpadded_rows] = unpadded_ms();
  const double update = update_ms();
  // Streaming: one step of one sequence at a time, the state carried from call to call.
  Case one = c;
  one.B = 1, one.T = 1;
  const Batch<float> step = make_batch(one, rng);
  ModelState<float> state, next;
  model.forward(step, cache, false, nullptr, nullptr, &state);
  const int steps = 200;
  const double stream = bench::best_ms(
                            [&] {
                              for (int i = 0; i < steps; ++i) {
                                model.forward(step, cache, false, nullptr, &state, &next);
                                std::swap(state, next);
                              }
                            },
                            reps) *
                        1e3 / steps;
  const double f = flops(c, cell);
  std::printf("{\"train_ms\": %.3f, \"train_gflops\": %.1f, \"train_dx_ms\": %.3f, \"infer_ms\": %.3f, "
              "\"infer_gflops\": %.1f, \"stream_us\": %.2f, \"ragged_train_ms\": %.3f, \"ragged_real_fraction\": %.3f, "
              "\"unpadded_train_ms\": %.3f, \"unpadded_rows\": %d, \"update_ms\": %.3f, \"max_rss_mb\": %.1f, "
              "\"train_max_rss_mb\": %.1f, \"base_rss_mb\": %.1f}\n",
              train, 3 * f / train / 1e6, train_dx, infer, f / infer / 1e6, stream, ragged_train,
              real / (double(c.B) * c.T), unpadded_train, unpadded_rows, update, bench::peak_rss_mb(), train_peak,
              base);
  return 0;
}

// The machine's single-precision GEMM rate, 2048^3: through OpenBLAS as this environment configures
// it (OPENBLAS_CORETYPE may hold it to fewer vector units than the CPU has) and through rnnkit's own
// kernel (gemm()), each split over the threads the way gemm() splits a product. sgemm_gflops, the
// reference for "% of sgemm", is the faster of the two.
int sgemm_rate(int threads) {
  set_threads(threads);
  const int n = 2048;
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  const double own = bench::best_ms(
      [&] { gemm(Trans::No, Trans::No, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); }, 3);
  const double blas = bench::best_ms(
      [&] {
        parallel_slices(n, 16, [&](int m0, int m1) {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1 - m0, n, n, 1.0f, a.data() + size_t(m0) * n, n,
                      b.data(), n, 0.0f, c.data() + size_t(m0) * n, n);
        });
      },
      3);
  const double f = 2.0 * n * n * n / 1e6;
  std::printf("{\"sgemm_gflops\": %.1f, \"openblas_gflops\": %.1f, \"rnnkit_gflops\": %.1f, \"blas_kernels\": \"%s\"}\n",
              f / std::min(own, blas), f / blas, f / own, blas_kernels());
  return 0;
}

// Pins the calling thread to one CPU; false where it cannot.
bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// The median round trip, in ns, of a counter passed back and forth between two threads pinned to the
// first two CPUs this process may use (each waits, spinning, for the other's increment): how long data
// written on one core takes to be read on the other, which every hand-over between rnnkit's threads
// pays. -1 with fewer than two CPUs.
double round_trip_ns() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) return -1;
  constexpr int kTrips = 20000, kBatches = 15;
  std::atomic<int64_t> counter{0};
  std::thread other([&] {
    pin_to(cpus[1]);
    for (int64_t i = 1; i < int64_t(kTrips) * kBatches * 2; i += 2) {
      while (counter.load(std::memory_order_acquire) != i) {
      }
      counter.store(i + 1, std::memory_order_release);
    }
  });
  pin_to(cpus[0]);
  std::vector<double> ns;
  int64_t next = 0;
  for (int b = 0; b < kBatches; ++b) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kTrips; ++i, next += 2) {
      counter.store(next + 1, std::memory_order_release);
      while (counter.load(std::memory_order_acquire) != next + 2) {
      }
    }
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kTrips);
  }
  other.join();
  cpu_set_t all = allowed;
  pthread_setaffinity_np(pthread_self(), sizeof all, &all);
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

// The rate at which `threads` threads read 512 MB from memory (each its own part, summed in four
// independent lanes), GB/s, the best of five after one warm-up.
double read_gbps(int threads) {
  const size_t n = (size_t(512) << 20) / sizeof(uint64_t);
  static std::vector<uint64_t> data(n, 1);
  std::vector<uint64_t> sums(size_t(threads) * 8);
  const double ms = bench::best_ms(
      [&] {
        std::vector<std::thread> team;
        for (int t = 0; t < threads; ++t)
          team.emplace_back([&, t] {
            const size_t lo = n * size_t(t) / size_t(threads), hi = n * size_t(t + 1) / size_t(threads);
            uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (size_t i = lo; i + 4 <= hi; i += 4)
              s0 += data[i], s1 += data[i + 1], s2 += data[i + 2], s3 += data[i + 3];
            sums[size_t(t) * 8] = s0 + s1 + s2 + s3;
          });
        for (std::thread& t : team) t.join();
      },
      5);
  uint64_t total = 0;
  for (uint64_t v : sums) total += v;
  if (total == 0) std::printf("(no sum)\n");  // keeps the reads
  return double(n * sizeof(uint64_t)) / ms / 1e6;
}

int machine() {
  const double trip = round_trip_ns();
  const double one = read_gbps(1), two = read_gbps(2);
  const double fma = bench::fma_gflops();
  std::printf("{\"round_trip_ns\": %.0f, \"read_gbps_1\": %.1f, \"read_gbps_2\": %.1f, \"fma_gflops\": %.1f}\n", trip,
              one, two, fma);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 9) return one_case(argc, argv);
  if (argc == 3 && std::string(argv[1]) == "sgemm") return sgemm_rate(std::stoi(argv[2]));
  if (argc == 2 && std::string(argv[1]) == "machine") return machine();
  const int threads = argc > 1 ? std::stoi(argv[1]) : 1;
  set_threads(threads);
  const Case cases[] = {{32, 50, 64, 128, 1, false}, {64, 100, 64, 256, 2, false}, {32, 50, 128, 256, 1, true}};
  std::printf("cell  B   T   I    H    L bi | train ms  GFLOP/s | infer ms  GFLOP/s   (%d thread%s)\n", threads,
              threads > 1 ? "s" : "");
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru})
    for (const Case& c : cases) {
      Rng rng(1);
      Model<float> model = make_model(cell, c, rng);
      const Batch<float> batch = make_batch(c, rng);
      auto opt = make_optimizer<float>(OptimizerConfig::defaults_for(OptimizerKind::Adam));
      const double train = bench::best_ms([&] { train_step(model, *opt, batch, TrainOptions{}, rng); }, 5);
      ModelCache<float> cache;
      cache.inference = true;
      const double infer = bench::best_ms([&] { model.forward(batch, cache, false, nullptr); }, 5);
      const double f = flops(c, cell);
      std::printf("%-5s %-3d %-3d %-4d %-4d %d %-2s | %8.1f %8.1f | %8.1f %8.1f\n", cell_name(cell), c.B, c.T, c.I,
                  c.H, c.L, c.bidir ? "y" : "n", train, 3 * f / train / 1e6, infer, f / infer / 1e6);
    }
}
