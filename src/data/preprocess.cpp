// The text preprocessing pipeline and its JSON form.
#include "rnnkit/data/preprocess.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "rnnkit/core/error.h"

namespace rnnkit {

TextPreprocessor::TextPreprocessor(const TextPreprocessorConfig& config)
    : config_(config), tokenizer_(config.tokenizer), vocab_(config.vocab) {
  require(config.max_length >= 0, "max_length must be >= 0, got " + std::to_string(config.max_length));
}

std::string TextPreprocessor::clean(std::string_view raw) const {
  return clean_text(to_utf8(raw, config_.invalid), config_.clean);
}

std::vector<std::string> TextPreprocessor::tokens(std::string_view raw) const { return tokenizer_.tokenize(clean(raw)); }

std::vector<std::vector<int32_t>> TextPreprocessor::fit(const std::vector<std::string>& texts) {
  require(texts.size() <= size_t(std::numeric_limits<int>::max()), "too many texts: " + std::to_string(texts.size()));
  const int n = int(texts.size());
  std::vector<std::string> cleaned(static_cast<size_t>(n));
  parallel_for(size_t(n), [&](size_t i) { cleaned[i] = clean(texts[i]); });
  tokenizer_.fit(cleaned);  // SentencePiece trains here; the tokens below are the fitted tokenizer's
  // Each slice of texts counts its tokens apart, and the counts are added up. The tokens are not
  // kept (as strings they take eight times the room of the ids): they are made again to encode.
  const size_t slices = size_t(parallel_slice_count(n, 1));  // one a thread
  std::vector<Vocabulary> counts(slices, Vocabulary(config_.vocab));
  parallel_for(slices, [&](size_t s) {
    for (size_t i = size_t(n) * s / slices; i < size_t(n) * (s + 1) / slices; ++i)
      counts[s].count(tokenizer_.tokenize(cleaned[i]));
  });
  vocab_ = Vocabulary(config_.vocab);
  for (const Vocabulary& c : counts) vocab_.add_counts(c);
  vocab_.build();
  std::vector<std::vector<int32_t>> ids(static_cast<size_t>(n));
  parallel_for(size_t(n), [&](size_t i) {
    ids[i] = vocab_.encode(
        truncate(tokenizer_.tokenize(std::exchange(cleaned[i], {})), config_.max_length, config_.truncating));
  });
  return ids;
}

std::vector<int32_t> TextPreprocessor::encode(std::string_view raw) const {
  // Cut before the lookup (a token is one id): the tokens past max_length are not looked up.
  return vocab_.encode(truncate(tokens(raw), config_.max_length, config_.truncating));
}

std::vector<std::vector<int32_t>> TextPreprocessor::encode_all(size_t n,
                                                               FunctionRef<std::string_view(size_t)> text) const {
  std::vector<std::vector<int32_t>> ids(n);
  parallel_for(n, [&](size_t i) { ids[i] = encode(text(i)); });
  return ids;
}

std::string TextPreprocessor::to_json() const {
  const CleanOptions& c = config_.clean;
  nlohmann::json j = {
      {"invalid_utf8", invalid_utf8_name(config_.invalid)},
      {"clean",
       {{"lowercase", c.lowercase}, {"nfkc", c.nfkc}, {"strip_accents", c.strip_accents}, {"strip_html", c.strip_html},
        {"collapse_whitespace", c.collapse_whitespace}}},
      {"tokenizer", nlohmann::json::parse(tokenizer_.to_json())},
      {"vocab", nlohmann::json::parse(vocab_.to_json())},
      {"max_length", config_.max_length},
      {"truncating", side_name(config_.truncating)},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TextPreprocessor TextPreprocessor::from_json(const std::string& text, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object(), where + ": text preprocessing is not a JSON object");
  for (const char* key : {"clean", "tokenizer", "vocab"})
    require(j.contains(key) && j[key].is_object(), where + ": text preprocessing lacks the object \"" + key + "\"");
  TextPreprocessorConfig c;
  c.invalid = parse_invalid_utf8(j.value("invalid_utf8", "latin1"));
  const auto& cl = j["clean"];
  auto flag = [&](const char* key, bool fallback) {
    if (!cl.contains(key)) return fallback;
    require(cl[key].is_boolean(), where + ": clean." + key + " must be true or false");
    return cl[key].get<bool>();
  };
  c.clean.lowercase = flag("lowercase", true);
  c.clean.nfkc = flag("nfkc", true);
  c.clean.strip_accents = flag("strip_accents", false);
  c.clean.strip_html = flag("strip_html", false);
  c.clean.collapse_whitespace = flag("collapse_whitespace", true);
  require(!j.contains("max_length") || j["max_length"].is_number_integer(), where + ": max_length must be an integer");
  c.max_length = j.value("max_length", 0);
  c.truncating = parse_side(j.value("truncating", "back"));
  TextPreprocessor p(c);
  p.tokenizer_ = Tokenizer::from_json(j["tokenizer"].dump(), where);
  p.config_.tokenizer = p.tokenizer_.config();
  p.vocab_ = Vocabulary::from_json(j["vocab"].dump(), where);
  return p;
}

}  // namespace rnnkit
