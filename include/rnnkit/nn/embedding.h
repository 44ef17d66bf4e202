// Embedding: token ids -> rows of a (V, E) table, like torch.nn.Embedding.
#pragma once

#include <cstdint>
#include <string>

#include "rnnkit/core/params.h"
#include "rnnkit/core/rng.h"

namespace rnnkit {

struct EmbeddingConfig {
  int num_embeddings = 0;  // V
  int dim = 0;             // E
  int padding_idx = -1;    // this row is zero at init and gets no gradient; -1: none
  bool frozen = false;     // no gradient, no update (e.g. pretrained vectors)
};

template <typename Real>
class Embedding {
 public:
  // Registers "<prefix>.weight" (V, E).
  Embedding(const EmbeddingConfig& config, ParamStore<Real>& params, const std::string& prefix);

  // weight ~ N(0, 1), the padding row zero (PyTorch's default).
  void init(ParamStore<Real>& params, Rng& rng) const;

  // y (N, E) = weight[ids[n]]; every id must lie in [0, V).
  void forward(const ParamStore<Real>& params, const int32_t* ids, int N, Real* y) const;

  // dweight[ids[n]] += dy[n], except for the padding row; nothing when frozen.
  void backward(ParamStore<Real>& params, const int32_t* ids, int N, const Real* dy) const;

  const EmbeddingConfig& config() const { return config_; }
  int weight_index() const { return weight_; }

 private:
  EmbeddingConfig config_;
  int weight_ = -1;
};

}  // namespace rnnkit
