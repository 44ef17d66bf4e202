// Vectorised gate arithmetic (see gates.h). Highway compiles this file once per instruction set
// (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH picks the best one the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/nn/gates.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "src/nn/gates.h"

HWY_BEFORE_NAMESPACE();
namespace rnnkit::gates {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
using V = hn::Vec<D>;

// One chunk [i, i + n) of a row of H values, n <= Lanes(d). The last chunk of a row whose length is
// not a multiple of the vector goes through a zero-padded buffer, so the same instructions (and so
// the same rounding) apply to every element.
template <class D>
struct Chunk {
  D d;
  size_t i, n;
  using T = hn::TFromD<D>;
  HWY_INLINE V<D> load(const T* p) const {
    if (n == hn::Lanes(d)) return hn::LoadU(d, p + i);
    HWY_ALIGN T buf[hn::MaxLanes(D())] = {};
    for (size_t k = 0; k < n; ++k) buf[k] = p[i + k];
    return hn::Load(d, buf);
  }
  HWY_INLINE void store(V<D> v, T* p) const {
    if (n == hn::Lanes(d)) return hn::StoreU(v, d, p + i);
    HWY_ALIGN T buf[hn::MaxLanes(D())];
    hn::Store(v, d, buf);
    for (size_t k = 0; k < n; ++k) p[i + k] = buf[k];
  }
};

// Every chunk body's attributes: the target's instructions (HWY_ATTR), and inlined into the loop. GCC
// had kept the larger bodies as calls, one per chunk of 16 values, each loading its constants anew:
// the GRU's gate pass at B=32 H=128 took 5.2-5.5 us a step forward and 4.1-4.3 backward, 3.3-3.5 and
// 1.7-2.0 inlined; the LSTM's backward at B=64 H=256 21 against 8.4-11.7.
#define RNNKIT_CHUNK HWY_ATTR __attribute__((always_inline))

template <class D, class F>
HWY_INLINE void for_chunks(D d, size_t H, F&& body) {
  const size_t N = hn::Lanes(d);
  for (size_t i = 0; i < H; i += N) body(Chunk<D>{d, i, HWY_MIN(N, H - i)});
}

// NaN in, NaN out: Highway's Exp and Tanh leave NaN undefined, and a NaN must reach the loss check.
template <class Vec>
HWY_INLINE Vec keep_nan(Vec x, Vec y) {
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

// tanh in float: Eigen's rational approximation (a degree-13 odd polynomial over a degree-6 even one,
// x clamped to +-7.9053, where float tanh rounds to +-1), within 2.6e-7 of tanh everywhere (3 ulp
// near +-1; 2.53e-7 at worst, at x = -5.11), against 8.7e-8 for Highway's Tanh, at a third of its
// cost: one division and 12 FMAs instead of Expm1 and a division (2.3 against 6.4 ns a vector of 16 on
// a Zen 5 core). Without fused multiply-adds (SSE4, SSSE3, scalar: each Horner step rounds twice)
// within 3.1e-7 (3.01e-7 at x = -5.86). Below 4e-4 tanh x rounds to x. tests/unit/test_gates.cpp
// holds every instruction set to these bounds.
template <class D>
HWY_INLINE V<D> TanhRational(D d, V<D> x) {
  using T = hn::TFromD<D>;
  const V<D> clamp = hn::Set(d, T(7.90531110763549805f));
  const V<D> xc = hn::Min(hn::Max(x, hn::Neg(clamp)), clamp);
  const V<D> x2 = hn::Mul(xc, xc);
  V<D> p = hn::Set(d, T(-2.76076847742355e-16f));
  p = hn::MulAdd(x2, p, hn::Set(d, T(2.00018790482477e-13f)));
  p = hn::MulAdd(x2, p, hn::Set(d, T(-8.60467152213735e-11f)));
  p = hn::MulAdd(x2, p, hn::Set(d, T(5.12229709037114e-08f)));
  p = hn::MulAdd(x2, p, hn::Set(d, T(1.48572235717979e-05f)));
  p = hn::MulAdd(x2, p, hn::Set(d, T(6.37261928875436e-04f)));
  p = hn::MulAdd(x2, p, hn::Set(d, T(4.89352455891786e-03f)));
  V<D> q = hn::Set(d, T(1.19825839466702e-06f));
  q = hn::MulAdd(x2, q, hn::Set(d, T(1.18534705686654e-04f)));
  q = hn::MulAdd(x2, q, hn::Set(d, T(2.26843463243900e-03f)));
  q = hn::MulAdd(x2, q, hn::Set(d, T(4.89352518554385e-03f)));
  const V<D> t = hn::Div(hn::Mul(xc, p), q);
  return hn::IfThenElse(hn::Lt(hn::Abs(x), hn::Set(d, T(0.0004f))), x, t);
}

// float: sigmoid x = (1 + tanh(x / 2)) / 2 through the rational tanh (within 1.5e-7 of sigmoid, 1.44e-7
// at worst; 1.8e-7 without fused multiply-adds; below -15.8 it is 0, as float32 logistic rounds to
// below 1.4e-7 there). double: 1 / (1 + exp(-x))
// with Highway's Exp.
template <class D>
HWY_INLINE V<D> SigmoidV(D d, V<D> x) {
  using T = hn::TFromD<D>;
  if constexpr (sizeof(T) == 4) {
    const V<D> half = hn::Set(d, T(0.5));
    return keep_nan(x, hn::MulAdd(half, TanhRational(d, hn::Mul(half, x)), half));
  } else {
    // exp(-x) stays finite: x >= -700, where sigmoid is below 1e-304.
    const V<D> lo = hn::Set(d, T(-700.0));
    const V<D> one = hn::Set(d, T(1));
    const V<D> e = hn::Exp(d, hn::Neg(hn::IfThenElse(hn::Lt(x, lo), lo, x)));
    return keep_nan(x, hn::Div(one, hn::Add(one, e)));
  }
}

template <class D>
HWY_INLINE V<D> TanhV(D d, V<D> x) {
  if constexpr (sizeof(hn::TFromD<D>) == 4) return keep_nan(x, TanhRational(d, x));
  else return keep_nan(x, hn::Tanh(d, x));
}

// The forward kernels run over `rows` consecutive rows of one step: gate rows (xp, hp, act) G*H values
// apart, state rows (c, h, h_next, c_next, aux) H apart, output rows (y) ldy apart. hp may be null
// (the recurrent product and its bias already added into xp); act, aux and y may be null (inference
// keeps no activations; no output copy). act may be xp itself (written in place).
template <class D, typename T>
HWY_INLINE V<D> Pre(const Chunk<D>& k, const T* xp, const T* hp, size_t off) {
  return hp ? hn::Add(k.load(xp + off), k.load(hp + off)) : k.load(xp + off);
}

template <class D, typename T>
HWY_INLINE void RnnForward(D d, int rows, int H, bool relu, const T* xp, const T* hp, T* h_next, T* y, int64_t ldy) {
  for (int r = 0; r < rows; ++r) {
    const size_t g = size_t(r) * size_t(H);
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> a = Pre(k, xp + g, hp ? hp + g : nullptr, 0);
      // relu keeps a NaN: only a < 0 becomes 0.
      const V<D> h = relu ? hn::IfThenZeroElse(hn::Lt(a, hn::Zero(d)), a) : TanhV(d, a);
      k.store(h, h_next + g);
      if (y) k.store(h, y + int64_t(r) * ldy);
    });
  }
}

