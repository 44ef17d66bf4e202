// ParamStore: layout, lookup and duplicate names.
#include <gtest/gtest.h>

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
