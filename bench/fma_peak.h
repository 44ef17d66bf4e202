// One core's peak single-precision rate, GFLOP/s: 16 independent chains of multiply-adds on full
// vectors of the widest instruction set the CPU runs (fused where it has FMA: AVX-512, AVX2, NEON),
// 2 flops a lane, the best of five runs. No product can run faster on that core.
#pragma once

namespace bench {

double fma_gflops();

}  // namespace bench
