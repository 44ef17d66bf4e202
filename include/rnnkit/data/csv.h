// CSV / TSV records (RFC 4180: quoted fields may hold the delimiter, doubled quotes and newlines),
// with the line each record starts on for error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rnnkit {

class CsvReader {
 public:
  // `text` must outlive the reader. `where` names the source in errors ("train.csv").
  CsvReader(std::string_view text, char delimiter, std::string where);

  // Reads the next record into `fields`; false at the end. Blank lines are skipped.
  // Throws Error "<where>:<line>: ..." on an unterminated quote or text after a closing quote.
  bool next(std::vector<std::string>& fields);
  int line() const { return record_line_; }  // 1-based line where the last record started
  const std::string& where() const { return where_; }

 private:
  std::string_view text_;
  char delimiter_;
  std::string where_;
  size_t pos_ = 0;
  int line_ = 1, record_line_ = 0;
};

// The delimiter from a path: '\t' for .tsv / .tab, ',' otherwise.
char delimiter_for(const std::string& path);

}  // namespace rnnkit
