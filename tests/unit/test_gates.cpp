// The float activations of the gate kernels (src/nn/gates.cpp) against the exact functions: tanh and
// the logistic sigmoid through rational approximations, under every instruction set the CPU runs.
// gates.cpp states their accuracy (tanh within 2.6e-7 everywhere and the sigmoid within 1.5e-7 where
// the instruction set has fused multiply-adds, 3.1e-7 and 1.8e-7 where it has not) and that a NaN comes
// out as a NaN; these tests hold it to that.
#include <gtest/gtest.h>

#include <cmath>
#include <hwy/targets.h>
#include <limits>
#include <vector>

#include "src/nn/gates.h"

namespace rnnkit {
namespace {

// Every value of [-20, 20] in steps of 2^-10; tiny values; tanh's cut-offs (4e-4, below which tanh x
// is x; 7.9053, above which it is 1) and the sigmoid's (-15.8) with their float neighbours; values far
// out and the infinities. An odd count, not a multiple of any vector's lanes, so that the kernels' last
// chunk of a row (shorter than a vector) is checked too.
std::vector<float> sweep() {
  std::vector<float> x;
  for (int i = -20 * 1024; i <= 20 * 1024; ++i) x.push_back(float(i) / 1024.0f);
  for (float edge : {1e-30f, 1e-10f, 3.9e-4f, 4e-4f, 4.1e-4f, 7.9053f, 7.90531111f, 7.906f, 15.8f, 16.0f, 88.0f, 1e6f,
                     std::numeric_limits<float>::max()})
    for (float v : {edge, std::nextafter(edge, 0.0f), std::nextafter(edge, 2 * edge)}) {
      x.push_back(v);
      x.push_back(-v);
    }
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  if (x.size() % 2 == 0) x.push_back(0.0f);
  return x;
}

// The x86 and portable instruction sets without fused multiply-adds (Highway 1.0.3, Debian 12's, has
// no SSE2 target; later versions do).
constexpr int64_t kTargetsWithoutFma = HWY_SSE4 | HWY_SSSE3 | HWY_EMU128 | HWY_SCALAR
#ifdef HWY_SSE2
                                       | HWY_SSE2
#endif
    ;

long double exact_sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }

// The kernels' outputs for inputs x (one row of n = x.size() units), on the instruction set selected.
struct Outputs {
  std::vector<float> rnn_h;        // the RNN cell: h' = tanh(x), hp absent
  std::vector<float> act;          // the LSTM's gates from xp = (x, x, x, x): (sigmoid, sigmoid, tanh, sigmoid)
  std::vector<float> lstm_h;       // h' = o tanh(c'), c' = f 0 + i g
  float gate(int g, size_t i) const { return act[size_t(g) * rnn_h.size() + i]; }
};

Outputs run_gates(const std::vector<float>& x) {
  const int n = int(x.size());
  Outputs out;
  out.rnn_h.assign(x.size(), 0.0f);
  gates::rnn_forward<float>(1, n, false, x.data(), nullptr, out.rnn_h.data(), nullptr, 0);
  std::vector<float> xp;
  for (int g = 0; g < 4; ++g) xp.insert(xp.end(), x.begin(), x.end());
  const std::vector<float> c(x.size(), 0.0f);
  std::vector<float> c_next(x.size());
  out.act.assign(xp.size(), 0.0f);
  out.lstm_h.assign(x.size(), 0.0f);
  gates::lstm_forward<float>(1, n, xp.data(), nullptr, c.data(), out.lstm_h.data(), c_next.data(), out.act.data(),
                             nullptr, 0);
  return out;
}

// The largest distance from the exact function over the sweep, and the x where it is.
struct Worst {
  double error = 0;
  float at = 0;
  void see(float x, float got, long double want) {
    const double e = double(std::fabs((long double)got - want));
    if (!(e <= error)) error = e, at = x;  // (a NaN result counts as the worst)
  }
};

TEST(Gates, FloatTanhAndSigmoidWithinTheStatedErrorOnEveryInstructionSet) {
  const std::vector<float> x = sweep();
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    const Outputs out = run_gates(x);
    Worst rnn_tanh, lstm_tanh, sigmoid;
    for (size_t i = 0; i < x.size(); ++i) {
      const long double t = std::tanh((long double)x[i]), s = exact_sigmoid(x[i]);
      rnn_tanh.see(x[i], out.rnn_h[i], t);
      lstm_tanh.see(x[i], out.gate(2, i), t);
      for (int g : {0, 1, 3}) sigmoid.see(x[i], out.gate(g, i), s);
    }
    // The bounds gates.cpp states: with fused multiply-adds, and without them (each of the rational
    // approximations' Horner steps then rounds twice).
    const bool fma = (target & kTargetsWithoutFma) == 0;
    const double tanh_bound = fma ? 2.6e-7 : 3.1e-7, sigmoid_bound = fma ? 1.5e-7 : 1.8e-7;
    EXPECT_LE(rnn_tanh.error, tanh_bound) << "tanh (RNN) at x = " << rnn_tanh.at;
    EXPECT_LE(lstm_tanh.error, tanh_bound) << "tanh (LSTM g) at x = " << lstm_tanh.at;
    EXPECT_LE(sigmoid.error, sigmoid_bound) << "sigmoid at x = " << sigmoid.at;
    // Bounded and odd: |tanh| <= 1, 0 <= sigmoid <= 1, and tanh(-x) = -tanh(x) bit for bit.
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_LE(std::fabs(out.rnn_h[i]), 1.0f) << x[i];
      for (int g : {0, 1, 3}) ASSERT_TRUE(out.gate(g, i) >= 0.0f && out.gate(g, i) <= 1.0f) << x[i];
      if (i + 1 < x.size() && x[i + 1] == -x[i]) {
        ASSERT_EQ(out.rnn_h[i + 1], -out.rnn_h[i]) << x[i];
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Gates, FloatNanInNanOut) {
  // 17 values: a whole vector of 16 (AVX-512) and a last chunk of one, each holding a NaN.
  std::vector<float> x(17, 0.5f);
  x[3] = x[16] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    const Outputs out = run_gates(x);
    for (size_t i = 0; i < x.size(); ++i) {
      const bool nan = std::isnan(x[i]);
      EXPECT_EQ(std::isnan(out.rnn_h[i]), nan) << i;
      for (int g = 0; g < 4; ++g) EXPECT_EQ(std::isnan(out.gate(g, i)), nan) << g << " " << i;
      EXPECT_EQ(std::isnan(out.lstm_h[i]), nan) << i;
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace rnnkit
