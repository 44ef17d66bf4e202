// Vocabulary, vectorizers, padding and bucketing, windows, scaling, splits and the text pipeline.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "rnnkit/rnnkit.h"
#include "rnnkit/data/preprocess.h"
#include "rnnkit/data/readers.h"
#include "rnnkit/data/scaler.h"
#include "rnnkit/data/split.h"
#include "rnnkit/data/vectorize.h"

namespace rnnkit {
namespace {

std::string fx(const std::string& name) { return std::string(RNNKIT_DATA_FIXTURES) + "/" + name; }

TEST(Vocabulary, MinCountMaxSizeAndSpecials) {
  Vocabulary v({.min_count = 2, .max_size = 5, .bos = true});
  v.count({"b", "a", "a", "c", "b", "d", "d", "e", "e", "e"});
  v.build();
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<pad>", "<unk>", "<s>", "e", "a"}));  // ties: a < b < d
  EXPECT_EQ(v.pad_id(), 0);
  EXPECT_EQ(v.unk_id(), 1);
  EXPECT_EQ(v.id("zzz"), 1);
  EXPECT_EQ(v.encode({"e", "c"}), (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(v.coverage(), 5.0 / 10.0, 1e-12);
  const Vocabulary back = Vocabulary::from_json(v.to_json(), "t");
  EXPECT_EQ(back.tokens(), v.tokens());
  EXPECT_EQ(back.bos_id(), 2);
  EXPECT_THROW(v.token(7), Error);
  EXPECT_THROW(Vocabulary::from_json(R"({"tokens": ["a", "a"]})", "t"), Error);
  EXPECT_THROW(Vocabulary::from_json(R"({"tokens": ["a"], "unk": 0})", "t"), Error);
  Vocabulary labels({.pad = false, .unk = false});
  labels.assign({"neg", "pos"});
  EXPECT_EQ(labels.id("pos"), 1);
  EXPECT_THROW(labels.id("neutral"), Error);
}

TEST(Vectorize, OneHotAndTfIdfMatchScikitLearn) {
  EXPECT_EQ(one_hot({2, 0}, 3), (std::vector<float>{0, 0, 1, 1, 0, 0}));
  EXPECT_THROW(one_hot({3}, 3), Error);
  // scikit-learn TfidfVectorizer() on ["a b b", "b c"]: idf(a) = ln(3/2)+1, idf(b) = 1, idf(c) = ln(3/2)+1.
  TfIdf t;
  t.fit({{0, 1, 1}, {1, 2}}, 3);
  EXPECT_NEAR(t.idf()[0], std::log(1.5) + 1, 1e-12);
  EXPECT_NEAR(t.idf()[1], 1.0, 1e-12);
  const std::vector<float> d = t.transform_dense({0, 1, 1});
  const double a = std::log(1.5) + 1, norm = std::sqrt(a * a + 4);
  EXPECT_NEAR(d[0], a / norm, 1e-6);
  EXPECT_NEAR(d[1], 2 / norm, 1e-6);
  EXPECT_EQ(d[2], 0.0f);
  EXPECT_EQ(t.step_weights({1, 0, 1}), (std::vector<float>{d[1], d[0], d[1]}));
  EXPECT_EQ(TfIdf::from_json(t.to_json(), "t").idf(), t.idf());
}

TEST(Vectorize, FastTextSkipgramVectorsInEveryFormat) {
  Vocabulary v;
  v.count({"the", "the", "whale", "The", "ishmael", "zyzzyva"});
  v.build();
  const std::vector<float> ref = load_word_vectors(fx("vectors.vec"), v, VectorFormat::Auto, 1);
  for (const char* file : {"vectors.vec", "vectors.bin", "vectors.glove.txt"}) {
    SCOPED_TRACE(file);
    VectorCoverage cov;
    const std::vector<float> m = load_word_vectors(fx(file), v, VectorFormat::Auto, 1, &cov);
    ASSERT_EQ(m.size(), size_t(v.size()) * 8);
    EXPECT_EQ(cov.dim, 8);
    EXPECT_EQ(cov.file_words, 100);
    for (int k = 0; k < 8; ++k) EXPECT_EQ(m[size_t(v.pad_id()) * 8 + k], 0.0f);
    const int the = v.id("the");
    EXPECT_NEAR(m[size_t(the) * 8], 0.037684f, 1e-6);  // first value of "the" in vectors.vec
    for (size_t i = 0; i < m.size(); ++i) EXPECT_NEAR(m[i], ref[i], 1e-6);
    EXPECT_EQ(cov.vocab_size, 5);
    EXPECT_EQ(cov.found, 2);  // "the", and "The" through "the"; the excerpt's vectors lack whale and ishmael
    EXPECT_EQ(cov.found_lowercase, 1);
    EXPECT_EQ(cov.token_count, 6);
    EXPECT_EQ(cov.token_found, 3);
    EXPECT_EQ(cov.missing_examples.size(), 3u);
    EXPECT_NE(cov.summary().find("of 5 vocabulary words"), std::string::npos);
  }
}

TEST(Vectorize, MalformedVectorFilesNameTheLine) {
  const auto dir = std::filesystem::temp_directory_path() / ("rnnkit_vec_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream((dir / name).string(), std::ios::binary) << body;
    return (dir / name).string();
  };
  Vocabulary v;
  v.count({"a"});
  v.build();
  try {
    load_word_vectors(write("short.vec", "2 3\na 1 2 3\nb 1 2\n"), v, VectorFormat::Auto, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short.vec:3: word 'b' has 2 values, expected 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_word_vectors(write("nan.vec", "1 2\na 1 x\n"), v, VectorFormat::Auto, 1), Error);
  EXPECT_THROW(load_word_vectors(write("count.vec", "3 2\na 1 2\n"), v, VectorFormat::Auto, 1), Error);
  EXPECT_THROW(load_word_vectors(write("cut.bin", std::string("2 4\na \x01\x02", 8)), v, VectorFormat::Word2VecBinary, 1),
               Error);
  std::filesystem::remove_all(dir);
}

TEST(Sequence, PadAndTruncateAtEitherEnd) {
  const std::vector<std::vector<int32_t>> seqs = {{1, 2, 3, 4}, {5}};
  const PaddedSequences back = pad_sequences(seqs, 3, 0, Side::Back, Side::Back);
  EXPECT_EQ(back.ids, (std::vector<int32_t>{1, 2, 3, 5, 0, 0}));
  EXPECT_EQ(back.mask, (std::vector<uint8_t>{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(back.lengths, (std::vector<int>{3, 1}));
  const PaddedSequences front = pad_sequences(seqs, 3, 0, Side::Front, Side::Front);
  EXPECT_EQ(front.ids, (std::vector<int32_t>{2, 3, 4, 0, 0, 5}));  // Keras's defaults
  EXPECT_EQ(front.mask, (std::vector<uint8_t>{1, 1, 1, 0, 0, 1}));
  EXPECT_EQ(pad_sequences(seqs, 0, 9).length, 4);
}

TEST(Sequence, TokenBatchIsTimeMajorWithTagsAndLengths) {
  const std::vector<std::vector<int32_t>> seqs = {{1, 2, 3}, {4}, {5, 6}};
  const std::vector<std::vector<int32_t>> tags = {{0, 1, 0}, {1}, {1, 1}};
  const Batch<float> b = token_batch<float>(seqs, {2, 0}, 0, 0, Side::Back, nullptr, &tags);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.B, 2);
  EXPECT_EQ(b.lengths, (std::vector<int>{2, 3}));
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{5, 1, 6, 2, 0, 3}));
  EXPECT_EQ(b.labels, (std::vector<int32_t>{1, 0, 1, 1, -1, 0}));
  const std::vector<int32_t> labels = {7, 8, 9};
  EXPECT_EQ(token_batch<float>(seqs, {1, 2}, 0, 1, Side::Back, &labels).labels, (std::vector<int32_t>{8, 9}));
  // cut to 2 steps at either end, the tags with their tokens
  const Batch<float> back = token_batch<float>(seqs, {0, 1}, 0, 2, Side::Back, nullptr, &tags);
  EXPECT_EQ(back.lengths, (std::vector<int>{2, 1}));
  EXPECT_EQ(back.tokens, (std::vector<int32_t>{1, 4, 2, 0}));
  EXPECT_EQ(back.labels, (std::vector<int32_t>{0, 1, 1, -1}));
  const Batch<float> front = token_batch<float>(seqs, {0, 1}, 0, 2, Side::Front, nullptr, &tags);
  EXPECT_EQ(front.tokens, (std::vector<int32_t>{2, 4, 3, 0}));
  EXPECT_EQ(front.labels, (std::vector<int32_t>{1, 1, 0, -1}));
}

TEST(Sequence, BucketingCoversEveryIndexOnceAndCutsPadding) {
  Rng rng(3);
  std::vector<int> lengths;
  for (int i = 0; i < 5000; ++i) lengths.push_back(1 + int(rng.next() % 500));
  Rng a(1), b(1);
  const auto plain = make_batches(lengths, 32, a, true, 1);
  const auto bucketed = make_batches(lengths, 32, b, true, 50);
  std::vector<int> seen(lengths.size(), 0);
  for (const auto& batch : bucketed)
    for (size_t i : batch) ++seen[i];
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  const double waste_plain = padding_overhead(lengths, plain), waste_bucketed = padding_overhead(lengths, bucketed);
  EXPECT_GT(waste_plain, 0.8);      // random batches of 1..500: E[max] ~ 485 against a mean of 250
  EXPECT_LT(waste_bucketed, 0.05);  // sorted pools waste little
  Rng c(1);
  EXPECT_EQ(make_batches(lengths, 32, c, true, 50), bucketed);  // seeded
}

TEST(Sequence, ForecastAndTaggingWindows) {
  std::vector<double> x = {0, 1, 2, 3, 4, 5}, y = {10, 11, 12, 13, 14, 15};
  const Windows<double> w = forecast_windows(x, 1, y, 1, 6, 3, 2, 1);
  ASSERT_EQ(w.inputs.size(), 2u);  // starts 0 and 1: no window reads past the end
  EXPECT_EQ(w.inputs[1], (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(w.outputs[1], (std::vector<double>{14, 15}));
  EXPECT_THROW(forecast_windows(x, 2, y, 1, 6, 3, 1, 1), Error);
  const TagWindows t = tagging_windows({0, 1, 2, 3, 4}, 1, {0, 0, 1, 0, 1}, 5, 2, 2);
  ASSERT_EQ(t.inputs.size(), 3u);
  EXPECT_EQ(t.tags[2], (std::vector<int32_t>{1}));
}

TEST(Scaler, FitsOnTrainingRowsOnly) {
  const std::vector<double> v = {1, 10, 3, 10, 100, 10};  // 3 rows, 2 columns; row 2 is "test"
  Scaler s(ScalerKind::Standard);
  s.fit(v, 2, {0, 1});
  EXPECT_EQ(s.shift(), (std::vector<double>{2, 10}));
  EXPECT_EQ(s.scale(), (std::vector<double>{1, 1}));  // constant column: scale 1
  std::vector<double> t = v;
  s.transform(t.data(), 3);
  EXPECT_EQ(t[4], 98.0);
  s.inverse(t.data(), 3);
  EXPECT_EQ(t, v);
  Scaler m(ScalerKind::MinMax);
  m.fit(v, 2, {0, 1, 2});
  EXPECT_EQ(m.scale()[0], 99.0);
  const Scaler back = Scaler::from_json(m.to_json(), "t");
  EXPECT_EQ(back.shift(), m.shift());
  EXPECT_THROW(Scaler::from_json(R"({"kind": "standard", "shift": [0], "scale": [0]})", "t"), Error);
}

TEST(Split, RandomStratifiedAndByTime) {
  const Split r = split_random(100, 0.1, 0.2, 7);
  EXPECT_EQ(r.train.size(), 70u);
  EXPECT_EQ(r.valid.size(), 10u);
  EXPECT_EQ(r.test.size(), 20u);
  EXPECT_EQ(split_random(100, 0.1, 0.2, 7).test, r.test);
  std::vector<std::string> labels(90, "ham");
  labels.resize(100, "spam");
  const Split s = split_stratified(labels, 0.0, 0.2, 1);
  int spam_test = 0;
  for (size_t i : s.test) spam_test += labels[i] == "spam";
  EXPECT_EQ(spam_test, 2);
  EXPECT_EQ(s.test.size(), 20u);
  const Split t = split_by_time(10, 0.2, 0.2);
  EXPECT_EQ(t.train, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(t.test, (std::vector<size_t>{8, 9}));
  EXPECT_THROW(split_random(10, 0.5, 0.5, 1), Error);
}

TEST(TextPreprocessor, TravelsInTheModelFileAndEncodesTheSame) {
  const TextDataset ds = read_fasttext(fx("train.ft"));
  std::vector<std::string> texts;
  for (const auto& e : ds.examples) texts.push_back(e.text);
  TextPreprocessor p({.max_length = 3});
  p.fit(texts);
  EXPECT_EQ(p.encode("I LOVED it!! xyz"), (std::vector<int32_t>{p.vocab().id("i"), p.vocab().id("loved"),
                                                                  p.vocab().id("it")}));
  ModelConfig c;
  c.vocab_size = p.vocab().size(), c.embedding_dim = 2, c.hidden_size = 2, c.output_size = 2;
  Model<float> model(c);
  const std::string path = (std::filesystem::temp_directory_path() / ("rnnkit_pre_" + std::to_string(::getpid()))).string();
  save_model(path, model, p.to_json());
  const TextPreprocessor q = TextPreprocessor::from_json(load_model<float>(path).preprocessing, path);
  std::filesystem::remove(path);
  for (const auto& t : texts) EXPECT_EQ(q.encode(t), p.encode(t));
  EXPECT_EQ(q.config().max_length, 3);
}

TEST(TextPreprocessor, FitReturnsTheTextsEncodedAndEncodeAllMatchesEncodeOnEveryThread) {
  const TextDataset ds = read_fasttext(fx("train.ft"));
  std::vector<std::string> texts;
  for (int copy = 0; copy < 20; ++copy)  // enough texts for every thread to take a slice
    for (const auto& e : ds.examples) texts.push_back(e.text + " " + std::to_string(copy));
  texts.push_back("");  // nothing to encode
  std::map<TokenizerKind, std::vector<std::string>> vocab_one_thread;
  for (int threads : {1, 3}) {
    set_threads(threads);
    for (const auto kind : {TokenizerKind::Words, TokenizerKind::Chars}) {
      TextPreprocessor p({.tokenizer = {.kind = kind}, .vocab = {.min_count = 2}, .max_length = 5});
      const std::vector<std::vector<int32_t>> fitted = p.fit(texts);
      // counted in slices, one per thread, and added up: the same vocabulary as counted in one pass
      if (threads == 1) vocab_one_thread[kind] = p.vocab().tokens();
      else EXPECT_EQ(p.vocab().tokens(), vocab_one_thread[kind]);
      ASSERT_EQ(fitted.size(), texts.size());
      const auto all = p.encode_all(texts.size(), [&](size_t i) { return std::string_view(texts[i]); });
      for (size_t i = 0; i < texts.size(); ++i) {
        const std::vector<int32_t> one = p.encode(texts[i]);
        EXPECT_EQ(fitted[i], one) << "text " << i;
        EXPECT_EQ(all[i], one) << "text " << i;
      }
      EXPECT_TRUE(fitted.back().empty());
      EXPECT_EQ(fitted[0].size(), 5u);  // truncated as encode truncates
    }
  }
  set_threads(1);
}

}  // namespace
}  // namespace rnnkit
