// Vectorised optimizer arithmetic (see kernels.h). Highway compiles this file once per instruction
// set (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH picks the best the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/optim/kernels.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "src/optim/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace rnnkit::optim_kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs body(i, lanes) over [0, n) in whole vectors; the last partial vector goes through zero-padded
// buffers (body reads and writes through the pointers it is given), so every element sees the same
// instructions and the same rounding.
template <class D, typename T, size_t kArrays, class Body>
HWY_INLINE void for_vectors(D d, size_t n, T* const (&arrays)[kArrays], Body&& body) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    T* at[kArrays];
    for (size_t a = 0; a < kArrays; ++a) at[a] = arrays[a] + i;
    body(at);
  }
  if (i == n) return;
  HWY_ALIGN T buf[kArrays][hn::MaxLanes(D())] = {};
  T* at[kArrays];
  for (size_t a = 0; a < kArrays; ++a) {
    for (size_t k = 0; k < n - i; ++k) buf[a][k] = arrays[a][i + k];
    at[a] = buf[a];
  }
  body(at);
  for (size_t a = 0; a < kArrays; ++a)
    for (size_t k = 0; k < n - i; ++k) arrays[a][i + k] = buf[a][k];
}

template <typename T>
void AdamImpl(size_t n, T* p, const T* g, T* m, T* v, const AdamCoefficients& c) {
  const hn::ScalableTag<T> d;
  const auto beta1 = hn::Set(d, T(c.beta1)), one_minus_beta1 = hn::Set(d, T(1.0 - c.beta1));
  const auto beta2 = hn::Set(d, T(c.beta2)), one_minus_beta2 = hn::Set(d, T(1.0 - c.beta2));
  const auto neg_step = hn::Set(d, T(-c.step_size)), bc2_sqrt = hn::Set(d, T(c.bc2_sqrt));
  const auto eps = hn::Set(d, T(c.eps)), wd = hn::Set(d, T(c.weight_decay)), decay = hn::Set(d, T(c.decay));
  const bool l2 = c.weight_decay != 0.0, decoupled = c.decoupled;
  // g is read only; the cast lets one helper walk all four arrays (it writes g's tail buffer only).
  T* const arrays[4] = {p, const_cast<T*>(g), m, v};
  for_vectors(d, n, arrays, [&](T* const* at) {
    auto pv = hn::LoadU(d, at[0]);
    auto gv = hn::LoadU(d, at[1]);
    if (decoupled) pv = hn::Mul(pv, decay);  // param.mul_(1 - lr * wd)
    if (l2) gv = hn::Add(gv, hn::Mul(pv, wd));  // grad.add(param, alpha=wd)
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    const auto mv = hn::Add(hn::Mul(hn::LoadU(d, at[2]), beta1), hn::Mul(gv, one_minus_beta1));
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const auto vv = hn::Add(hn::Mul(hn::LoadU(d, at[3]), beta2), hn::Mul(hn::Mul(gv, gv), one_minus_beta2));
    // denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps); param.addcdiv_(exp_avg, denom, value=-step_size)
    const auto denom = hn::Add(hn::Div(hn::Sqrt(vv), bc2_sqrt), eps);
    pv = hn::Add(pv, hn::Mul(neg_step, hn::Div(mv, denom)));
    hn::StoreU(mv, d, at[2]);
    hn::StoreU(vv, d, at[3]);
    hn::StoreU(pv, d, at[0]);
  });
}

template <typename T>
void SgdImpl(size_t n, T* p, const T* g, T* buf, const SgdCoefficients& c) {
  const hn::ScalableTag<T> d;
  const auto neg_lr = hn::Set(d, T(-c.lr)), wd = hn::Set(d, T(c.weight_decay));
  const auto momentum = hn::Set(d, T(c.momentum)), one_minus_dampening = hn::Set(d, T(1.0 - c.dampening));
  const bool l2 = c.weight_decay != 0.0;
  // d_p = grad.add(param, alpha=wd)
  auto direction = [&](T* const* at) {
    const auto pv = hn::LoadU(d, at[0]), gv = hn::LoadU(d, at[1]);
    return l2 ? hn::Add(gv, hn::Mul(pv, wd)) : gv;
  };
  if (!buf) {
    T* const arrays[2] = {p, const_cast<T*>(g)};
    for_vectors(d, n, arrays, [&](T* const* at) {
      hn::StoreU(hn::Add(hn::LoadU(d, at[0]), hn::Mul(neg_lr, direction(at))), d, at[0]);  // param.add_(d_p, alpha=-lr)
    });
    return;
  }
  T* const arrays[3] = {p, const_cast<T*>(g), buf};
  for_vectors(d, n, arrays, [&](T* const* at) {
    const auto dv = direction(at);
    // buf = clone(d_p) on the first step, then buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
    const auto bv = c.first ? dv : hn::Add(hn::Mul(hn::LoadU(d, at[2]), momentum), hn::Mul(dv, one_minus_dampening));
    const auto step = c.nesterov ? hn::Add(dv, hn::Mul(bv, momentum)) : bv;  // d_p.add(buf, alpha=momentum)
    hn::StoreU(bv, d, at[2]);
    hn::StoreU(hn::Add(hn::LoadU(d, at[0]), hn::Mul(neg_lr, step)), d, at[0]);
  });
}

