// Tokenizers: words (Unicode-aware, with a punctuation policy), characters (code points), and
// subword units through SentencePiece. A Tokenizer is fitted (SentencePiece trains; the others need
// nothing), applied, and stored in the model file's preprocessing JSON.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace rnnkit {

enum class TokenizerKind { Words, Chars, SentencePiece };
enum class Punctuation {
  Split,  // each punctuation character is a token of its own ("good!" -> "good", "!")
  Strip,  // punctuation is dropped
  Keep,   // punctuation stays inside words ("good!" stays one token)
};

const char* tokenizer_name(TokenizerKind kind);  // "words", "chars", "sentencepiece"
TokenizerKind parse_tokenizer(const std::string& name);
const char* punctuation_name(Punctuation p);  // "split", "strip", "keep"
Punctuation parse_punctuation(const std::string& name);

struct TokenizerConfig {
  TokenizerKind kind = TokenizerKind::Words;
  Punctuation punctuation = Punctuation::Split;  // Words only
  // SentencePiece training
  int subword_vocab_size = 8000;
  std::string subword_model_type = "unigram";  // unigram, bpe, char, word
  double character_coverage = 0.9995;
};

class Tokenizer {
 public:
  explicit Tokenizer(const TokenizerConfig& config = {});
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // SentencePiece: trains a model on the texts (in memory, seeded by SentencePiece's defaults).
  // Other kinds: nothing to learn.
  void fit(const std::vector<std::string>& texts);

  // Tokens of one cleaned UTF-8 text. Throws Error for SentencePiece before fit().
  std::vector<std::string> tokenize(std::string_view text) const;

  // Joins tokens back into text: words with spaces, characters directly, pieces by SentencePiece.
  std::string detokenize(const std::vector<std::string>& tokens) const;

  const TokenizerConfig& config() const { return config_; }
  bool fitted() const;

  // {"kind": ..., "punctuation": ..., "sentencepiece_model": base64 of the trained model proto}
  std::string to_json() const;
  static Tokenizer from_json(const std::string& json, const std::string& where);

 private:
  TokenizerConfig config_;
  std::string sp_model_;  // serialized SentencePiece ModelProto
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text, const std::string& where);  // throws on bad input

}  // namespace rnnkit
