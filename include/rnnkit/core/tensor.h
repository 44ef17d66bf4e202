// Tensor: a row-major buffer of Real with a shape. Used at API boundaries; kernels take raw pointers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rnnkit {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_string(const Shape& shape);  // "(2, 3, 4)"

template <typename Real>
struct Tensor {
  Shape shape;
  std::vector<Real> data;

  Tensor() = default;
  explicit Tensor(Shape s, Real fill = Real(0)) : shape(std::move(s)), data(shape_numel(shape), fill) {}

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  bool empty() const { return data.empty(); }
  Real* ptr() { return data.data(); }
  const Real* ptr() const { return data.data(); }
};

}  // namespace rnnkit