template <typename T, bool kCentered, bool kMomentum>
void RmsPropImpl(size_t n, T* p, const T* g, T* sq, T* ga, T* buf, const RmsPropCoefficients& c) {
  const hn::ScalableTag<T> d;
  const auto neg_lr = hn::Set(d, T(-c.lr)), wd = hn::Set(d, T(c.weight_decay)), eps = hn::Set(d, T(c.eps));
  const auto alpha = hn::Set(d, T(c.alpha)), one_minus_alpha = hn::Set(d, T(1.0 - c.alpha));
  const auto momentum = hn::Set(d, T(c.momentum));
  const bool l2 = c.weight_decay != 0.0;
  // at: p, g, square_avg, then grad_avg and / or the momentum buffer when used.
  auto body = [&](T* const* at) {
    auto pv = hn::LoadU(d, at[0]);
    auto gv = hn::LoadU(d, at[1]);
    if (l2) gv = hn::Add(gv, hn::Mul(pv, wd));  // grad.add(param, alpha=wd)
    // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    const auto sv = hn::Add(hn::Mul(hn::LoadU(d, at[2]), alpha), hn::Mul(hn::Mul(gv, gv), one_minus_alpha));
    hn::StoreU(sv, d, at[2]);
    auto avg = sv;
    if constexpr (kCentered) {
      // grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha); avg = square_avg.addcmul(grad_avg, grad_avg, value=-1)
      const auto av = hn::Add(hn::Mul(hn::LoadU(d, at[3]), alpha), hn::Mul(gv, one_minus_alpha));
      hn::StoreU(av, d, at[3]);
      avg = hn::Sub(sv, hn::Mul(av, av));
    }
    avg = hn::Add(hn::Sqrt(avg), eps);  // .sqrt_().add_(eps)
    if constexpr (kMomentum) {
      T* b = at[3 + kCentered];
      const auto bv = hn::Add(hn::Mul(hn::LoadU(d, b), momentum), hn::Div(gv, avg));  // buf.mul_(m).addcdiv_(grad, avg)
      hn::StoreU(bv, d, b);
      pv = hn::Add(pv, hn::Mul(neg_lr, bv));  // param.add_(buf, alpha=-lr)
    } else {
      pv = hn::Add(pv, hn::Mul(neg_lr, hn::Div(gv, avg)));  // param.addcdiv_(grad, avg, value=-lr)
    }
    hn::StoreU(pv, d, at[0]);
  };
  T* const gw = const_cast<T*>(g);  // read only (for_vectors writes its tail buffer back unchanged)
  if constexpr (kCentered && kMomentum) {
    T* const arrays[5] = {p, gw, sq, ga, buf};
    for_vectors(d, n, arrays, body);
  } else if constexpr (kCentered) {
    T* const arrays[4] = {p, gw, sq, ga};
    for_vectors(d, n, arrays, body);
  } else if constexpr (kMomentum) {
    T* const arrays[4] = {p, gw, sq, buf};
    for_vectors(d, n, arrays, body);
  } else {
    T* const arrays[3] = {p, gw, sq};
    for_vectors(d, n, arrays, body);
  }
}

template <typename T>
void RmsPropDispatch(size_t n, T* p, const T* g, T* sq, T* ga, T* buf, const RmsPropCoefficients& c) {
  if (ga && buf) return RmsPropImpl<T, true, true>(n, p, g, sq, ga, buf, c);
  if (ga) return RmsPropImpl<T, true, false>(n, p, g, sq, ga, buf, c);
  if (buf) return RmsPropImpl<T, false, true>(n, p, g, sq, ga, buf, c);
  RmsPropImpl<T, false, false>(n, p, g, sq, ga, buf, c);
}