// The backward kernels run over `rows` consecutive sequences of one step, rows laid out as in the
// forward ones; dh is the state gradient from the step after (and through W_hh), dy (rows ldy apart,
// may be null) the gradient of this step's output, added to it here.
template <class D, typename T>
HWY_INLINE V<D> StateGrad(const Chunk<D>& k, const T* dh, const T* dy) {
  return dy ? hn::Add(k.load(dh), k.load(dy)) : k.load(dh);
}

template <class D, typename T>
HWY_INLINE void RnnBackward(D d, int rows, int H, bool relu, const T* h_next, const T* dh, const T* dy, int64_t ldy,
                            T* da) {
  for (int r = 0; r < rows; ++r) {
    const size_t s = size_t(r) * size_t(H);
    const T* dyr = dy ? dy + int64_t(r) * ldy : nullptr;
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> h = k.load(h_next + s), g = StateGrad(k, dh + s, dyr);
      k.store(relu ? hn::IfThenElseZero(hn::Gt(h, hn::Zero(d)), g)
                   : hn::Mul(g, hn::NegMulAdd(h, h, hn::Set(d, T(1)))),
              da + s);
    });
  }
}

template <class D, typename T>
HWY_INLINE void LstmForward(D d, int rows, int H, const T* xp, const T* hp, const T* c, T* h_next, T* c_next, T* act,
                            T* y, int64_t ldy) {
  const size_t G = 4 * size_t(H);
  for (int r = 0; r < rows; ++r) {
    const size_t g = size_t(r) * G, s = size_t(r) * size_t(H);
    const T* x = xp + g;
    const T* hrow = hp ? hp + g : nullptr;
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> i = SigmoidV(d, Pre(k, x, hrow, 0));
      const V<D> f = SigmoidV(d, Pre(k, x, hrow, size_t(H)));
      const V<D> gg = TanhV(d, Pre(k, x, hrow, 2 * size_t(H)));
      const V<D> o = SigmoidV(d, Pre(k, x, hrow, 3 * size_t(H)));
      const V<D> cn = hn::MulAdd(f, k.load(c + s), hn::Mul(i, gg));
      k.store(cn, c_next + s);
      const V<D> h = hn::Mul(o, TanhV(d, cn));
      k.store(h, h_next + s);
      if (y) k.store(h, y + int64_t(r) * ldy);
      if (act) {
        T* a = act + g;
        k.store(i, a), k.store(f, a + H), k.store(gg, a + 2 * H), k.store(o, a + 3 * H);
      }
    });
  }
}

