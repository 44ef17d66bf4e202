// Losses: masking, ignored targets and bad targets (values are checked against PyTorch in parity).
#include <gtest/gtest.h>

#include <cmath>

#include "rnnkit/core/error.h"
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

}  // namespace
}  // namespace rnnkit
