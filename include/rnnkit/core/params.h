// ParamStore: every parameter, its gradient and its name in contiguous buffers.
// Optimizers loop over the flat arrays; saving walks the named views in order.
#pragma once

#include <cstddef>
#include <cstdint>
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

  // The non-const accessors of the values re-stamp the store (see stamp()): write parameters through a
  // pointer taken after the last forward pass that must not see the write.
  Real* value(int i) { return touch(), values_.data() + infos_[i].offset; }
  const Real* value(int i) const { return values_.data() + infos_[i].offset; }
  Real* grad(int i) { return grads_.data() + infos_[i].offset; }
  const Real* grad(int i) const { return grads_.data() + infos_[i].offset; }

  std::vector<Real>& values() { return touch(), values_; }
  const std::vector<Real>& values() const { return values_; }
  std::vector<Real>& grads() { return grads_; }
  const std::vector<Real>& grads() const { return grads_; }

  void zero_grad();
  size_t size() const { return values_.size(); }
  size_t trainable_size() const;

  // Changes whenever the values may have: every non-const access to them takes a new stamp from a
  // process-wide counter, so two stores with the same stamp hold the same values (a copy keeps its
  // original's). An inference cache reuses the weights it packed while the stamp stays the same.
  uint64_t stamp() const { return stamp_; }

 private:
  void touch();

  uint64_t stamp_ = 0;
  std::vector<ParamInfo> infos_;
  std::vector<Real> values_;
  std::vector<Real> grads_;
};

}  // namespace rnnkit
