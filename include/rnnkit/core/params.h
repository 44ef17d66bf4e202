// ParamStore: every parameter, its gradient and its name in contiguous buffers.
// Optimizers loop over the flat arrays; saving walks the named views in order.
#pragma once

#include <algorithm>
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
  // Gradients: zero_grad() only marks them zero (as PyTorch's set_to_none); the first access to one
  // clears its storage, so that every reader sees zeros. A producer that writes all of a gradient in
  // one product takes it through product_grad() instead, which needs no clearing.
  Real* grad(int i) { return settle(i), grads_.data() + infos_[i].offset; }
  const Real* grad(int i) const { return settle(i), grads_.data() + infos_[i].offset; }
  // Gradient i for a product that writes every element of it: `beta` is 0 while the gradient is
  // marked zero (the product overwrites it, unread and uncleared) and 1 once it holds a contribution
  // (the product adds onto it). Either way it holds a contribution afterwards.
  Real* product_grad(int i, Real& beta) {
    beta = zeroed_[size_t(i)] ? Real(0) : Real(1);
    zeroed_[size_t(i)] = 0;
    return grads_.data() + infos_[i].offset;
  }

  std::vector<Real>& values() { return touch(), values_; }
  const std::vector<Real>& values() const { return values_; }
  std::vector<Real>& grads() { return settle_all(), grads_; }
  const std::vector<Real>& grads() const { return settle_all(), grads_; }

  void zero_grad() { std::fill(zeroed_.begin(), zeroed_.end(), 1); }
  size_t size() const { return values_.size(); }
  size_t trainable_size() const;

  // Changes whenever the values may have: every non-const access to them takes a new stamp from a
  // process-wide counter, so two stores with the same stamp hold the same values (a copy keeps its
  // original's). An inference cache reuses the weights it packed while the stamp stays the same.
  uint64_t stamp() const { return stamp_; }

 private:
  void touch();
  // Clears the storage of gradient i (or of all) if it is marked zero. Const: the values a reader
  // sees do not change. Two threads may settle different gradients at once (one flag byte each).
  void settle(int i) const;
  void settle_all() const;

  uint64_t stamp_ = 0;
  std::vector<ParamInfo> infos_;
  std::vector<Real> values_;
  mutable std::vector<Real> grads_;
  mutable std::vector<uint8_t> zeroed_;  // per parameter: its gradient is zero, its storage not cleared
};

}  // namespace rnnkit
