// The vectorised part of the float cross-entropy (loss.cpp), dispatched at run time like the gates
// (Highway). Internal to rnnkit_nn.
#pragma once

namespace rnnkit::loss_kernels {

// One row of C logits: e[c] = exp(row[c] - max) (e may be null: the sum only). Returns the sum of
// the e[c] (each vector's lanes in float, the vectors in double); *max gets the row's largest logit.
// A NaN logit, or an infinite largest one, makes the sum (and every e[c]) NaN, as the scalar form's.
double exp_shifted(const float* row, int C, float* e, float* max);

// e[c] *= s over a row of C values.
void scale_row(float* e, int C, float s);

}  // namespace rnnkit::loss_kernels
