// Readers for the files people have: delimited tables, fastText lines, one folder per class,
// JSON lines, CoNLL columns, plain text and numeric CSV. Every reader returns valid UTF-8 (bad
// bytes handled by the InvalidUtf8 policy) and reports bad input as "<file>:<line>: <what>".
#pragma once

#include <string>
#include <vector>

#include "rnnkit/data/text.h"

namespace rnnkit {

// ---------------------------------------------------------------------------------------------------
// Text classification
// ---------------------------------------------------------------------------------------------------

struct TextExample {
  std::string text;
  std::vector<std::string> labels;  // one label, or several for multi-label data
  std::string source;               // "file:line" or the file path, for messages
};

struct TextDataset {
  std::vector<TextExample> examples;
  // The distinct labels, sorted.
  std::vector<std::string> label_names() const;
  // Examples per label, in label_names() order.
  std::vector<size_t> label_counts() const;
};

// A column by name (needs a header) or by 0-based position.
struct ColumnRef {
  std::string name;
  int index = -1;
  static ColumnRef by_name(std::string n) { return {std::move(n), -1}; }
  static ColumnRef at(int i) { return {"", i}; }
  std::string describe() const;
};

enum class Header { Auto, Yes, No };  // Auto: a header when any column is chosen by name

struct TableOptions {
  char delimiter = 0;  // 0: '\t' for .tsv / .tab, ',' otherwise
  Header header = Header::Auto;
  ColumnRef text = ColumnRef::at(0);
  ColumnRef label = ColumnRef::at(1);
  std::string label_separator;  // non-empty: split the label field into several labels
  InvalidUtf8 invalid = InvalidUtf8::Latin1;
};

TextDataset read_table(const std::string& path, const TableOptions& options = {});

// fastText format: "__label__pos __label__happy some text" (the label prefix is configurable).
TextDataset read_fasttext(const std::string& path, const std::string& label_prefix = "__label__",
                          InvalidUtf8 invalid = InvalidUtf8::Latin1);

// The class folders of root/<label>/<file>: labels and files sorted, hidden entries skipped. Throws
// when root is not a directory or has no class folder. Shared by the text and audio readers.
struct ClassFolder {
  std::string label;
  std::string path;
  std::vector<std::string> files;
};
std::vector<ClassFolder> list_class_folders(const std::string& root);

// One folder per class (as Keras text_dataset_from_directory): root/<label>/<any file>, read whole;
// folders and files in sorted order, hidden ones skipped.
TextDataset read_folders(const std::string& root, InvalidUtf8 invalid = InvalidUtf8::Latin1);

// JSON lines: {"text": "...", "label": "pos"} (label may be a string, a number or an array).
TextDataset read_jsonl(const std::string& path, const std::string& text_field = "text",
                       const std::string& label_field = "label", InvalidUtf8 invalid = InvalidUtf8::Latin1);

// ---------------------------------------------------------------------------------------------------
// Sequence tagging: one label per token
// ---------------------------------------------------------------------------------------------------

struct TaggedSentence {
  std::vector<std::string> tokens, tags;
  std::string source;
};

// CoNLL columns separated by white space, sentences separated by blank lines, "-DOCSTART-" lines
// skipped. token_column 0 and tag_column -1 (the last) by default.
std::vector<TaggedSentence> read_conll(const std::string& path, int token_column = 0, int tag_column = -1,
                                       InvalidUtf8 invalid = InvalidUtf8::Latin1);

// JSON lines: {"tokens": [...], "tags": [...]} of equal length.
std::vector<TaggedSentence> read_tagged_jsonl(const std::string& path, const std::string& tokens_field = "tokens",
                                              const std::string& tags_field = "tags");

// ---------------------------------------------------------------------------------------------------
// Language modelling: a plain text corpus
// ---------------------------------------------------------------------------------------------------

std::string read_text(const std::string& path, InvalidUtf8 invalid = InvalidUtf8::Latin1);

// ---------------------------------------------------------------------------------------------------
// Numeric tables (time series)
// ---------------------------------------------------------------------------------------------------

struct NumericTable {
  std::vector<std::string> columns;
  std::vector<double> values;  // (rows, columns) row-major
  size_t rows = 0;
  std::string source;

  int column(const std::string& name) const;  // throws Error listing the columns
  std::vector<double> column_values(const std::string& name) const;
  // The chosen columns of every row, (rows, names.size()) row-major: features or targets.
  std::vector<double> select(const std::vector<std::string>& names) const;
  double at(size_t row, int col) const { return values[row * columns.size() + size_t(col)]; }

  // A table from whole columns (each names.size() of them, equally long); throws Error naming
  // `source` and the column whose length differs.
  static NumericTable from_columns(std::vector<std::string> names, const std::vector<std::vector<double>>& columns,
                                   std::string source);
};

// A CSV with a header and numbers in every field. Bad numbers, empty fields and ragged rows are
// errors naming file, line and column.
NumericTable read_numeric_csv(const std::string& path, char delimiter = 0);

}  // namespace rnnkit