// dc' += dh' o (1 - tanh^2 c');  do = dh' tanh c';  di = dc' g;  dg = dc' i;  df = dc' c;  dc = dc' f
// pre-activations: sigma' = s (1 - s), tanh' = 1 - t^2
template <class D, typename T>
HWY_INLINE void LstmBackward(D d, int rows, int H, const T* act, const T* c, const T* c_next, const T* dh, const T* dy,
                             int64_t ldy, T* dc, T* dg) {
  const V<D> one = hn::Set(d, T(1));
  const size_t G = 4 * size_t(H);
  for (int r = 0; r < rows; ++r) {
    const size_t g4 = size_t(r) * G, s = size_t(r) * size_t(H);
    const T* a = act + g4;
    T* out = dg + g4;
    const T* dyr = dy ? dy + int64_t(r) * ldy : nullptr;
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> i = k.load(a), f = k.load(a + H), g = k.load(a + 2 * H), o = k.load(a + 3 * H);
      const V<D> tc = TanhV(d, k.load(c_next + s));
      const V<D> dhv = StateGrad(k, dh + s, dyr);
      const V<D> dcj = hn::MulAdd(hn::Mul(dhv, o), hn::NegMulAdd(tc, tc, one), k.load(dc + s));
      k.store(hn::Mul(hn::Mul(dcj, g), hn::Mul(i, hn::Sub(one, i))), out);
      k.store(hn::Mul(hn::Mul(dcj, k.load(c + s)), hn::Mul(f, hn::Sub(one, f))), out + H);
      k.store(hn::Mul(hn::Mul(dcj, i), hn::NegMulAdd(g, g, one)), out + 2 * H);
      k.store(hn::Mul(hn::Mul(dhv, tc), hn::Mul(o, hn::Sub(one, o))), out + 3 * H);
      k.store(hn::Mul(dcj, f), dc + s);
    });
  }
}

