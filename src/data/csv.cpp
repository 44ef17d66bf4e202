// RFC 4180 record parsing.
#include "rnnkit/data/csv.h"

#include "rnnkit/core/error.h"

namespace rnnkit {

CsvReader::CsvReader(std::string_view text, char delimiter, std::string where)
    : text_(text), delimiter_(delimiter), where_(std::move(where)) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte-order mark
}

bool CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  // Skip blank lines.
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  record_line_ = line_;
  std::string field;
  while (true) {
    if (pos_ < text_.size() && text_[pos_] == '"') {  // quoted field
      const int quote_line = line_;
      ++pos_;
      while (true) {
        if (pos_ >= text_.size())
          throw Error(where_ + ":" + std::to_string(quote_line) + ": unterminated quoted field");
        const char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field.push_back('"');
            ++pos_;
          } else {
            break;
          }
        } else {
          if (c == '\n') ++line_;
          field.push_back(c);
        }
      }
      if (pos_ < text_.size() && text_[pos_] != delimiter_ && text_[pos_] != '\n' && text_[pos_] != '\r')
        throw Error(where_ + ":" + std::to_string(line_) + ": unexpected text after a closing quote in field " +
                    std::to_string(fields.size() + 1));
    } else {
      while (pos_ < text_.size() && text_[pos_] != delimiter_ && text_[pos_] != '\n' && text_[pos_] != '\r')
        field.push_back(text_[pos_++]);
    }
    fields.push_back(std::move(field));
    field.clear();
    if (pos_ >= text_.size()) return true;
    if (text_[pos_] == delimiter_) {
      ++pos_;
      continue;
    }
    // End of record: \n, \r\n or \r.
    if (text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
    ++line_;
    return true;
  }
}

char delimiter_for(const std::string& path) {
  auto ends = [&](const char* s) {
    const std::string e(s);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  return ends(".tsv") || ends(".tab") || ends(".TSV") ? '\t' : ',';
}

}  // namespace rnnkit
