// Losses and row-wise softmax.
#include "rnnkit/nn/loss.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "rnnkit/core/error.h"
#include "src/nn/loss_kernels.h"

namespace rnnkit {

namespace {

// log(sum_c exp(row[c])), stable: exp of non-positive numbers only.
template <typename Real>
double log_sum_exp(const Real* row, int C) {
  const double mx = double(*std::max_element(row, row + C));
  double sum = 0;
  for (int c = 0; c < C; ++c) sum += std::exp(double(row[c]) - mx);
  return mx + std::log(sum);
}

}  // namespace

template <typename Real>
void softmax_rows(Real* x, int64_t N, int C) {
  for (int64_t n = 0; n < N; ++n) {
    Real* row = x + n * C;
    if constexpr (std::is_same_v<Real, float>) {  // vectorised, in place (as in cross_entropy)
      float mx;
      const double sum = loss_kernels::exp_shifted(row, C, row, &mx);
      loss_kernels::scale_row(row, C, static_cast<float>(1.0 / sum));
      continue;
    }
    const double lse = log_sum_exp(row, C);
    for (int c = 0; c < C; ++c) row[c] = static_cast<Real>(std::exp(double(row[c]) - lse));
  }
}

template <typename Real>
void log_softmax_rows(Real* x, int64_t N, int C) {
  for (int64_t n = 0; n < N; ++n) {
    Real* row = x + n * C;
    const double lse = log_sum_exp(row, C);
    for (int c = 0; c < C; ++c) row[c] = static_cast<Real>(row[c] - lse);
  }
}

namespace {

// The factor of the reduction over unmasked rows * O elements: 1 / count for Mean, 1 for Sum.
double element_scale(const uint8_t* row_mask, int64_t N, int O, Reduction reduction) {
  if (reduction == Reduction::Sum) return 1.0;
  int64_t rows = 0;
  for (int64_t n = 0; n < N; ++n) rows += (!row_mask || row_mask[n]) ? 1 : 0;
  return rows > 0 ? 1.0 / double(rows * O) : 0.0;
}

}  // namespace

template <typename Real>
double cross_entropy(const Real* logits, int64_t N, int C, const int32_t* targets, Reduction reduction,
                     Real* grad) {
  require(C > 0, "cross-entropy needs at least one class");
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    require(targets[n] < C, "cross-entropy target " + std::to_string(targets[n]) + " in row " +
                                std::to_string(n) + " is outside [0, " + std::to_string(C) + ")");
    ++count;
  }
  const double scale = reduction == Reduction::Mean ? (count > 0 ? 1.0 / double(count) : 0.0) : 1.0;
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const Real* row = logits + n * C;
    Real* g = grad ? grad + n * C : nullptr;
    if (targets[n] < 0) {
      if (g) std::fill_n(g, C, Real(0));
      continue;
    }
    if constexpr (std::is_same_v<Real, float>) {
      // float: the exponentials vectorised (Highway), each computed once: g = exp(x - max) / sum * scale.
      // A vocabulary-sized output takes its exponentials T*B*C times a step (the scalar double form
      // was a third of such a step).
      float mx;
      const double sum = loss_kernels::exp_shifted(row, C, g, &mx);
      total += double(mx) + std::log(sum) - double(row[targets[n]]);
      if (g) {
        loss_kernels::scale_row(g, C, static_cast<float>(scale / sum));
        g[targets[n]] -= static_cast<float>(scale);
      }
      continue;
    }
    const double lse = log_sum_exp(row, C);
    total += lse - double(row[targets[n]]);
    if (g) {  // d/dlogit = softmax - onehot
      for (int c = 0; c < C; ++c) g[c] = static_cast<Real>(std::exp(double(row[c]) - lse) * scale);
      g[targets[n]] -= static_cast<Real>(scale);
    }
  }
  return total * scale;
}

template <typename Real>
double binary_cross_entropy_with_logits(const Real* logits, const Real* targets, int64_t N, int O,
                                        const uint8_t* row_mask, Reduction reduction, Real* grad) {
  const double scale = element_scale(row_mask, N, O, reduction);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const bool on = !row_mask || row_mask[n];
    for (int o = 0; o < O; ++o) {
      const int64_t k = n * O + o;
      if (!on) {
        if (grad) grad[k] = Real(0);
        continue;
      }
      const double x = logits[k], y = targets[k];
      require(y >= 0.0 && y <= 1.0, "binary cross-entropy target " + std::to_string(y) + " at row " +
                                        std::to_string(n) + " is outside [0, 1]");
      // loss = max(x, 0) - x y + log(1 + exp(-|x|))   (PyTorch's stable form)
      total += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
      if (grad) {
        const double s = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
        grad[k] = static_cast<Real>((s - y) * scale);
      }
    }
  }
  return total * scale;
}

template <typename Real>
double mse(const Real* predictions, const Real* targets, int64_t N, int O, const uint8_t* row_mask,
           Reduction reduction, Real* grad) {
  const double scale = element_scale(row_mask, N, O, reduction);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const bool on = !row_mask || row_mask[n];
    for (int o = 0; o < O; ++o) {
      const int64_t k = n * O + o;
      const double d = on ? double(predictions[k]) - double(targets[k]) : 0.0;
      total += d * d;
      if (grad) grad[k] = static_cast<Real>(2.0 * d * scale);
    }
  }
  return total * scale;
}

#define RNNKIT_LOSS(Real)                                                                                 \
  template void softmax_rows<Real>(Real*, int64_t, int);                                                  \
  template void log_softmax_rows<Real>(Real*, int64_t, int);                                              \
  template double cross_entropy<Real>(const Real*, int64_t, int, const int32_t*, Reduction, Real*);      \
  template double binary_cross_entropy_with_logits<Real>(const Real*, const Real*, int64_t, int,          \
                                                         const uint8_t*, Reduction, Real*);              \
  template double mse<Real>(const Real*, const Real*, int64_t, int, const uint8_t*, Reduction, Real*);
RNNKIT_LOSS(float)
RNNKIT_LOSS(double)
#undef RNNKIT_LOSS

}  // namespace rnnkit
