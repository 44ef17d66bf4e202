// ParamStore: every parameter, its gradient and its name in contiguous buffers.
// Optimizers loop over the flat arrays; saving walks the named views in order.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rnnkit/core/tensor.h"

namespace rnnkit {

struct ParamInfo {
  std::string name;  // PyTorch state_dict name, e.g. "rnn.weight_ih_l0"
  Shape shape;
  size_t offset = 0;  // into values() / grads()
  size_t size = 0;
  bool trainable = true;  // frozen parameters get no gradient and no update
};

template <typename Real>
class ParamStore {
 public:
  // Adds a zero-filled parameter; returns its index. Pointers from value()/grad() are invalidated.
  int add(const std::string& name, const Shape& shape, bool trainable = true);

  int count() const { return static_cast<int>(infos_.size()); }
  const ParamInfo& info(int i) const { return infos_[i]; }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  int find(const std::string& name) const;  // -1 when absent

  Real* value(int i) { return values_.data() + infos_[i].offset; }
  const Real* value(int i) const { return values_.data() + infos_[i].offset; }
  Real* grad(int i) { return grads_.data() + infos_[i].offset; }
  const Real* grad(int i) const { return grads_.data() + infos_[i].offset; }

  std::vector<Real>& values() { return values_; }
  const std::vector<Real>& values() const { return values_; }
  std::vector<Real>& grads() { return grads_; }
  const std::vector<Real>& grads() const { return grads_; }

  void zero_grad();
  size_t size() const { return values_.size(); }
  size_t trainable_size() const;

 private:
  std::vector<ParamInfo> infos_;
  std::vector<Real> values_;
  std::vector<Real> grads_;
};

}  // namespace rnnkit
