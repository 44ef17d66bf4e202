// Data preparation end to end on a text-classification folder (one sub-folder per class):
// read, split (stratified, seeded), fit the text pipeline on the training part, encode, bucket into
// batches, and report counts, vocabulary coverage, padding and timings.
//
// Usage: rnnkit_prepare_text [DIR] [MAX_LENGTH]   (default ../shared/data/spamassassin, 400)
#include <chrono>
#include <cstdio>

#include "rnnkit/data/preprocess.h"
#include "rnnkit/data/readers.h"
#include "rnnkit/data/split.h"
#include "rnnkit/rnnkit.h"

using namespace rnnkit;

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : "../shared/data/spamassassin";
  const int max_length = argc > 2 ? std::stoi(argv[2]) : 400;
  const auto t0 = std::chrono::steady_clock::now();
  const TextDataset ds = read_folders(dir);
  const std::vector<std::string> names = ds.label_names();
  std::vector<std::string> labels;
  for (const auto& e : ds.examples) labels.push_back(e.labels[0]);
  const Split split = split_stratified(labels, 0.1, 0.2, /*seed=*/1);

  TextPreprocessor pre({.clean = {.strip_html = true}, .vocab = {.min_count = 2, .max_size = 50000},
                        .max_length = max_length});
  std::vector<std::string> train_texts;
  for (size_t i : split.train) train_texts.push_back(ds.examples[i].text);
  pre.fit(train_texts);  // the vocabulary sees the training part only

  // Every text through the fitted pipeline, on every thread (rnnkit::set_threads).
  const std::vector<std::vector<int32_t>> encoded =
      pre.encode_all(ds.examples.size(), [&](size_t i) { return std::string_view(ds.examples[i].text); });
  std::vector<int32_t> label_ids;
  Vocabulary label_vocab({.pad = false, .unk = false});
  label_vocab.assign(names);
  for (const auto& e : ds.examples) label_ids.push_back(label_vocab.id(e.labels[0]));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<int> train_lengths;
  for (size_t i : split.train) train_lengths.push_back(int(encoded[i].size()));
  Rng rng(1);
  const auto plain = make_batches(train_lengths, 32, rng, true, 1);
  const auto bucketed = make_batches(train_lengths, 32, rng, true, 50);
  std::vector<size_t> first;
  for (size_t k : bucketed.front()) first.push_back(split.train[k]);
  const Batch<float> batch = token_batch<float>(encoded, first, pre.vocab().pad_id(), 0, Side::Back, &label_ids);

  std::printf("%s: %zu documents", dir.c_str(), ds.examples.size());
  for (size_t c = 0; c < names.size(); ++c) std::printf(", %s %zu", names[c].c_str(), ds.label_counts()[c]);
  std::printf("\nsplit (stratified, seed 1): train %zu, valid %zu, test %zu\n", split.train.size(), split.valid.size(),
              split.test.size());
  std::printf("vocabulary %d tokens, covering %.1f%% of training tokens; max length %d\n", pre.vocab().size(),
              100 * pre.vocab().coverage(), max_length);
  std::printf("padding per real step: %.2f with random batches of 32, %.3f with length bucketing\n",
              padding_overhead(train_lengths, plain), padding_overhead(train_lengths, bucketed));
  std::printf("first batch: T=%d, B=%d; read + clean + tokenize + encode: %.1f s\n", batch.T, batch.B, seconds);
  std::printf("preprocessing JSON for the model file: %zu bytes\n", pre.to_json().size());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "rnnkit_prepare_text: %s\n", e.what());
  return 1;
}