template <class D, typename T>
HWY_INLINE void GruForward(D d, int rows, int H, const T* xp, const T* hp, bool rz_folded, const T* h, T* h_next,
                           T* act, T* aux, T* y, int64_t ldy) {
  const size_t G = 3 * size_t(H);
  for (int r = 0; r < rows; ++r) {
    const size_t g = size_t(r) * G, s = size_t(r) * size_t(H);
    const T *x = xp + g, *hr = hp + g;
    const T* hrz = rz_folded ? nullptr : hr;  // r and z: already summed into xp when folded
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> rg = SigmoidV(d, Pre(k, x, hrz, 0));
      const V<D> z = SigmoidV(d, Pre(k, x, hrz, size_t(H)));
      const V<D> hn_ = k.load(hr + 2 * H);
      const V<D> n = TanhV(d, hn::MulAdd(rg, hn_, k.load(x + 2 * H)));
      const V<D> hv = hn::MulAdd(z, hn::Sub(k.load(h + s), n), n);  // (1 - z) n + z h
      k.store(hv, h_next + s);
      if (y) k.store(hv, y + int64_t(r) * ldy);
      if (act) {
        T* a = act + g;
        k.store(rg, a), k.store(z, a + H), k.store(n, a + 2 * H);
      }
      if (aux) k.store(hn_, aux + s);
    });
  }
}

// dn = dh' (1 - z);  dz = dh' (h - n);  dh_direct = dh' z
// dn_pre = dn (1 - n^2);  dr = dn_pre * hn;  d(hn) = dn_pre * r   (hn = W_hn h + b_hn)
template <class D, typename T>
HWY_INLINE void GruBackward(D d, int rows, int H, const T* act, const T* aux, const T* h, const T* dh, const T* dy,
                            int64_t ldy, T* dgi, T* dgh, T* dh_direct) {
  const V<D> one = hn::Set(d, T(1));
  const size_t G = 3 * size_t(H);
  for (int r = 0; r < rows; ++r) {
    const size_t g3 = size_t(r) * G, s = size_t(r) * size_t(H);
    const T* a = act + g3;
    T *gi = dgi + g3, *gh = dgh + s;
    const T* dyr = dy ? dy + int64_t(r) * ldy : nullptr;
    for_chunks(d, H, [&](const Chunk<D>& k) RNNKIT_CHUNK {
      const V<D> rg = k.load(a), z = k.load(a + H), n = k.load(a + 2 * H), g = StateGrad(k, dh + s, dyr);
      const V<D> dn_pre = hn::Mul(hn::Mul(g, hn::Sub(one, z)), hn::NegMulAdd(n, n, one));
      const V<D> dz_pre = hn::Mul(hn::Mul(g, hn::Sub(k.load(h + s), n)), hn::Mul(z, hn::Sub(one, z)));
      const V<D> dr_pre = hn::Mul(hn::Mul(dn_pre, k.load(aux + s)), hn::Mul(rg, hn::Sub(one, rg)));
      k.store(dr_pre, gi), k.store(dz_pre, gi + H), k.store(dn_pre, gi + 2 * H);
      k.store(hn::Mul(dn_pre, rg), gh);
      k.store(hn::Mul(g, z), dh_direct + s);
    });
  }
}

// Plain functions per element type, which HWY_EXPORT can put in its dispatch tables.
#define RNNKIT_GATES_FOR(T, S)                                                                             \
  void RnnForward##S(int rows, int H, bool relu, const T* xp, const T* hp, T* h_next, T* y, int64_t ldy) {  \
    RnnForward(hn::ScalableTag<T>(), rows, H, relu, xp, hp, h_next, y, ldy);                               \
  }                                                                                                        \
  void RnnBackward##S(int rows, int H, bool relu, const T* h_next, const T* dh, const T* dy, int64_t ldy,   \
                      T* da) {                                                                             \
    RnnBackward(hn::ScalableTag<T>(), rows, H, relu, h_next, dh, dy, ldy, da);                             \
  }                                                                                                        \
  void LstmForward##S(int rows, int H, const T* xp, const T* hp, const T* c, T* h_next, T* c_next, T* act,  \
                      T* y, int64_t ldy) {                                                                 \
    LstmForward(hn::ScalableTag<T>(), rows, H, xp, hp, c, h_next, c_next, act, y, ldy);                    \
  }                                                                                                        \
  void LstmBackward##S(int rows, int H, const T* act, const T* c, const T* c_next, const T* dh, const T* dy, \
                       int64_t ldy, T* dc, T* dg) {                                                        \
    LstmBackward(hn::ScalableTag<T>(), rows, H, act, c, c_next, dh, dy, ldy, dc, dg);                      \
  }                                                                                                        \
  void GruForward##S(int rows, int H, const T* xp, const T* hp, bool rz_folded, const T* h, T* h_next,      \
                     T* act, T* aux, T* y, int64_t ldy) {                                                  \
    GruForward(hn::ScalableTag<T>(), rows, H, xp, hp, rz_folded, h, h_next, act, aux, y, ldy);             \
  }                                                                                                        \
  void GruBackward##S(int rows, int H, const T* act, const T* aux, const T* h, const T* dh, const T* dy,    \
                      int64_t ldy, T* dgi, T* dgh, T* dhd) {                                               \
    GruBackward(hn::ScalableTag<T>(), rows, H, act, aux, h, dh, dy, ldy, dgi, dgh, dhd);                   \
  }

