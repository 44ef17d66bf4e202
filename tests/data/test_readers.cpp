// Readers: every format on small fixtures, and malformed input reported with file, line and what
// was expected.
#include <gtest/gtest.h>

#include <fstream>

#include "rnnkit/core/error.h"
#include "rnnkit/data/readers.h"

namespace rnnkit {
namespace {

std::string fx(const std::string& name) { return std::string(RNNKIT_DATA_FIXTURES) + "/" + name; }

template <typename F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Readers, CsvWithHeaderQuotesNewlinesAndLatin1) {
  TableOptions o;
  o.text = ColumnRef::by_name("text");
  o.label = ColumnRef::by_name("label");
  const TextDataset ds = read_table(fx("reviews.csv"), o);
  ASSERT_EQ(ds.examples.size(), 3u);
  EXPECT_EQ(ds.examples[0].text, "Great food, friendly staff");
  EXPECT_EQ(ds.examples[1].text, "He said \"never again\"\nand left");
  EXPECT_EQ(ds.examples[2].text, "Caf\xc3\xa9 was fine");  // Latin-1 0xE9 -> U+00E9
  EXPECT_EQ(ds.examples[2].source, fx("reviews.csv") + ":5");  // the quoted newline counts
  EXPECT_EQ(ds.label_names(), (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(ds.label_counts(), (std::vector<size_t>{1, 2}));
}

TEST(Readers, TsvWithoutHeaderByPosition) {
  const TextDataset ds = read_table(fx("reviews.tsv"));
  ASSERT_EQ(ds.examples.size(), 3u);
  EXPECT_EQ(ds.examples[2].text, "ok acting");
  EXPECT_EQ(ds.examples[2].labels, (std::vector<std::string>{"pos"}));
}

TEST(Readers, MalformedTablesNameFileLineAndExpectation) {
  expect_error([] { read_table(fx("ragged.csv"), {.header = Header::Yes}); }, "ragged.csv:3: expected 2 columns, got 1");
  expect_error([] { read_table(fx("unterminated.csv"), {.header = Header::Yes}); },
               "unterminated.csv:2: unterminated quoted field");
  expect_error([] { read_table(fx("empty.csv"), {.text = ColumnRef::by_name("text")}); }, "empty");
  expect_error(
      [] {
        read_table(fx("reviews.csv"), {.text = ColumnRef::by_name("text"), .label = ColumnRef::by_name("sentiment")});
      },
      "no column named 'sentiment' (columns: id, text, label)");
  expect_error([] { read_table(fx("reviews.tsv"), {.label = ColumnRef::at(5)}); }, "column 5 does not exist");
  expect_error([] { read_table(fx("missing.csv")); }, "missing.csv: cannot open");
}

TEST(Readers, FastTextLinesWithSeveralLabels) {
  const TextDataset ds = read_fasttext(fx("train.ft"));
  ASSERT_EQ(ds.examples.size(), 3u);
  EXPECT_EQ(ds.examples[0].labels, (std::vector<std::string>{"pos", "happy"}));
  EXPECT_EQ(ds.examples[0].text, "I loved it !");
  EXPECT_EQ(ds.examples[2].text, "extra spaces here");
  expect_error([] { read_fasttext(fx("bad.ft")); }, "bad.ft:2: no label");
}

TEST(Readers, OneFolderPerClass) {
  const TextDataset ds = read_folders(fx("classes"));
  ASSERT_EQ(ds.examples.size(), 2u);  // .hidden skipped
  EXPECT_EQ(ds.examples[0].labels[0], "neg");
  EXPECT_EQ(ds.examples[0].text, "Caf\xc3\xa9 au lait\n");  // CRLF -> LF, Latin-1 decoded
  EXPECT_EQ(ds.examples[1].labels[0], "pos");
  EXPECT_EQ(ds.examples[1].text.find('\r'), std::string::npos);
  expect_error([] { read_folders(fx("reviews.csv")); }, "not a directory");
}

TEST(Readers, JsonLines) {
  const TextDataset ds = read_jsonl(fx("data.jsonl"));
  ASSERT_EQ(ds.examples.size(), 3u);
  EXPECT_EQ(ds.examples[1].labels, (std::vector<std::string>{"neg", "angry"}));
  EXPECT_EQ(ds.examples[2].labels, (std::vector<std::string>{"3"}));
  expect_error([] { read_jsonl(fx("bad.jsonl")); }, "bad.jsonl:2: not valid JSON");
  expect_error([] { read_jsonl(fx("nolabel.jsonl")); }, "nolabel.jsonl:1: missing the label field \"label\"");
}

TEST(Readers, TaggingColumnsAndJsonLines) {
  const auto sentences = read_conll(fx("tags.conll"));
  ASSERT_EQ(sentences.size(), 2u);
  EXPECT_EQ(sentences[0].tokens, (std::vector<std::string>{"John", "lives", "in", "Paris"}));
  EXPECT_EQ(sentences[0].tags, (std::vector<std::string>{"B-PER", "O", "O", "B-LOC"}));
  const auto pos = read_conll(fx("tags.conll"), 0, 1);
  EXPECT_EQ(pos[0].tags[0], "NNP");
  expect_error([] { read_tagged_jsonl(fx("tags_mismatch.jsonl")); }, "tags_mismatch.jsonl:2: 1 tokens but 2 tags");
}

TEST(Readers, PlainTextPolicies) {
  EXPECT_EQ(read_text(fx("invalid_utf8.txt")), "plain \xc3\xbf\xc3\xbe text\n");
  EXPECT_EQ(read_text(fx("invalid_utf8.txt"), InvalidUtf8::Replace), "plain \xef\xbf\xbd\xef\xbf\xbd text\n");
  expect_error([] { read_text(fx("invalid_utf8.txt"), InvalidUtf8::Error); }, "invalid UTF-8 byte 0xff at byte offset 6");
  expect_error([] { read_text(fx("empty.csv")); }, "empty");
}

TEST(Readers, NumericCsv) {
  const NumericTable t = read_numeric_csv(fx("series.csv"));
  EXPECT_EQ(t.rows, 5u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"time", "x", "y", "label"}));
  EXPECT_EQ(t.column_values("y"), (std::vector<double>{10, 20, 30, 40, 50}));
  EXPECT_EQ(t.at(2, t.column("label")), 1.0);
  EXPECT_EQ(t.select({"y", "x"}), (std::vector<double>{10, 1.5, 20, 2.5, 30, 3.5, 40, 4.5, 50, 5.5}));
  expect_error([&] { t.column("z"); }, "no column named 'z' (columns: time, x, y, label)");
  expect_error([] { read_numeric_csv(fx("bad_number.csv")); }, "bad_number.csv:3: column 'x': expected a number, got 'abc'");
  expect_error([] { read_numeric_csv(fx("empty_field.csv")); }, "empty_field.csv:3: column 'x' is empty");
  expect_error([] { read_numeric_csv(fx("ragged.csv")); }, "ragged.csv:2: column 'text': expected a number");
}

TEST(Readers, RealSensorSeries) {
  const std::string path = std::string(RNNKIT_SHARED_DATA) + "/timeseries/sensor-single-hop.csv";
  if (!std::ifstream(path)) GTEST_SKIP() << path << " not present";
  const NumericTable t = read_numeric_csv(path);
  EXPECT_EQ(t.rows, 18914u);
  double anomalies = 0;
  for (double v : t.column_values("label")) anomalies += v;
  EXPECT_EQ(anomalies, 149.0);  // as the data set's README says
}

}  // namespace
}  // namespace rnnkit
