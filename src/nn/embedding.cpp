// Embedding forward and backward.
#include "rnnkit/nn/embedding.h"

#include <algorithm>

#include "rnnkit/core/error.h"
#include "rnnkit/core/parallel.h"

namespace rnnkit {

template <typename Real>
Embedding<Real>::Embedding(const EmbeddingConfig& config, ParamStore<Real>& params,
                           const std::string& prefix)
    : config_(config) {
  require(config.num_embeddings > 0 && config.dim > 0,
          "embedding needs a positive vocabulary size and dimension, got " +
              std::to_string(config.num_embeddings) + " x " + std::to_string(config.dim));
  require(config.padding_idx >= -1 && config.padding_idx < config.num_embeddings,
          "embedding padding index " + std::to_string(config.padding_idx) + " is outside [0, " +
              std::to_string(config.num_embeddings) + ")");
  weight_ = params.add(prefix + ".weight", {config.num_embeddings, config.dim}, !config.frozen);
}

template <typename Real>
void Embedding<Real>::init(ParamStore<Real>& params, Rng& rng) const {
  Real* w = params.value(weight_);
  const int64_t n = int64_t(config_.num_embeddings) * config_.dim;
  for (int64_t i = 0; i < n; ++i) w[i] = static_cast<Real>(rng.normal());
  if (config_.padding_idx >= 0)
    std::fill_n(w + int64_t(config_.padding_idx) * config_.dim, config_.dim, Real(0));
}

template <typename Real>
void Embedding<Real>::forward(const ParamStore<Real>& params, const int32_t* ids, int N, Real* y) const {
  const Real* w = params.value(weight_);
  const int E = config_.dim;
  for (int n = 0; n < N; ++n) {
    const int32_t id = ids[n];
    require(id >= 0 && id < config_.num_embeddings, [&] {
      return "token id " + std::to_string(id) + " at position " + std::to_string(n) +
             " is outside the vocabulary [0, " + std::to_string(config_.num_embeddings) + ")";
    });
  }
  // The rows gathered on every thread (a batch of long texts gathers megabytes).
  parallel_slices(N, 1024, [&](int n0, int n1) {
    for (int n = n0; n < n1; ++n) std::copy_n(w + int64_t(ids[n]) * E, E, y + int64_t(n) * E);
  });
}

template <typename Real>
void Embedding<Real>::backward(ParamStore<Real>& params, const int32_t* ids, int N, const Real* dy) const {
  if (config_.frozen) return;
  Real* dw = params.grad(weight_);
  const int E = config_.dim;
  for (int n = 0; n < N; ++n) {
    if (ids[n] == config_.padding_idx) continue;
    Real* row = dw + int64_t(ids[n]) * E;
    const Real* g = dy + int64_t(n) * E;
    for (int e = 0; e < E; ++e) row[e] += g[e];
  }
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace rnnkit
