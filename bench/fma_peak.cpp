// One core's peak single-precision rate (see fma_peak.h). Highway compiles this file once per
// instruction set (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH runs the best the CPU has.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/fma_peak.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "fma_peak.h"

HWY_BEFORE_NAMESPACE();
namespace bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// `rounds` rounds of one multiply-add on each of 16 independent chains of full vectors; returns the
// chains' sum (they converge to 1), which the caller keeps, and the lanes a vector holds.
float FmaChains(int64_t rounds, size_t* lanes) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  // Each chain starts from its own value: chains equal from the start were merged into one by GCC.
  V a0 = hn::Set(d, 1.00f), a1 = hn::Set(d, 1.01f), a2 = hn::Set(d, 1.02f), a3 = hn::Set(d, 1.03f);
  V a4 = hn::Set(d, 1.04f), a5 = hn::Set(d, 1.05f), a6 = hn::Set(d, 1.06f), a7 = hn::Set(d, 1.07f);
  V a8 = hn::Set(d, 1.08f), a9 = hn::Set(d, 1.09f), a10 = hn::Set(d, 1.10f), a11 = hn::Set(d, 1.11f);
  V a12 = hn::Set(d, 1.12f), a13 = hn::Set(d, 1.13f), a14 = hn::Set(d, 1.14f), a15 = hn::Set(d, 1.15f);
  const V scale = hn::Set(d, 0.9999999f), shift = hn::Set(d, 1e-7f);
  for (int64_t r = 0; r < rounds; ++r) {
    a0 = hn::MulAdd(a0, scale, shift), a1 = hn::MulAdd(a1, scale, shift), a2 = hn::MulAdd(a2, scale, shift);
    a3 = hn::MulAdd(a3, scale, shift), a4 = hn::MulAdd(a4, scale, shift), a5 = hn::MulAdd(a5, scale, shift);
    a6 = hn::MulAdd(a6, scale, shift), a7 = hn::MulAdd(a7, scale, shift), a8 = hn::MulAdd(a8, scale, shift);
    a9 = hn::MulAdd(a9, scale, shift), a10 = hn::MulAdd(a10, scale, shift), a11 = hn::MulAdd(a11, scale, shift);
    a12 = hn::MulAdd(a12, scale, shift), a13 = hn::MulAdd(a13, scale, shift);
    a14 = hn::MulAdd(a14, scale, shift), a15 = hn::MulAdd(a15, scale, shift);
  }
  const V sum = hn::Add(hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7))),
                        hn::Add(hn::Add(hn::Add(a8, a9), hn::Add(a10, a11)),
                                hn::Add(hn::Add(a12, a13), hn::Add(a14, a15))));
  *lanes = hn::Lanes(d);
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

}  // namespace HWY_NAMESPACE
}  // namespace bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <chrono>
#include <cstdio>

namespace bench {

HWY_EXPORT(FmaChains);

double fma_gflops() {
  constexpr int64_t kRounds = 2'000'000;
  size_t lanes = 0;
  float total = HWY_DYNAMIC_DISPATCH(FmaChains)(1000, &lanes);  // a warm-up, and the vector's width
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    total += HWY_DYNAMIC_DISPATCH(FmaChains)(kRounds, &lanes);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!(total > 0)) std::printf("(no sum)\n");  // keeps the chains
  return 2.0 * 16 * double(lanes) * double(kRounds) / best / 1e9;
}

}  // namespace bench
#endif  // HWY_ONCE
