// Cleaning and tokenization: Unicode normalisation, HTML, punctuation policies, characters and
// SentencePiece subwords.
#include <gtest/gtest.h>

#include "rnnkit/core/error.h"
#include "rnnkit/data/text.h"
#include "rnnkit/data/tokenizer.h"

namespace rnnkit {
namespace {

using Tokens = std::vector<std::string>;

TEST(Text, CleaningFoldsCaseNormalisesAndCollapsesSpace) {
  CleanOptions o;
  EXPECT_EQ(clean_text("  The \xef\xac\x81nal  STRASSE\n\tcaf\xc3\xa9 ", o), "the final strasse caf\xc3\xa9");
  o.strip_accents = true;
  EXPECT_EQ(clean_text("Caf\xc3\xa9 na\xc3\xafve \xc3\x85ngstr\xc3\xb6m", o), "cafe naive angstrom");
  o = CleanOptions{.lowercase = false, .nfkc = false, .collapse_whitespace = false};
  EXPECT_EQ(clean_text("Keep  AS\nIS", o), "Keep  AS\nIS");
  EXPECT_EQ(clean_text("\xef\xbc\xa1\xef\xbc\xa2", {}), "ab");  // full-width letters under NFKC
}

TEST(Text, StripsHtmlAndDecodesEntities) {
  EXPECT_EQ(clean_text("<p>Fish &amp; chips&#33; <script>var x = 1;</script>caf&#xe9;<!-- c --></p>",
                       {.strip_html = true}),
            "fish & chips! caf\xc3\xa9");
  EXPECT_EQ(strip_html("a < b and c > d"), "a < b and c > d");
}

TEST(Text, InvalidBytesFollowThePolicy) {
  EXPECT_EQ(to_utf8("a\xe9\r\nb\rc", InvalidUtf8::Latin1), "a\xc3\xa9\nb\nc");
  EXPECT_EQ(to_utf8("\xc3\xa9", InvalidUtf8::Error), "\xc3\xa9");  // valid UTF-8 stays as it is
  EXPECT_EQ(to_utf8("\xc3", InvalidUtf8::Replace), "\xef\xbf\xbd");  // truncated sequence
  EXPECT_THROW(to_utf8("\xed\xa0\x80", InvalidUtf8::Error), Error);   // a UTF-16 surrogate
}

TEST(Tokenizer, WordsWithEachPunctuationPolicy) {
  const std::string s = "hello, world! it's 3.5\xe2\x82\xac \xe2\x80\x94 ok";
  EXPECT_EQ(Tokenizer({.punctuation = Punctuation::Split}).tokenize(s),
            (Tokens{"hello", ",", "world", "!", "it", "'", "s", "3", ".", "5", "\xe2\x82\xac", "\xe2\x80\x94", "ok"}));
  EXPECT_EQ(Tokenizer({.punctuation = Punctuation::Strip}).tokenize(s),
            (Tokens{"hello", "world", "it", "s", "3", "5", "ok"}));
  EXPECT_EQ(Tokenizer({.punctuation = Punctuation::Keep}).tokenize(s),
            (Tokens{"hello,", "world!", "it's", "3.5\xe2\x82\xac", "\xe2\x80\x94", "ok"}));
  EXPECT_EQ(Tokenizer().tokenize("\xe6\x9d\xb1\xe4\xba\xac\xe3\x80\x80tokyo"), (Tokens{"\xe6\x9d\xb1\xe4\xba\xac", "tokyo"}));
}

TEST(Tokenizer, CharactersAreCodePoints) {
  const Tokenizer t({.kind = TokenizerKind::Chars});
  EXPECT_EQ(t.tokenize("a\xc3\xa9 b"), (Tokens{"a", "\xc3\xa9", " ", "b"}));
  EXPECT_EQ(t.detokenize(t.tokenize("a\xc3\xa9 b")), "a\xc3\xa9 b");
  EXPECT_THROW(t.tokenize("\xff"), Error);
}

TEST(Tokenizer, SentencePieceTrainsEncodesAndRoundTripsThroughJson) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("the whale swam under the waves and the sailors watched the whales " + std::to_string(i % 7));
  Tokenizer t({.kind = TokenizerKind::SentencePiece, .subword_vocab_size = 60, .subword_model_type = "bpe"});
  EXPECT_THROW(t.tokenize("x"), Error);
  t.fit(texts);
  const Tokens pieces = t.tokenize("the whales swam");
  EXPECT_GE(pieces.size(), 2u);
  EXPECT_LE(pieces.size(), 8u);
  EXPECT_EQ(t.detokenize(pieces), "the whales swam");
  const Tokenizer back = Tokenizer::from_json(t.to_json(), "test");
  EXPECT_EQ(back.tokenize("the whales swam"), pieces);
  EXPECT_THROW(Tokenizer::from_json(R"({"kind": "sentencepiece"})", "test"), Error);
  EXPECT_THROW(Tokenizer::from_json(R"({"kind": "sentencepiece", "sentencepiece_model": "AAAA"})", "test"), Error);
}

TEST(Tokenizer, Base64RoundTripAndRejection) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s), "t"), s);
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_THROW(base64_decode("abc", "t"), Error);
  EXPECT_THROW(base64_decode("ab!d", "t"), Error);
  EXPECT_THROW(base64_decode("a===", "t"), Error);
}

}  // namespace
}  // namespace rnnkit
