// Vectorised cross-entropy pieces (see loss_kernels.h). Highway compiles this file once per
// instruction set (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH picks the best one.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/nn/loss_kernels.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <cmath>
#include <limits>

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "src/nn/loss_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace rnnkit::loss_kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

double ExpShifted(const float* row, int C, float* e, float* max_out) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(C);
  // the largest logit, and whether any is NaN (Highway's Exp leaves NaN undefined)
  float mx = row[0];
  bool nan = false;
  size_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(d, row);
    auto vnan = hn::IsNaN(vmax);
    for (i = N; i + N <= n; i += N) {
      const auto x = hn::LoadU(d, row + i);
      vmax = hn::Max(vmax, x);
      vnan = hn::Or(vnan, hn::IsNaN(x));
    }
    mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
    nan = !hn::AllFalse(d, vnan);
  }
  for (; i < n; ++i) {
    nan = nan || std::isnan(row[i]);
    mx = row[i] > mx ? row[i] : mx;
  }
  *max_out = mx;
  if (nan || std::isinf(mx)) {  // as exp(x - max) in the scalar form: NaN for a NaN or an infinite max
    for (size_t k = 0; e && k < n; ++k) e[k] = std::numeric_limits<float>::quiet_NaN();
    return std::numeric_limits<double>::quiet_NaN();
  }
  // exp(x - max) of non-positive numbers (-inf held at -FLT_MAX, whose exp is 0 as well), summed in
  // double; the last partial vector is read through a buffer and its padding lanes zeroed
  const auto vm = hn::Set(d, mx), lowest = hn::Set(d, std::numeric_limits<float>::lowest());
  double sum = 0;  // (each vector's lanes summed in float, the vectors in double)
  for (i = 0; i < n; i += N) {
    const size_t m = HWY_MIN(N, n - i);
    HWY_ALIGN float buf[hn::MaxLanes(d)];
    hn::Vec<decltype(d)> x;
    if (m == N) {
      x = hn::LoadU(d, row + i);
    } else {
      for (size_t k = 0; k < N; ++k) buf[k] = k < m ? row[i + k] : mx;
      x = hn::Load(d, buf);
    }
    auto ex = hn::Exp(d, hn::Max(hn::Sub(x, vm), lowest));
    if (m < N) ex = hn::IfThenElseZero(hn::FirstN(d, m), ex);
    sum += double(hn::GetLane(hn::SumOfLanes(d, ex)));
    if (!e) continue;
    if (m == N) {
      hn::StoreU(ex, d, e + i);
    } else {
      hn::Store(ex, d, buf);
      for (size_t k = 0; k < m; ++k) e[i + k] = buf[k];
    }
  }
  return sum;
}

void ScaleRow(float* e, int C, float s) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(C);
  const auto vs = hn::Set(d, s);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, e + i), vs), d, e + i);
  for (; i < n; ++i) e[i] *= s;
}

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit::loss_kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit::loss_kernels {

HWY_EXPORT(ExpShifted);
HWY_EXPORT(ScaleRow);

double exp_shifted(const float* row, int C, float* e, float* max) {
  return HWY_DYNAMIC_DISPATCH(ExpShifted)(row, C, e, max);
}

void scale_row(float* e, int C, float s) { HWY_DYNAMIC_DISPATCH(ScaleRow)(e, C, s); }

}  // namespace rnnkit::loss_kernels
#endif  // HWY_ONCE
