// From token-id sequences and series to padded, masked, batched input: padding and truncation,
// length bucketing, seeded shuffling, sliding windows, and the time-major Batch the model reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rnnkit/core/rng.h"
#include "rnnkit/nn/model.h"

namespace rnnkit {

enum class Side { Front, Back };
const char* side_name(Side side);  // "front", "back"
Side parse_side(const std::string& name);

// Cuts a sequence to at most max_length items, dropping from the front or the back (Keras's
// `truncating`). 0: no limit.
template <typename T>
std::vector<T> truncate(const std::vector<T>& seq, int max_length, Side side) {
  if (max_length <= 0 || int(seq.size()) <= max_length) return seq;
  return side == Side::Back ? std::vector<T>(seq.begin(), seq.begin() + max_length)
                            : std::vector<T>(seq.end() - max_length, seq.end());
}
// The same in place on a sequence the caller gives up.
template <typename T>
std::vector<T> truncate(std::vector<T>&& seq, int max_length, Side side) {
  if (max_length <= 0 || int(seq.size()) <= max_length) return std::move(seq);
  if (side == Side::Back) seq.resize(size_t(max_length));
  else seq.erase(seq.begin(), seq.end() - max_length);
  return std::move(seq);
}

// Keras's pad_sequences, with the mask kept: (N, length) ids, batch-major, `pad_id` where mask is 0.
struct PaddedSequences {
  int rows = 0, length = 0;
  std::vector<int32_t> ids;   // (rows, length)
  std::vector<uint8_t> mask;  // (rows, length): 1 on real tokens
  std::vector<int> lengths;   // (rows) after truncation
};
// length 0: the longest sequence. padding: where the pad ids go; truncating: which end is cut.
PaddedSequences pad_sequences(const std::vector<std::vector<int32_t>>& seqs, int length, int32_t pad_id,
                              Side padding = Side::Back, Side truncating = Side::Back);

// Batches of indices into `lengths`: within each pool of `pool_batches` batches (after a seeded
// shuffle), sequences are sorted by length so a batch holds similar lengths; batches are then
// shuffled. pool_batches 1 gives plain shuffled batches. Every index appears exactly once.
std::vector<std::vector<size_t>> make_batches(const std::vector<int>& lengths, int batch_size, Rng& rng,
                                              bool shuffle = true, int pool_batches = 50);

// The batches of a pass over every example once (evaluation, prediction): up to batch_size indices
// each, sorted by length (stable, shortest first) so that a batch's sequences are alike and padded
// little. Callers put results back in the examples' order through the indices.
std::vector<std::vector<size_t>> length_sorted_batches(const std::vector<int>& lengths, int batch_size);

// Padding steps over real steps of a batching: (sum of B * T_max) / (sum of lengths) - 1.
double padding_overhead(const std::vector<int>& lengths, const std::vector<std::vector<size_t>>& batches);

// A time-major Batch from token sequences: valid steps first (the model masks by length, so the
// padding side does not matter to it), pad_id after. Sequences longer than max_length (> 0) are
// truncated at `truncating`. Labels: one per sequence (may be empty) or one per token (tags).
template <typename Real>
Batch<Real> token_batch(const std::vector<std::vector<int32_t>>& seqs, const std::vector<size_t>& indices,
                        int32_t pad_id, int max_length = 0, Side truncating = Side::Back,
                        const std::vector<int32_t>* labels = nullptr,
                        const std::vector<std::vector<int32_t>>* step_labels = nullptr);

// A time-major Batch of feature sequences, each (length, F) row-major.
template <typename Real>
Batch<Real> feature_batch(const std::vector<std::vector<Real>>& seqs, int features,
                          const std::vector<size_t>& indices, int max_length = 0, Side truncating = Side::Back);

// Sliding windows over a series of N rows: inputs rows [s, s+window) of `features` (N, F) and,
// for forecasting, targets rows [s+window, s+window+horizon) of `targets` (N, K), flattened
// (horizon*K). Windows start every `stride` rows and never read past the end.
template <typename Real>
struct Windows {
  int window = 0, features = 0, horizon = 0, targets = 0;
  std::vector<std::vector<Real>> inputs;   // each (window, F)
  std::vector<std::vector<Real>> outputs;  // each (horizon * K)
  std::vector<size_t> starts;
};
template <typename Real>
Windows<Real> forecast_windows(const std::vector<Real>& features, int F, const std::vector<Real>& targets, int K,
                               size_t N, int window, int horizon, int stride = 1);

// Windows for per-step tagging: inputs as above, outputs the window's own per-step labels.
struct TagWindows {
  std::vector<std::vector<float>> inputs;   // each (window, F)
  std::vector<std::vector<int32_t>> tags;   // each (window)
  std::vector<size_t> starts;
};
TagWindows tagging_windows(const std::vector<float>& features, int F, const std::vector<int32_t>& tags, size_t N,
                           int window, int stride);

}  // namespace rnnkit
