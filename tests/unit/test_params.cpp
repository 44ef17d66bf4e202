// ParamStore: layout, lookup and duplicate names.
#include <gtest/gtest.h>

#include <algorithm>

#include "rnnkit/core/error.h"
#include "rnnkit/core/params.h"

namespace rnnkit {
namespace {

TEST(ParamStore, LaysOutParametersContiguouslyInOrder) {
  ParamStore<float> ps;
  const int a = ps.add("a.weight", {2, 3});
  const int b = ps.add("a.bias", {3}, false);
  EXPECT_EQ(ps.count(), 2);
  EXPECT_EQ(ps.info(a).offset, 0u);
  EXPECT_EQ(ps.info(b).offset, 6u);
  EXPECT_EQ(ps.size(), 9u);
  EXPECT_EQ(ps.trainable_size(), 6u);
  EXPECT_EQ(ps.find("a.bias"), b);
  EXPECT_EQ(ps.find("missing"), -1);
  ps.value(b)[2] = 5.0f;
  EXPECT_EQ(ps.values()[8], 5.0f);
  ps.grads()[1] = 1.0f;
  ps.zero_grad();
  EXPECT_EQ(ps.grads()[1], 0.0f);
}

// zero_grad() marks the gradients zero; readers see zeros, a product writing all of one gets beta 0
// (its storage left as it was) until it holds a contribution, then 1.
TEST(ParamStore, ZeroGradMarksAndProductGradOverwritesOnce) {
  ParamStore<float> ps;
  const int a = ps.add("a", {2}), b = ps.add("b", {3});
  std::fill(ps.grads().begin(), ps.grads().end(), 7.0f);
  float beta = -1;
  EXPECT_EQ(ps.product_grad(a, beta)[0], 7.0f);
  EXPECT_EQ(beta, 1.0f);  // not marked: add onto it
  ps.zero_grad();
  float* ga = ps.product_grad(a, beta);
  EXPECT_EQ(beta, 0.0f);
  EXPECT_EQ(ga[1], 7.0f);  // not cleared: the product overwrites it
  ga[0] = ga[1] = 1.0f;
  ps.product_grad(a, beta);
  EXPECT_EQ(beta, 1.0f);
  const ParamStore<float>& view = ps;
  EXPECT_EQ(view.grad(b)[2], 0.0f);  // read: cleared
  EXPECT_EQ(ps.grads(), (std::vector<float>{1, 1, 0, 0, 0}));
  ps.zero_grad();
  EXPECT_EQ(view.grads(), (std::vector<float>(5, 0.0f)));
}

TEST(ParamStore, RefusesDuplicateNames) {
  ParamStore<double> ps;
  ps.add("w", {1});
  EXPECT_THROW(ps.add("w", {2}), Error);
}

// The stamp changes with every non-const access to the values (the only way to write them) and with
// add(), never with a const one; a copy keeps its original's.
TEST(ParamStore, StampChangesWhereTheValuesMay) {
  ParamStore<float> ps;
  const int w = ps.add("w", {4});
  const uint64_t s0 = ps.stamp();
  EXPECT_NE(s0, 0u);
  const ParamStore<float>& view = ps;
  EXPECT_EQ(view.value(w)[0], 0.0f);
  EXPECT_EQ(view.values().size(), 4u);
  ps.grad(w)[0] = 1.0f;
  EXPECT_EQ(ps.stamp(), s0);
  ps.value(w)[0] = 2.0f;
  const uint64_t s1 = ps.stamp();
  EXPECT_NE(s1, s0);
  ps.values()[1] = 3.0f;
  EXPECT_NE(ps.stamp(), s1);
  const ParamStore<float> copy = ps;
  EXPECT_EQ(copy.stamp(), ps.stamp());
  ps.add("b", {1});
  EXPECT_NE(ps.stamp(), copy.stamp());
}

}  // namespace
}  // namespace rnnkit
