// Padding, bucketing, batches and windows.
#include "rnnkit/data/sequence.h"

#include <algorithm>
#include <numeric>

#include "rnnkit/core/error.h"

namespace rnnkit {

const char* side_name(Side side) { return side == Side::Front ? "front" : "back"; }

Side parse_side(const std::string& name) {
  if (name == "front" || name == "pre") return Side::Front;
  if (name == "back" || name == "post") return Side::Back;
  throw Error("unknown side '" + name + "': expected front (pre) or back (post)");
}

PaddedSequences pad_sequences(const std::vector<std::vector<int32_t>>& seqs, int length, int32_t pad_id, Side padding,
                              Side truncating) {
  require(length >= 0, "padding length must be >= 0, got " + std::to_string(length));
  PaddedSequences p;
  p.rows = int(seqs.size());
  if (length == 0)
    for (const auto& s : seqs) length = std::max(length, int(s.size()));
  p.length = length;
  p.ids.assign(size_t(p.rows) * length, pad_id);
  p.mask.assign(p.ids.size(), 0);
  for (int r = 0; r < p.rows; ++r) {
    const std::vector<int32_t> s = truncate(seqs[size_t(r)], length, truncating);
    const int n = int(s.size());
    const int offset = padding == Side::Front ? length - n : 0;
    for (int t = 0; t < n; ++t) {
      p.ids[size_t(r) * length + offset + t] = s[size_t(t)];
      p.mask[size_t(r) * length + offset + t] = 1;
    }
    p.lengths.push_back(n);
  }
  return p;
}

std::vector<std::vector<size_t>> make_batches(const std::vector<int>& lengths, int batch_size, Rng& rng, bool shuffle,
                                              int pool_batches) {
  require(batch_size >= 1, "batch size must be >= 1, got " + std::to_string(batch_size));
  require(pool_batches >= 1, "bucketing pool must be >= 1 batch");
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t(0));
  if (shuffle) std::shuffle(order.begin(), order.end(), rng.engine());
  const size_t pool = size_t(batch_size) * size_t(pool_batches);
  std::vector<std::vector<size_t>> batches;
  for (size_t start = 0; start < order.size(); start += pool) {
    const size_t end = std::min(order.size(), start + pool);
    if (pool_batches > 1)
      std::stable_sort(order.begin() + start, order.begin() + end,
                       [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
    for (size_t b = start; b < end; b += size_t(batch_size))
      batches.emplace_back(order.begin() + b, order.begin() + std::min(end, b + size_t(batch_size)));
  }
  if (shuffle) std::shuffle(batches.begin(), batches.end(), rng.engine());
  return batches;
}

std::vector<std::vector<size_t>> length_sorted_batches(const std::vector<int>& lengths, int batch_size) {
  require(batch_size >= 1, "batch size must be >= 1, got " + std::to_string(batch_size));
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  for (size_t b = 0; b < order.size(); b += size_t(batch_size))
    batches.emplace_back(order.begin() + std::ptrdiff_t(b),
                         order.begin() + std::ptrdiff_t(std::min(order.size(), b + size_t(batch_size))));
  return batches;
}

double padding_overhead(const std::vector<int>& lengths, const std::vector<std::vector<size_t>>& batches) {
  double padded = 0, real = 0;
  for (const auto& b : batches) {
    int longest = 0;
    for (size_t i : b) {
      longest = std::max(longest, lengths[i]);
      real += lengths[i];
    }
    padded += double(longest) * double(b.size());
  }
  return real > 0 ? padded / real - 1.0 : 0.0;
}

template <typename Real>
Batch<Real> token_batch(const std::vector<std::vector<int32_t>>& seqs, const std::vector<size_t>& indices,
                        int32_t pad_id, int max_length, Side truncating, const std::vector<int32_t>* labels,
                        const std::vector<std::vector<int32_t>>* step_labels) {
  Batch<Real> batch;
  batch.B = int(indices.size());
  // Each sequence's kept tokens, as truncate() keeps them: [first, first + length), read in place.
  std::vector<size_t> first(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    require(indices[k] < seqs.size(), "batch index " + std::to_string(indices[k]) + " is outside the data");
    const size_t n = seqs[indices[k]].size();
    const size_t len = max_length > 0 ? std::min(n, size_t(max_length)) : n;
    first[k] = truncating == Side::Front ? n - len : 0;
    batch.T = std::max(batch.T, int(len));
    batch.lengths.push_back(int(len));
    if (step_labels)
      require((*step_labels)[indices[k]].size() == n, "sequence " + std::to_string(indices[k]) + " has " +
                                                          std::to_string(n) + " tokens but " +
                                                          std::to_string((*step_labels)[indices[k]].size()) + " tags");
  }
  const size_t TB = size_t(batch.T) * batch.B, B = size_t(batch.B);
  batch.tokens.assign(TB, pad_id);
  for (size_t b = 0; b < B; ++b) {
    const int32_t* s = seqs[indices[b]].data() + first[b];
    for (size_t t = 0; t < size_t(batch.lengths[b]); ++t) batch.tokens[t * B + b] = s[t];
  }
  if (labels)
    for (size_t i : indices) batch.labels.push_back((*labels)[i]);
  if (step_labels) {
    batch.labels.assign(TB, -1);
    for (size_t b = 0; b < B; ++b) {
      const int32_t* s = (*step_labels)[indices[b]].data() + first[b];
      for (size_t t = 0; t < size_t(batch.lengths[b]); ++t) batch.labels[t * B + b] = s[t];
    }
  }
  return batch;
}

template <typename Real>
Batch<Real> feature_batch(const std::vector<std::vector<Real>>& seqs, int F, const std::vector<size_t>& indices,
                          int max_length, Side truncating) {
  require(F >= 1, "feature batches need at least one feature");
  Batch<Real> batch;
  batch.B = int(indices.size());
  std::vector<int> starts;
  for (size_t i : indices) {
    require(i < seqs.size() && seqs[i].size() % size_t(F) == 0,
            "feature sequence " + std::to_string(i) + " is not a whole number of rows of " + std::to_string(F));
    const int n = int(seqs[i].size() / size_t(F));
    const int len = max_length > 0 ? std::min(n, max_length) : n;
    starts.push_back(truncating == Side::Front ? n - len : 0);
    batch.lengths.push_back(len);
    batch.T = std::max(batch.T, len);
  }
  batch.features.assign(size_t(batch.T) * batch.B * F, Real(0));
  for (int b = 0; b < batch.B; ++b) {
    const auto& s = seqs[indices[size_t(b)]];
    for (int t = 0; t < batch.lengths[size_t(b)]; ++t)
      std::copy_n(s.begin() + (size_t(starts[size_t(b)]) + size_t(t)) * F, F,
                  batch.features.begin() + (size_t(t) * batch.B + size_t(b)) * F);
  }
  return batch;
}

template <typename Real>
Windows<Real> forecast_windows(const std::vector<Real>& features, int F, const std::vector<Real>& targets, int K,
                               size_t N, int window, int horizon, int stride) {
  require(window >= 1 && horizon >= 0 && stride >= 1,
          "windows need window >= 1, horizon >= 0 and stride >= 1, got " + std::to_string(window) + ", " +
              std::to_string(horizon) + ", " + std::to_string(stride));
  require(features.size() == N * size_t(F), "features hold " + std::to_string(features.size()) + " values, expected " +
                                               std::to_string(N * size_t(F)));
  require(horizon == 0 || targets.size() == N * size_t(K), "targets hold " + std::to_string(targets.size()) +
                                                               " values, expected " + std::to_string(N * size_t(K)));
  Windows<Real> w;
  w.window = window, w.features = F, w.horizon = horizon, w.targets = K;
  for (size_t s = 0; s + size_t(window) + size_t(horizon) <= N; s += size_t(stride)) {
    w.inputs.emplace_back(features.begin() + s * F, features.begin() + (s + window) * F);
    if (horizon > 0)
      w.outputs.emplace_back(targets.begin() + (s + window) * K, targets.begin() + (s + window + horizon) * K);
    w.starts.push_back(s);
  }
  return w;
}

TagWindows tagging_windows(const std::vector<float>& features, int F, const std::vector<int32_t>& tags, size_t N,
                           int window, int stride) {
  require(window >= 1 && stride >= 1, "tagging windows need window >= 1 and stride >= 1");
  require(features.size() == N * size_t(F) && tags.size() == N, "tagging windows: features and tags must cover N rows");
  TagWindows w;
  for (size_t s = 0; s < N; s += size_t(stride)) {
    const size_t end = std::min(N, s + size_t(window));
    w.inputs.emplace_back(features.begin() + s * F, features.begin() + end * F);
    w.tags.emplace_back(tags.begin() + s, tags.begin() + end);
    w.starts.push_back(s);
    if (end == N) break;
  }
  return w;
}

template Batch<float> token_batch<float>(const std::vector<std::vector<int32_t>>&, const std::vector<size_t>&, int32_t,
                                         int, Side, const std::vector<int32_t>*,
                                         const std::vector<std::vector<int32_t>>*);
template Batch<double> token_batch<double>(const std::vector<std::vector<int32_t>>&, const std::vector<size_t>&,
                                           int32_t, int, Side, const std::vector<int32_t>*,
                                           const std::vector<std::vector<int32_t>>*);
template Batch<float> feature_batch<float>(const std::vector<std::vector<float>>&, int, const std::vector<size_t>&, int,
                                           Side);
template Batch<double> feature_batch<double>(const std::vector<std::vector<double>>&, int, const std::vector<size_t>&,
                                             int, Side);
template Windows<float> forecast_windows<float>(const std::vector<float>&, int, const std::vector<float>&, int, size_t,
                                                int, int, int);
template Windows<double> forecast_windows<double>(const std::vector<double>&, int, const std::vector<double>&, int,
                                                  size_t, int, int, int);

}  // namespace rnnkit
