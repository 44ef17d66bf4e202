// Losses: masking, ignored targets and bad targets (values are checked against PyTorch in parity).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rnnkit/core/error.h"
#include "rnnkit/core/rng.h"
#include "rnnkit/nn/loss.h"

namespace rnnkit {
namespace {

TEST(Loss, CrossEntropyIgnoresNegativeTargets) {
  const std::vector<double> logits = {1, 2, 3, 0, 0, 0};
  const std::vector<int32_t> targets = {2, -1};
  std::vector<double> grad(6);
  const double loss = cross_entropy(logits.data(), 2, 3, targets.data(), Reduction::Mean, grad.data());
  EXPECT_NEAR(loss, std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, 1e-12);
  for (int c = 3; c < 6; ++c) EXPECT_EQ(grad[c], 0.0);
  double row = 0;
  for (int c = 0; c < 3; ++c) row += grad[c];
  EXPECT_NEAR(row, 0.0, 1e-12);  // softmax - onehot sums to zero
  const std::vector<int32_t> none = {-1, -1};
  EXPECT_EQ(cross_entropy(logits.data(), 2, 3, none.data(), Reduction::Mean, grad.data()), 0.0);
}

TEST(Loss, CrossEntropyNamesAnOutOfRangeTarget) {
  const std::vector<float> logits(6, 0.0f);
  const std::vector<int32_t> targets = {0, 3};
  try {
    cross_entropy(logits.data(), 2, 3, targets.data(), Reduction::Mean, static_cast<float*>(nullptr));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 3 in row 1"), std::string::npos) << e.what();
  }
}

TEST(Loss, MaskedRowsCountForNothing) {
  const std::vector<double> pred = {1, 2, 100, 100}, target = {0, 0, 0, 0};
  const std::vector<uint8_t> mask = {1, 0};
  std::vector<double> grad(4);
  EXPECT_NEAR(mse(pred.data(), target.data(), 2, 2, mask.data(), Reduction::Mean, grad.data()), 2.5, 1e-12);
  EXPECT_EQ(grad[2], 0.0);
  EXPECT_NEAR(grad[1], 2.0, 1e-12);  // 2 * (2 - 0) / 2
  EXPECT_NEAR(mse(pred.data(), target.data(), 2, 2, mask.data(), Reduction::Sum, static_cast<double*>(nullptr)), 5.0, 1e-12);
  const std::vector<double> logits = {0, 50}, y = {1, 0.5};
  EXPECT_NEAR(binary_cross_entropy_with_logits(logits.data(), y.data(), 2, 1, mask.data(), Reduction::Mean,
                                               grad.data()),
              std::log(2.0), 1e-12);
  const std::vector<double> bad = {1.5, 0};
  EXPECT_THROW(binary_cross_entropy_with_logits(logits.data(), bad.data(), 2, 1, nullptr, Reduction::Mean,
                                                static_cast<double*>(nullptr)),
               Error);
}

TEST(Loss, SoftmaxIsStableForLargeLogits) {
  std::vector<float> x = {1000.0f, 1000.0f, -1000.0f};
  softmax_rows(x.data(), 1, 3);
  EXPECT_FLOAT_EQ(x[0], 0.5f);
  EXPECT_FLOAT_EQ(x[2], 0.0f);
}

// float cross-entropy and softmax run their exponentials vectorised (loss_kernels.cpp); they must
// agree with the double form to float precision for every row width (whole vectors and a partial last
// one), with ignored rows, large and -inf logits, and give NaN for a NaN logit.
TEST(Loss, FloatCrossEntropyAgreesWithDouble) {
  Rng rng(21);
  for (int C : {1, 3, 16, 17, 64, 100, 1000}) {
    const int N = 7;
    std::vector<float> xf(size_t(N) * C);
    for (float& x : xf) x = float(rng.uniform(-8, 8));
    xf[0] = 80.0f;                                                          // a large logit
    if (C > 2) xf[size_t(C) + 1] = -std::numeric_limits<float>::infinity();  // exp 0
    const std::vector<double> xd(xf.begin(), xf.end());
    std::vector<int32_t> targets(N);
    for (int n = 0; n < N; ++n) targets[size_t(n)] = int32_t(rng.next() % uint64_t(C));
    targets[3] = -1;
    if (C > 2) targets[1] = 0;  // (not the -inf one)
    std::vector<double> gd(xd.size());
    std::vector<float> gf(xf.size());
    const double ld = cross_entropy(xd.data(), N, C, targets.data(), Reduction::Mean, gd.data());
    const double lf = cross_entropy(xf.data(), N, C, targets.data(), Reduction::Mean, gf.data());
    EXPECT_NEAR(lf, ld, 1e-6 * std::max(1.0, std::abs(ld))) << "C " << C;
    for (size_t k = 0; k < gd.size(); ++k) EXPECT_NEAR(gf[k], gd[k], 2e-7) << "C " << C << " gradient " << k;
    for (int c = 0; c < C; ++c) EXPECT_EQ(gf[size_t(3) * C + c], 0.0f) << "an ignored row";
    EXPECT_DOUBLE_EQ(cross_entropy(xf.data(), N, C, targets.data(), Reduction::Mean, static_cast<float*>(nullptr)),
                     lf);
    std::vector<float> pf = xf;  // softmax_rows<float> runs the same kernel, in place
    std::vector<double> pd = xd;
    softmax_rows(pf.data(), N, C);
    softmax_rows(pd.data(), N, C);
    for (size_t k = 0; k < pd.size(); ++k) EXPECT_NEAR(pf[k], pd[k], 2e-7 * std::max(1.0, pd[k])) << "softmax " << k;
    xf[size_t(2) * C + size_t(C / 2)] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(cross_entropy(xf.data(), N, C, targets.data(), Reduction::Mean, gf.data())));
  }
}

}  // namespace
}  // namespace rnnkit
