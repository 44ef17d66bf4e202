// Word, character and SentencePiece tokenizers.
#include "rnnkit/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <utf8proc.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "rnnkit/core/error.h"

namespace rnnkit {

const char* tokenizer_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::Words: return "words";
    case TokenizerKind::Chars: return "chars";
    case TokenizerKind::SentencePiece: return "sentencepiece";
  }
  return "?";
}

TokenizerKind parse_tokenizer(const std::string& name) {
  for (TokenizerKind k : {TokenizerKind::Words, TokenizerKind::Chars, TokenizerKind::SentencePiece})
    if (name == tokenizer_name(k)) return k;
  throw Error("unknown tokenizer '" + name + "': expected words, chars or sentencepiece");
}

const char* punctuation_name(Punctuation p) {
  switch (p) {
    case Punctuation::Split: return "split";
    case Punctuation::Strip: return "strip";
    case Punctuation::Keep: return "keep";
  }
  return "?";
}

Punctuation parse_punctuation(const std::string& name) {
  for (Punctuation p : {Punctuation::Split, Punctuation::Strip, Punctuation::Keep})
    if (name == punctuation_name(p)) return p;
  throw Error("unknown punctuation policy '" + name + "': expected split, strip or keep");
}

Tokenizer::Tokenizer(const TokenizerConfig& config) : config_(config) {
  require(config.kind != TokenizerKind::SentencePiece || config.subword_vocab_size >= 8,
          "sentencepiece vocabulary size must be at least 8, got " + std::to_string(config.subword_vocab_size));
}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

bool Tokenizer::fitted() const { return config_.kind != TokenizerKind::SentencePiece || sp_ != nullptr; }

namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& v) : v_(v) {}
  bool done() const override { return i_ >= v_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return v_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& v_;
  size_t i_ = 0;
};

enum class CharClass { Space, Punct, Other };

CharClass classify(utf8proc_int32_t cp) {
  if (cp < 0x80) {  // ASCII: letters and digits are word characters, the rest punctuation or space
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cp == '\r') return CharClass::Space;
    const bool alnum = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return alnum || cp < 0x20 || cp == 0x7f ? CharClass::Other : CharClass::Punct;
  }
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: return CharClass::Space;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO: return CharClass::Punct;
    default: return CharClass::Other;
  }
}

}  // namespace

void Tokenizer::fit(const std::vector<std::string>& texts) {
  if (config_.kind != TokenizerKind::SentencePiece) return;
  require(!texts.empty(), "cannot train a sentencepiece model on no text");
  VectorIterator it(texts);
  const std::unordered_map<std::string, std::string> args = {
      {"vocab_size", std::to_string(config_.subword_vocab_size)},
      {"model_type", config_.subword_model_type},
      {"character_coverage", std::to_string(config_.character_coverage)},
      {"hard_vocab_limit", "false"},  // small corpora: as many pieces as there are, up to vocab_size
      {"minloglevel", "2"},
      {"num_threads", "1"},
      {"input_sentence_size", "1000000"},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", "1000000"},
  };
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
  require(status.ok(), std::string("sentencepiece training failed: ") + status.ToString());
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto load = sp->LoadFromSerializedProto(model);
  require(load.ok(), std::string("sentencepiece model does not load: ") + load.ToString());
  sp_model_ = std::move(model);
  sp_ = std::move(sp);
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> tokens;
  if (config_.kind == TokenizerKind::SentencePiece) {
    require(sp_ != nullptr, "the sentencepiece tokenizer must be fitted (trained) before use");
    const auto status = sp_->Encode(text, &tokens);
    require(status.ok(), std::string("sentencepiece encoding failed: ") + status.ToString());
    return tokens;
  }
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t word = 0;  // a word is the bytes [word, i) before a break: made a token once, when it ends
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = p[i];
    utf8proc_ssize_t len = 1;
    if (cp >= 0x80) {  // ASCII needs no decoding
      len = utf8proc_iterate(p + i, utf8proc_ssize_t(text.size() - i), &cp);
      require(len > 0, "tokenizer input is not valid UTF-8 at byte " + std::to_string(i) +
                           " (clean it with to_utf8 first)");
    }
    const size_t at = i;
    i += size_t(len);
    if (config_.kind == TokenizerKind::Chars) {
      tokens.emplace_back(text.substr(at, size_t(len)));
      continue;
    }
    const CharClass cls = classify(cp);
    if (cls == CharClass::Space || (cls == CharClass::Punct && config_.punctuation != Punctuation::Keep)) {
      if (at > word) tokens.emplace_back(text.substr(word, at - word));
      if (cls == CharClass::Punct && config_.punctuation == Punctuation::Split)
        tokens.emplace_back(text.substr(at, size_t(len)));
      word = i;
    }
  }
  if (config_.kind == TokenizerKind::Words && text.size() > word) tokens.emplace_back(text.substr(word));
  return tokens;
}

