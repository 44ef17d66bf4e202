// Test helpers: golden fixtures (safetensors written by tests/parity/gen/make_fixtures.py) and
// element-wise comparison with a tolerance per precision.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "rnnkit/io/safetensors.h"

namespace rnnkit::testing {

inline std::string fixture_path(const std::string& name) {
  return std::string(RNNKIT_FIXTURE_DIR) + "/" + name + ".safetensors";
}

inline const StoredTensor& tensor(const SafetensorsFile& f, const std::string& name) {
  const StoredTensor* t = f.find(name);
  if (!t) throw std::runtime_error("fixture lacks tensor '" + name + "'");
  return *t;
}

template <typename Real>
std::vector<Real> values(const SafetensorsFile& f, const std::string& name) {
  return tensor(f, name).to_vector<Real>();
}

inline std::vector<int> ints(const SafetensorsFile& f, const std::string& name) {
  const StoredTensor& t = tensor(f, name);
  if (t.dtype != DType::I32) throw std::runtime_error("fixture tensor '" + name + "' is not I32");
  std::vector<int> out(t.bytes.size() / 4);
  std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

// Tolerances: float32 agrees with PyTorch's float64 reference to 1e-5 relative (1e-6 absolute near
// zero); double to 1e-10 relative.
template <typename Real>
struct Tolerance;
template <>
struct Tolerance<float> {
  static constexpr double rtol = 1e-5, atol = 1e-6;
};
template <>
struct Tolerance<double> {
  static constexpr double rtol = 1e-10, atol = 1e-12;
};

template <typename A, typename B>
::testing::AssertionResult all_close(const std::vector<A>& got, const std::vector<B>& want, double rtol, double atol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    if (!(std::abs(g - w) <= atol + rtol * std::abs(w)))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w << " (diff "
                                           << std::abs(g - w) << ", allowed " << atol + rtol * std::abs(w) << ")";
  }
  return ::testing::AssertionSuccess();
}

template <typename Real, typename B>
::testing::AssertionResult close_to(const std::vector<Real>& got, const std::vector<B>& want) {
  return all_close(got, want, Tolerance<Real>::rtol, Tolerance<Real>::atol);
}

// A scalar computed in precision Real (returned as double) against a one-element reference.
template <typename Real>
::testing::AssertionResult close_scalar(double got, const std::vector<double>& want) {
  return all_close(std::vector<double>{got}, want, Tolerance<Real>::rtol, Tolerance<Real>::atol);
}

}  // namespace rnnkit::testing