RNNKIT_GATES_FOR(float, F)
RNNKIT_GATES_FOR(double, D)
#undef RNNKIT_GATES_FOR
#undef RNNKIT_CHUNK

}  // namespace HWY_NAMESPACE
}  // namespace rnnkit::gates
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rnnkit::gates {

#define RNNKIT_GATES_EXPORT(S)   \
  HWY_EXPORT(RnnForward##S);     \
  HWY_EXPORT(RnnBackward##S);    \
  HWY_EXPORT(LstmForward##S);    \
  HWY_EXPORT(LstmBackward##S);   \
  HWY_EXPORT(GruForward##S);     \
  HWY_EXPORT(GruBackward##S);
RNNKIT_GATES_EXPORT(F)
RNNKIT_GATES_EXPORT(D)
#undef RNNKIT_GATES_EXPORT

#define RNNKIT_GATES_DEFINE(T, S)                                                                                \
  template <>                                                                                                    \
  void rnn_forward<T>(int rows, int H, bool relu, const T* xp, const T* hp, T* h_next, T* y, int64_t ldy) {      \
    HWY_DYNAMIC_DISPATCH(RnnForward##S)(rows, H, relu, xp, hp, h_next, y, ldy);                                  \
  }                                                                                                              \
  template <>                                                                                                    \
  void rnn_backward<T>(int rows, int H, bool relu, const T* h_next, const T* dh, const T* dy, int64_t ldy,       \
                       T* da) {                                                                                  \
    HWY_DYNAMIC_DISPATCH(RnnBackward##S)(rows, H, relu, h_next, dh, dy, ldy, da);                                \
  }                                                                                                              \
  template <>                                                                                                    \
  void lstm_forward<T>(int rows, int H, const T* xp, const T* hp, const T* c, T* h_next, T* c_next, T* act, T* y, \
                       int64_t ldy) {                                                                            \
    HWY_DYNAMIC_DISPATCH(LstmForward##S)(rows, H, xp, hp, c, h_next, c_next, act, y, ldy);                       \
  }                                                                                                              \
  template <>                                                                                                    \
  void lstm_backward<T>(int rows, int H, const T* act, const T* c, const T* c_next, const T* dh, const T* dy,    \
                        int64_t ldy, T* dc, T* dg) {                                                             \
    HWY_DYNAMIC_DISPATCH(LstmBackward##S)(rows, H, act, c, c_next, dh, dy, ldy, dc, dg);                         \
  }                                                                                                              \
  template <>                                                                                                    \
  void gru_forward<T>(int rows, int H, const T* xp, const T* hp, bool rz_folded, const T* h, T* h_next, T* act,   \
                      T* aux, T* y, int64_t ldy) {                                                               \
    HWY_DYNAMIC_DISPATCH(GruForward##S)(rows, H, xp, hp, rz_folded, h, h_next, act, aux, y, ldy);                \
  }                                                                                                              \
  template <>                                                                                                    \
  void gru_backward<T>(int rows, int H, const T* act, const T* aux, const T* h, const T* dh, const T* dy,        \
                       int64_t ldy, T* dgi, T* dgh, T* dhd) {                                                    \
    HWY_DYNAMIC_DISPATCH(GruBackward##S)(rows, H, act, aux, h, dh, dy, ldy, dgi, dgh, dhd);                      \
  }
RNNKIT_GATES_DEFINE(float, F)
RNNKIT_GATES_DEFINE(double, D)
#undef RNNKIT_GATES_DEFINE

}  // namespace rnnkit::gates
#endif  // HWY_ONCE
