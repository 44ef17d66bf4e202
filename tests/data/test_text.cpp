// Cleaning and tokenization: Unicode normalisation, HTML, punctuation policies, characters and
// SentencePiece subwords.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <random>

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

// clean_text maps only the non-ASCII stretches through utf8proc: it must give what one utf8proc_map of
// the whole text gives, for random mixes of ASCII and the characters normalisation joins, splits,
// reorders or folds.
TEST(Text, CleaningPiecewiseEqualsNormalisingTheWholeText) {
  const std::vector<std::string> pieces = {
      "a", "e", "E", "Z", "k", "i", "I", " ", ".", "0", "\n", "\x01",
      "\xcc\x81",          // U+0301 combining acute
      "\xcc\xa3",          // U+0323 combining dot below (reorders before U+0301)
      "\xcc\x88",          // U+0308 combining diaeresis
      "\xc3\xa9",          // U+00E9 e acute, precomposed
      "\xc3\x89",          // U+00C9 E acute
      "\xc4\xb0",          // U+0130 I with dot above: folds to i + U+0307
      "\xc3\x9f",          // U+00DF sharp s: folds to ss
      "\xe2\x84\xaa",     // U+212A Kelvin sign: K
      "\xef\xac\x81",     // U+FB01 fi ligature
      "\xef\xbc\xa1",     // U+FF21 full-width A
      "\xce\xa3",          // U+03A3 capital sigma
      "\xe1\x84\x80",     // U+1100 Hangul choseong kiyeok
      "\xe1\x85\xa1",     // U+1161 Hangul jungseong a (composes with U+1100)
      "\xe1\x86\xa8",     // U+11A8 Hangul jongseong kiyeok
      "\xe0\xad\x87",     // U+0B47 Oriya vowel sign e
      "\xe0\xac\xbe",     // U+0B3E Oriya vowel sign aa (composes with U+0B47)
      "\xc2\xa0",          // U+00A0 no-break space: a space under NFKC
      "\xe2\x80\xa8",     // U+2028 line separator
  };
  std::mt19937 rng(7);
  for (const CleanOptions o : {CleanOptions{}, CleanOptions{.strip_accents = true}, CleanOptions{.lowercase = false},
                               CleanOptions{.nfkc = false}, CleanOptions{.lowercase = false, .nfkc = false,
                                                                         .strip_accents = true}}) {
    int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (o.nfkc) flags |= UTF8PROC_COMPAT;
    if (o.lowercase) flags |= UTF8PROC_CASEFOLD;
    if (o.strip_accents) flags |= UTF8PROC_STRIPMARK;
    const CleanOptions no_collapse = [&] {
      CleanOptions c = o;
      c.collapse_whitespace = false;
      return c;
    }();
    for (int trial = 0; trial < 2000; ++trial) {
      std::string text;
      const int n = int(rng() % 12);
      for (int k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
      utf8proc_uint8_t* whole = nullptr;
      const utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                                utf8proc_ssize_t(text.size()), &whole, utf8proc_option_t(flags));
      ASSERT_GE(len, 0) << text;
      const std::string want(reinterpret_cast<const char*>(whole), size_t(len));
      std::free(whole);
      ASSERT_EQ(clean_text(text, no_collapse), want) << "text: " << text;
    }
  }
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
