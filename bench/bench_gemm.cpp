// Times the per-step product of the recurrent layers, C (M, N) = bias + A1 (M, K1) W1^T + A2 (M, K2)
// W2^T with both weights packed once (gemm_packed_sum; gemm_packed when K2 = 0), on one thread, and
// prints GFLOP/s, best of 7 runs of about 2 GFLOP each. The default cases are the step shapes of the
// benchmark's cases (M = batch rows a thread, K1 = input or hidden, K2 = hidden, N = gates x hidden).
// Usage: bench_gemm               the default cases
//        bench_gemm M K1 K2 N     one case
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "rnnkit/core/packed_gemm.h"
#include "rnnkit/core/parallel.h"

using namespace rnnkit;

int main(int argc, char** argv) {
  std::vector<std::vector<int>> cases = {{64, 64, 256, 1024},  {64, 256, 256, 1024}, {32, 128, 256, 1024},
                                         {64, 512, 512, 2048}, {16, 1024, 0, 4096},  {16, 1024, 0, 3072},
                                         {32, 64, 128, 512},   {8, 1024, 0, 1024}};
  if (argc == 5) cases = {{std::stoi(argv[1]), std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4])}};
  set_threads(1);
  for (const std::vector<int>& c : cases) {
    const int M = c[0], K1 = c[1], K2 = c[2], N = c[3];
    std::vector<float> a1(size_t(M) * K1), a2(size_t(M) * K2), w1(size_t(N) * K1), w2(size_t(N) * K2), bias(N),
        out(size_t(M) * N);
    for (auto* v : {&a1, &a2, &w1, &w2, &bias})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.001f * float(i % 97) - 0.05f;
    PackedMatrix<float> p1, p2;
    p1.pack(Trans::Yes, K1, N, w1.data(), K1);
    if (K2 > 0) p2.pack(Trans::Yes, K2, N, w2.data(), K2);
    const double flop = 2.0 * M * N * (K1 + K2);
    const int iters = std::max(1, int(2e9 / flop));
    double best = 0;
    for (int rep = 0; rep < 7; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < iters; ++it) {
        if (K2 > 0) gemm_packed_sum(M, a1.data(), K1, p1, a2.data(), K2, &p2, bias.data(), out.data(), N);
        else gemm_packed(M, a1.data(), K1, p1, out.data(), N);
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, flop * iters / s / 1e9);
    }
    std::printf("M=%-3d K=%4d+%-4d N=%-4d  %6.1f GFLOP/s\n", M, K1, K2, N, best);
  }
  return 0;
}