std::string Tokenizer::detokenize(const std::vector<std::string>& tokens) const {
  if (config_.kind == TokenizerKind::SentencePiece) {
    require(sp_ != nullptr, "the sentencepiece tokenizer must be fitted before use");
    std::string out;
    const auto status = sp_->Decode(tokens, &out);
    require(status.ok(), std::string("sentencepiece decoding failed: ") + status.ToString());
    return out;
  }
  std::string out;
  for (const std::string& t : tokens) {
    if (config_.kind == TokenizerKind::Words && !out.empty()) out.push_back(' ');
    out += t;
  }
  return out;
}

std::string Tokenizer::to_json() const {
  nlohmann::json j = {{"kind", tokenizer_name(config_.kind)}};
  if (config_.kind == TokenizerKind::Words) j["punctuation"] = punctuation_name(config_.punctuation);
  if (config_.kind == TokenizerKind::SentencePiece) {
    j["subword_vocab_size"] = config_.subword_vocab_size;
    j["subword_model_type"] = config_.subword_model_type;
    if (sp_) j["sentencepiece_model"] = base64_encode(sp_model_);
  }
  return j.dump();
}

Tokenizer Tokenizer::from_json(const std::string& text, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object(), where + ": tokenizer is not a JSON object");
  auto str = [&](const char* key, const std::string& fallback) {
    if (!j.contains(key)) return fallback;
    require(j[key].is_string(), where + ": tokenizer field \"" + key + "\" must be a string");
    return j[key].get<std::string>();
  };
  TokenizerConfig c;
  c.kind = parse_tokenizer(str("kind", "words"));
  c.punctuation = parse_punctuation(str("punctuation", "split"));
  c.subword_model_type = str("subword_model_type", c.subword_model_type);
  if (j.contains("subword_vocab_size")) {
    require(j["subword_vocab_size"].is_number_integer(), where + ": tokenizer subword_vocab_size must be an integer");
    c.subword_vocab_size = j["subword_vocab_size"].get<int>();
  }
  Tokenizer t(c);
  if (c.kind == TokenizerKind::SentencePiece) {
    require(j.contains("sentencepiece_model"), where + ": tokenizer lacks its trained sentencepiece_model");
    std::string model = base64_decode(str("sentencepiece_model", ""), where + ": sentencepiece_model");
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto load = sp->LoadFromSerializedProto(model);
    require(load.ok(), where + ": sentencepiece_model does not load: " + load.ToString());
    t.sp_model_ = std::move(model);
    t.sp_ = std::move(sp);
  }
  return t;
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

std::string base64_decode(std::string_view in, const std::string& where) {
  require(in.size() % 4 == 0, where + ": base64 length " + std::to_string(in.size()) + " is not a multiple of 4");
  auto value = [&](char c, size_t pos) -> uint32_t {
    const char* p = std::strchr(kB64, c);
    require(c != '\0' && p != nullptr, where + ": invalid base64 character at " + std::to_string(pos));
    return uint32_t(p - kB64);
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=') : 0;
    require(pad == 0 || (pad == 1 && in[i + 2] != '=') || pad == 2, where + ": malformed base64 padding");
    uint32_t v = value(in[i], i) << 18 | value(in[i + 1], i + 1) << 12;
    if (pad < 2) v |= value(in[i + 2], i + 2) << 6;
    if (pad < 1) v |= value(in[i + 3], i + 3);
    out.push_back(char(v >> 16));
    if (pad < 2) out.push_back(char((v >> 8) & 255));
    if (pad < 1) out.push_back(char(v & 255));
  }
  return out;
}

}  // namespace rnnkit
