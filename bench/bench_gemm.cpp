// Times the per-step product of the recurrent layers, C (M, N) = bias + A1 (M, K1) W1^T + A2 (M, K2)
// W2^T with both weights packed once (gemm_packed_sum; gemm_packed when K2 = 0), on one thread, and
// prints GFLOP/s, best of 7 runs of about 2 GFLOP each. The default cases are the step shapes of the
// benchmark's cases (M = batch rows a thread, K1 = input or hidden, K2 = hidden, N = gates x hidden).
// With `wgrad`, it times instead the weight gradients' product C (M, N) = A^T B, A (K, M) read
// transposed with row stride M (the gate gradients of all T * B rows), B (K, N) the layer's input or
// h (gemm(), one thread).
// With `head`, it times the forward product of a per-step head with one output, C (M, 1) = A (M, K)
// w^T (gemm(), one thread), in microseconds.
// Usage: bench_gemm                    the default cases
//        bench_gemm M K1 K2 N          one case
//        bench_gemm wgrad              the weight gradients of the benchmark's cases
//        bench_gemm wgrad M N K        one weight gradient
//        bench_gemm head               the one-output heads of the benchmark's cases
//        bench_gemm head M K           one head
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "rnnkit/core/gemm.h"
#include "rnnkit/core/packed_gemm.h"
#include "rnnkit/core/parallel.h"

using namespace rnnkit;

namespace {

// The best of 7 runs (after one warm-up) of about 2 GFLOP each of `product` (flop each), in GFLOP/s.
template <typename F>
double best_rate(double flop, F&& product) {
  const int iters = std::max(1, int(2e9 / flop));
  const double ms = bench::best_ms(
      [&] {
        for (int it = 0; it < iters; ++it) product();
      },
      7);
  return flop * iters / ms / 1e6;
}

// dW (M, N) = dG^T X over K rows: M = gates x hidden, N = input or hidden, K = T * B.
int weight_gradients(int argc, char** argv) {
  std::vector<std::vector<int>> cases = {{512, 64, 1600},   {512, 128, 1600},   {384, 128, 1600}, {256, 128, 1600},
                                         {1024, 256, 6400}, {768, 256, 6400},   {512, 256, 6400}, {256, 256, 6400},
                                         {1024, 256, 1600}, {2048, 512, 3200},  {1536, 512, 3200}, {512, 512, 3200},
                                         {4096, 1024, 400}, {3072, 1024, 400}, {1024, 1024, 400}};
  if (argc == 5) cases = {{std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4])}};
  for (const std::vector<int>& c : cases) {
    const int M = c[0], N = c[1], K = c[2];
    std::vector<float> a(size_t(K) * M), b(size_t(K) * N), out(size_t(M) * N);
    for (auto* v : {&a, &b})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.001f * float(i % 97) - 0.05f;
    const double rate = best_rate(2.0 * M * N * K, [&] {
      gemm(Trans::Yes, Trans::No, M, N, K, 1.0f, a.data(), M, b.data(), N, 0.0f, out.data(), N);
    });
    std::printf("M=%-4d N=%-4d K=%-4d  %6.1f GFLOP/s\n", M, N, K, rate);
  }
  return 0;
}

// logits (M, 1) = features (M, K) w^T: M = T * B rows, K = directions x hidden.
int one_output_heads(int argc, char** argv) {
  std::vector<std::vector<int>> cases = {{1600, 128}, {6400, 256}, {1600, 512}, {3200, 512}, {400, 1024}};
  if (argc == 4) cases = {{std::stoi(argv[2]), std::stoi(argv[3])}};
  for (const std::vector<int>& c : cases) {
    const int M = c[0], K = c[1];
    std::vector<float> a(size_t(M) * K), w(K), out(M);
    for (auto* v : {&a, &w})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.001f * float(i % 97) - 0.05f;
    const double ms = bench::best_ms(
        [&] { gemm(Trans::No, Trans::Yes, M, 1, K, 1.0f, a.data(), K, w.data(), K, 0.0f, out.data(), 1); }, 200);
    std::printf("M=%-5d K=%-5d %7.1f us\n", M, K, ms * 1e3);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  set_threads(1);
  if (argc >= 2 && std::string(argv[1]) == "wgrad") return weight_gradients(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "head") return one_output_heads(argc, argv);
  std::vector<std::vector<int>> cases = {{64, 64, 256, 1024},  {64, 256, 256, 1024}, {32, 128, 256, 1024},
                                         {64, 512, 512, 2048}, {16, 1024, 0, 4096},  {16, 1024, 0, 3072},
                                         {32, 64, 128, 512},   {8, 1024, 0, 1024}};
  if (argc == 5) cases = {{std::stoi(argv[1]), std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4])}};
  for (const std::vector<int>& c : cases) {
    const int M = c[0], K1 = c[1], K2 = c[2], N = c[3];
    std::vector<float> a1(size_t(M) * K1), a2(size_t(M) * K2), w1(size_t(N) * K1), w2(size_t(N) * K2), bias(N),
        out(size_t(M) * N);
    for (auto* v : {&a1, &a2, &w1, &w2, &bias})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.001f * float(i % 97) - 0.05f;
    PackedMatrix<float> p1, p2;
    p1.pack(Trans::Yes, K1, N, w1.data(), K1);
    if (K2 > 0) p2.pack(Trans::Yes, K2, N, w2.data(), K2);
    const double best = best_rate(2.0 * M * N * (K1 + K2), [&] {
      if (K2 > 0) gemm_packed_sum(M, a1.data(), K1, p1, a2.data(), K2, &p2, bias.data(), out.data(), N);
      else gemm_packed(M, a1.data(), K1, p1, out.data(), N);
    });
    std::printf("M=%-3d K=%4d+%-4d N=%-4d  %6.1f GFLOP/s\n", M, K1, K2, N, best);
  }
  return 0;
}
