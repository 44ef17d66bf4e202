// Vectorizers: one-hot rows, TF-IDF (document vectors and per-step weights), and pretrained word
// vectors (word2vec text and binary, GloVe text, fastText .vec) mapped onto a vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rnnkit/data/vocab.h"

namespace rnnkit {

// (N, V) rows with a 1 at each id (ids outside [0, V) throw Error).
std::vector<float> one_hot(const std::vector<int32_t>& ids, int V);

// TF-IDF as scikit-learn's TfidfVectorizer defaults: idf = ln((1 + n) / (1 + df)) + 1, raw counts
// (or 1 + ln(count) with sublinear_tf), rows L2-normalised.
class TfIdf {
 public:
  explicit TfIdf(bool sublinear_tf = false) : sublinear_(sublinear_tf) {}
  void fit(const std::vector<std::vector<int32_t>>& docs, int V);
  // Sparse document vector: sorted (id, weight) pairs.
  std::vector<std::pair<int32_t, float>> transform(const std::vector<int32_t>& doc) const;
  // Dense (V) document vector.
  std::vector<float> transform_dense(const std::vector<int32_t>& doc) const;
  // Per-step features: each token's tf-idf weight in its document, (T).
  std::vector<float> step_weights(const std::vector<int32_t>& doc) const;
  const std::vector<double>& idf() const { return idf_; }

  std::string to_json() const;
  static TfIdf from_json(const std::string& json, const std::string& where);

 private:
  bool sublinear_;
  std::vector<double> idf_;
};

enum class VectorFormat { Auto, Word2VecText, Word2VecBinary, GloveText };
const char* vector_format_name(VectorFormat f);  // "auto", "word2vec", "word2vec-binary", "glove"
VectorFormat parse_vector_format(const std::string& name);

struct VectorCoverage {
  int dim = 0;
  int64_t file_words = 0;       // words in the file
  int vocab_size = 0;           // tokens in the vocabulary, special tokens excluded
  int found = 0;                // vocabulary tokens with a vector (exact or lower-case match)
  int found_lowercase = 0;      // of which through their lower-case form
  int64_t token_count = 0;      // counted corpus tokens of the vocabulary (0 when counts are unknown)
  int64_t token_found = 0;      // of which have a vector
  std::vector<std::string> missing_examples;  // the most frequent tokens without a vector (up to 20)
  std::string summary() const;
};

// Reads vectors for the vocabulary's tokens into an embedding matrix (V, dim) row-major: found rows
// get their vector, the padding row stays zero, others are drawn from N(0, sd) where sd is the
// standard deviation of the found vectors (seeded). Auto detects the format: a binary header
// "count dim\n" followed by non-text bytes, a text header, or none (GloVe). Errors name file and line.
std::vector<float> load_word_vectors(const std::string& path, const Vocabulary& vocab, VectorFormat format,
                                     uint64_t seed, VectorCoverage* coverage = nullptr);

}  // namespace rnnkit