template <typename T>
void AdagradImpl(size_t n, T* p, const T* g, T* sum, const AdagradCoefficients& c) {
  const hn::ScalableTag<T> d;
  const auto neg_clr = hn::Set(d, T(-c.clr)), wd = hn::Set(d, T(c.weight_decay)), eps = hn::Set(d, T(c.eps));
  const bool l2 = c.weight_decay != 0.0;
  T* const arrays[3] = {p, const_cast<T*>(g), sum};
  for_vectors(d, n, arrays, [&](T* const* at) {
    auto pv = hn::LoadU(d, at[0]);
    auto gv = hn::LoadU(d, at[1]);
    if (l2) gv = hn::Add(gv, hn::Mul(pv, wd));                 // grad.add(param, alpha=wd)
    const auto sv = hn::Add(hn::LoadU(d, at[2]), hn::Mul(gv, gv));  // state_sum.addcmul_(grad, grad, value=1)
    hn::StoreU(sv, d, at[2]);
    const auto std_ = hn::Add(hn::Sqrt(sv), eps);                // state_sum.sqrt().add_(eps)
    hn::StoreU(hn::Add(pv, hn::Mul(neg_clr, hn::Div(gv, std_))), d, at[0]);  // param.addcdiv_(grad, std, value=-clr)
  });
}

// Plain functions per element type, which HWY_EXPORT can put in its dispatch tables.
#define RNNKIT_OPTIM_FOR(T, S)                                                                              \
  void Sgd##S(size_t n, T* p, const T* g, T* buf, const SgdCoefficients& c) { SgdImpl(n, p, g, buf, c); }  \
  void RmsProp##S(size_t n, T* p, const T* g, T* sq, T* ga, T* buf, const RmsPropCoefficients& c) {         \
    RmsPropDispatch(n, p, g, sq, ga, buf, c);                                                               \
  }                                                                                                         \
  void Adagrad##S(size_t n, T* p, const T* g, T* sum, const AdagradCoefficients& c) {                       \
    AdagradImpl(n, p, g, sum, c);                                                                           \
  }                                                                                                         \
  void Adam##S(size_t n, T* p, const T* g, T* m, T* v, const AdamCoefficients& c) { AdamImpl(n, p, g, m, v, c); }
RNNKIT_OPTIM_FOR(float, F)
RNNKIT_OPTIM_FOR(double, D)
#undef RNNKIT_OPTIM_FOR

double SumSquaresF(size_t n, const float* g) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // half-width float vectors, promoted to double
  const size_t N = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(df, g + i)), b = hn::PromoteTo(dd, hn::LoadU(df, g + i + N));
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += double(g[i]) * double(g[i]);
  return sum;
}

double SumSquaresD(size_t n, const double* g) {
  const hn::ScalableTag<double> d;
  const size_t N = hn::Lanes(d);
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::LoadU(d, g + i), b = hn::LoadU(d, g + i + N);
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += g[i] * g[i];
  return sum;
}

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit::optim_kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit::optim_kernels {

#define RNNKIT_OPTIM_EXPORT(S) \
  HWY_EXPORT(Sgd##S);          \
  HWY_EXPORT(RmsProp##S);      \
  HWY_EXPORT(Adagrad##S);      \
  HWY_EXPORT(Adam##S);         \
  HWY_EXPORT(SumSquares##S);
RNNKIT_OPTIM_EXPORT(F)
RNNKIT_OPTIM_EXPORT(D)
#undef RNNKIT_OPTIM_EXPORT

#define RNNKIT_OPTIM_DEFINE(T, S)                                                                          \
  template <>                                                                                              \
  void sgd<T>(size_t n, T* p, const T* g, T* buf, const SgdCoefficients& c) {                               \
    HWY_DYNAMIC_DISPATCH(Sgd##S)(n, p, g, buf, c);                                                         \
  }                                                                                                        \
  template <>                                                                                              \
  void rmsprop<T>(size_t n, T* p, const T* g, T* sq, T* ga, T* buf, const RmsPropCoefficients& c) {         \
    HWY_DYNAMIC_DISPATCH(RmsProp##S)(n, p, g, sq, ga, buf, c);                                             \
  }                                                                                                        \
  template <>                                                                                              \
  void adagrad<T>(size_t n, T* p, const T* g, T* sum, const AdagradCoefficients& c) {                      \
    HWY_DYNAMIC_DISPATCH(Adagrad##S)(n, p, g, sum, c);                                                     \
  }                                                                                                        \
  template <>                                                                                              \
  void adam<T>(size_t n, T* p, const T* g, T* m, T* v, const AdamCoefficients& c) {                         \
    HWY_DYNAMIC_DISPATCH(Adam##S)(n, p, g, m, v, c);                                                       \
  }                                                                                                        \
  template <>                                                                                              \
  double sum_squares<T>(size_t n, const T* g) {                                                            \
    return HWY_DYNAMIC_DISPATCH(SumSquares##S)(n, g);                                                      \
  }
RNNKIT_OPTIM_DEFINE(float, F)
RNNKIT_OPTIM_DEFINE(double, D)
#undef RNNKIT_OPTIM_DEFINE

}  // namespace rnnkit::optim_kernels
#endif  // HWY_ONCE
