// Losses over rows of logits or predictions, with PyTorch's "mean" and "sum" reductions.
//
// Each function returns the reduced loss and, when `grad` is not null, writes d(loss)/d(input) into it
// (overwriting). Masked rows (padded steps, ignored targets) give no loss and get a zero gradient.
// "mean" divides by the number of contributing elements, as PyTorch does:
//   cross_entropy: the number of rows whose target is not ignored (target < 0);
//   binary_cross_entropy_with_logits and mse: unmasked rows times the row width.
#pragma once

#include <cstdint>

namespace rnnkit {

enum class Reduction { Mean, Sum };

// logits (N, C), targets (N) in [0, C) or negative to ignore. Like F.cross_entropy(ignore_index=-100)
// with every negative target ignored. Returns 0 when every row is ignored (PyTorch returns NaN).
template <typename Real>
double cross_entropy(const Real* logits, int64_t N, int C, const int32_t* targets, Reduction reduction,
                     Real* grad);

// logits, targets (N, O), targets in [0, 1]; row_mask (N) with 0 for rows to skip, or null for all.
// Like F.binary_cross_entropy_with_logits.
template <typename Real>
double binary_cross_entropy_with_logits(const Real* logits, const Real* targets, int64_t N, int O,
                                        const uint8_t* row_mask, Reduction reduction, Real* grad);

// predictions, targets (N, O); row_mask as above. Like F.mse_loss.
template <typename Real>
double mse(const Real* predictions, const Real* targets, int64_t N, int O, const uint8_t* row_mask,
           Reduction reduction, Real* grad);

// In-place row-wise softmax (N, C) and its log, numerically stable.
template <typename Real>
void softmax_rows(Real* x, int64_t N, int C);
template <typename Real>
void log_softmax_rows(Real* x, int64_t N, int C);

}  // namespace rnnkit
