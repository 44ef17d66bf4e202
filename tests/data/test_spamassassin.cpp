// Reads and prepares the whole SpamAssassin corpus (../shared/data/spamassassin, one folder per
// class): counts per class as its README gives them, and the time it takes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "rnnkit/data/preprocess.h"
#include "rnnkit/data/readers.h"

namespace rnnkit {
namespace {

TEST(SpamAssassin, ReadsCleansTokenizesAndCountsEveryEmail) {
  const std::string root = std::string(RNNKIT_SHARED_DATA) + "/spamassassin";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << root << " not present";
  const auto t0 = std::chrono::steady_clock::now();
  const TextDataset ds = read_folders(root);
  const auto t1 = std::chrono::steady_clock::now();
  TextPreprocessor p({.clean = {.strip_html = true}, .vocab = {.min_count = 2, .max_size = 50000}});
  std::vector<std::string> texts;
  texts.reserve(ds.examples.size());
  for (const auto& e : ds.examples) texts.push_back(e.text);
  p.fit(texts);
  size_t tokens = 0;
  for (const auto& t : texts) tokens += p.encode(t).size();
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(ds.label_names(), (std::vector<std::string>{"ham", "spam"}));
  EXPECT_EQ(ds.label_counts(), (std::vector<size_t>{4150, 1896}));
  EXPECT_EQ(p.vocab().size(), 50000);
  const double read_s = std::chrono::duration<double>(t1 - t0).count(), prep_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("spamassassin: ham %zu, spam %zu; %zu tokens, vocabulary %d (coverage %.3f); read %.2f s, "
              "clean + tokenize + vocabulary + encode %.2f s\n",
              ds.label_counts()[0], ds.label_counts()[1], tokens, p.vocab().size(), p.vocab().coverage(), read_s, prep_s);
  RecordProperty("read_seconds", std::to_string(read_s));
  RecordProperty("prepare_seconds", std::to_string(prep_s));
}

}  // namespace
}  // namespace rnnkit
