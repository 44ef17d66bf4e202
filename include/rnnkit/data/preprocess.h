// TextPreprocessor: the whole text path (bytes -> UTF-8 -> cleaned -> tokens -> ids) as one object
// that is fitted on training texts and stored in the model file, so prediction repeats exactly the
// steps training used.
#pragma once

#include <string>
#include <vector>

#include "rnnkit/core/parallel.h"
#include "rnnkit/data/sequence.h"
#include "rnnkit/data/text.h"
#include "rnnkit/data/tokenizer.h"
#include "rnnkit/data/vocab.h"

namespace rnnkit {

struct TextPreprocessorConfig {
  InvalidUtf8 invalid = InvalidUtf8::Latin1;
  CleanOptions clean;
  TokenizerConfig tokenizer;
  VocabConfig vocab;
  int max_length = 0;  // 0: no limit
  Side truncating = Side::Back;
};

class TextPreprocessor {
 public:
  explicit TextPreprocessor(const TextPreprocessorConfig& config = {});

  // Trains the tokenizer (SentencePiece) and builds the vocabulary from the training texts, and
  // returns them encoded as encode() would: each text is cleaned once. The texts are cleaned,
  // tokenized and counted on every thread (parallel_slices), each thread's counts then added up.
  std::vector<std::vector<int32_t>> fit(const std::vector<std::string>& texts);
  std::string clean(std::string_view raw) const;             // to_utf8 + clean_text
  std::vector<std::string> tokens(std::string_view raw) const;
  std::vector<int32_t> encode(std::string_view raw) const;    // truncated to max_length
  // encode() of n texts, text(i) the i-th (called from several threads at once), on every thread.
  std::vector<std::vector<int32_t>> encode_all(size_t n, FunctionRef<std::string_view(size_t)> text) const;

  const TextPreprocessorConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const Vocabulary& vocab() const { return vocab_; }
  Vocabulary& vocab() { return vocab_; }

  std::string to_json() const;
  static TextPreprocessor from_json(const std::string& json, const std::string& where);

 private:
  TextPreprocessorConfig config_;
  Tokenizer tokenizer_;
  Vocabulary vocab_;
};

}  // namespace rnnkit
