// ParamStore implementation.
#include "rnnkit/core/params.h"

#include <algorithm>
#include <atomic>

#include "rnnkit/core/error.h"

namespace rnnkit {

template <typename Real>
int ParamStore<Real>::add(const std::string& name, const Shape& shape, bool trainable) {
  require(find(name) < 0, "parameter '" + name + "' is registered twice");
  ParamInfo p{name, shape, values_.size(), static_cast<size_t>(shape_numel(shape)), trainable};
  touch();
  values_.resize(values_.size() + p.size, Real(0));
  grads_.resize(values_.size(), Real(0));
  zeroed_.push_back(0);
  infos_.push_back(std::move(p));
  return count() - 1;
}

template <typename Real>
void ParamStore<Real>::touch() {
  static std::atomic<uint64_t> last{0};
  stamp_ = last.fetch_add(1, std::memory_order_relaxed) + 1;
}

template <typename Real>
int ParamStore<Real>::find(const std::string& name) const {
  for (int i = 0; i < count(); ++i)
    if (infos_[i].name == name) return i;
  return -1;
}

template <typename Real>
void ParamStore<Real>::settle(int i) const {
  if (!zeroed_[size_t(i)]) return;
  std::fill_n(grads_.data() + infos_[i].offset, infos_[i].size, Real(0));
  zeroed_[size_t(i)] = 0;
}

template <typename Real>
void ParamStore<Real>::settle_all() const {
  for (int i = 0; i < count(); ++i) settle(i);
}

template <typename Real>
size_t ParamStore<Real>::trainable_size() const {
  size_t n = 0;
  for (const auto& p : infos_)
    if (p.trainable) n += p.size;
  return n;
}

template class ParamStore<float>;
template class ParamStore<double>;

}  // namespace rnnkit
