// File readers for classification, tagging, language modelling and numeric series.
#include "rnnkit/data/readers.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "rnnkit/core/error.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/data/csv.h"

namespace rnnkit {

namespace fs = std::filesystem;

std::vector<std::string> TextDataset::label_names() const {
  std::set<std::string> names;
  for (const auto& e : examples) names.insert(e.labels.begin(), e.labels.end());
  return {names.begin(), names.end()};
}

std::vector<size_t> TextDataset::label_counts() const {
  const std::vector<std::string> names = label_names();
  std::vector<size_t> counts(names.size(), 0);
  for (const auto& e : examples)
    for (const auto& l : e.labels) ++counts[size_t(std::lower_bound(names.begin(), names.end(), l) - names.begin())];
  return counts;
}

std::string ColumnRef::describe() const {
  return name.empty() ? "column " + std::to_string(index) : "column '" + name + "'";
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

int resolve(const ColumnRef& ref, const std::vector<std::string>& header, const std::string& path) {
  if (!ref.name.empty()) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == ref.name) return int(i);
    throw Error(path + ": no column named '" + ref.name + "' (columns: " + join(header) + ")");
  }
  require(ref.index >= 0, path + ": a column must be chosen by name or by a position >= 0");
  if (!header.empty())
    require(size_t(ref.index) < header.size(), path + ": column " + std::to_string(ref.index) +
                                                   " does not exist: the header has " +
                                                   std::to_string(header.size()) + " columns");
  return ref.index;
}

std::vector<std::string> split_labels(const std::string& field, const std::string& sep) {
  if (sep.empty()) return {field};
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = field.find(sep, start);
    std::string part = field.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) out.push_back(std::move(part));
    if (end == std::string::npos) break;
    start = end + sep.size();
  }
  return out;
}

std::string trim(std::string_view s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string_view::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(a, b - a + 1));
}

// Calls f(line_number, line) for each line of valid UTF-8 text.
template <typename F>
void for_each_line(const std::string& text, F&& f) {
  size_t start = 0;
  int line = 1;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    f(line, std::string_view(text).substr(start, end - start));
    start = end + 1;
    ++line;
  }
}

}  // namespace

TextDataset read_table(const std::string& path, const TableOptions& o) {
  const std::string text = to_utf8(read_file(path), o.invalid, path);
  CsvReader reader(text, o.delimiter ? o.delimiter : delimiter_for(path), path);
  const bool header = o.header == Header::Yes ||
                      (o.header == Header::Auto && (!o.text.name.empty() || !o.label.name.empty()));
  std::vector<std::string> fields, names;
  if (header) {
    require(reader.next(names), path + ": the file is empty: expected a header line");
  }
  const int text_col = resolve(o.text, names, path), label_col = resolve(o.label, names, path);
  const size_t expected = header ? names.size() : 0;
  TextDataset ds;
  size_t first_width = 0;
  while (reader.next(fields)) {
    const std::string where = path + ":" + std::to_string(reader.line());
    const size_t want = expected ? expected : (first_width ? first_width : fields.size());
    if (!first_width) first_width = fields.size();
    require(fields.size() == want, where + ": expected " + std::to_string(want) + " columns, got " +
                                       std::to_string(fields.size()));
    require(size_t(std::max(text_col, label_col)) < fields.size(),
            where + ": the row has " + std::to_string(fields.size()) + " columns, so " +
                (size_t(text_col) >= fields.size() ? o.text.describe() : o.label.describe()) + " does not exist");
    TextExample e;
    e.text = std::move(fields[size_t(text_col)]);
    e.labels = split_labels(trim(fields[size_t(label_col)]), o.label_separator);
    require(!e.labels.empty(), where + ": empty label in " + o.label.describe());
    e.source = where;
    ds.examples.push_back(std::move(e));
  }
  require(!ds.examples.empty(), path + ": no examples" + std::string(header ? " after the header" : ""));
  return ds;
}

TextDataset read_fasttext(const std::string& path, const std::string& prefix, InvalidUtf8 invalid) {
  require(!prefix.empty(), "the fastText label prefix must not be empty");
  const std::string text = to_utf8(read_file(path), invalid, path);
  TextDataset ds;
  for_each_line(text, [&](int line, std::string_view s) {
    if (trim(s).empty()) return;
    TextExample e;
    e.source = path + ":" + std::to_string(line);
    size_t pos = 0;
    std::vector<std::string> rest;
    while (pos < s.size()) {
      while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
      size_t end = pos;
      while (end < s.size() && s[end] != ' ' && s[end] != '\t') ++end;
      if (end == pos) break;
      const std::string_view word = s.substr(pos, end - pos);
      if (word.substr(0, prefix.size()) == prefix) {
        require(word.size() > prefix.size(), e.source + ": empty label '" + prefix + "'");
        e.labels.emplace_back(word.substr(prefix.size()));
      } else {
        rest.emplace_back(word);
      }
      pos = end;
    }
    require(!e.labels.empty(), e.source + ": no label: expected words starting with '" + prefix + "'");
    for (size_t i = 0; i < rest.size(); ++i) e.text += (i ? " " : "") + rest[i];
    ds.examples.push_back(std::move(e));
  });
  require(!ds.examples.empty(), path + ": no examples");
  return ds;
}

std::vector<ClassFolder> list_class_folders(const std::string& root) {
  std::error_code ec;
  require(fs::is_directory(root, ec), root + ": not a directory (expected one sub-folder per class)");
  auto visible = [](const fs::directory_entry& e) { return e.path().filename().string()[0] != '.'; };
  std::vector<ClassFolder> out;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && visible(entry))
      out.push_back({entry.path().filename().string(), entry.path().string(), {}});
  std::sort(out.begin(), out.end(), [](const ClassFolder& a, const ClassFolder& b) { return a.path < b.path; });
  require(!out.empty(), root + ": no class folders: expected " + root + "/<label>/<files>");
  for (ClassFolder& c : out) {
    for (const auto& entry : fs::directory_iterator(c.path))
      if (entry.is_regular_file() && visible(entry)) c.files.push_back(entry.path().string());
    std::sort(c.files.begin(), c.files.end());
  }
  return out;
}

TextDataset read_folders(const std::string& root, InvalidUtf8 invalid) {
  TextDataset ds;
  for (const ClassFolder& c : list_class_folders(root)) {
    require(!c.files.empty(), c.path + ": class folder without files");
    for (const std::string& f : c.files) {
      TextExample e;
      e.source = f;
      e.labels = {c.label};
      ds.examples.push_back(std::move(e));
    }
  }
  // The files read and decoded on every thread (an error names its file).
  parallel_for(ds.examples.size(), [&](size_t i) {
    TextExample& e = ds.examples[i];
    e.text = to_utf8(read_file(e.source), invalid, e.source);
  });
  return ds;
}

TextDataset read_jsonl(const std::string& path, const std::string& text_field, const std::string& label_field,
                       InvalidUtf8 invalid) {
  const std::string text = to_utf8(read_file(path), invalid, path);
  TextDataset ds;
  for_each_line(text, [&](int line, std::string_view s) {
    if (trim(s).empty()) return;
    const std::string where = path + ":" + std::to_string(line);
    const nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
    require(!j.is_discarded(), where + ": not valid JSON");
    require(j.is_object(), where + ": expected a JSON object");
    require(j.contains(text_field) && j[text_field].is_string(),
            where + ": expected a string field \"" + text_field + "\"");
    require(j.contains(label_field), where + ": missing the label field \"" + label_field + "\"");
    TextExample e;
    e.source = where;
    e.text = j[text_field].get<std::string>();
    auto label_string = [&](const nlohmann::json& v) -> std::string {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
      if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
      throw Error(where + ": label \"" + label_field + "\" must be a string, an integer or an array of them, got " +
                  v.dump());
    };
    const nlohmann::json& l = j[label_field];
    if (l.is_array()) {
      for (const auto& v : l) e.labels.push_back(label_string(v));
    } else {
      e.labels.push_back(label_string(l));
    }
    require(!e.labels.empty(), where + ": empty label list");
    ds.examples.push_back(std::move(e));
  });
  require(!ds.examples.empty(), path + ": no examples");
  return ds;
}

std::vector<TaggedSentence> read_conll(const std::string& path, int token_column, int tag_column,
                                       InvalidUtf8 invalid) {
  const std::string text = to_utf8(read_file(path), invalid, path);
  std::vector<TaggedSentence> out;
  TaggedSentence current;
  auto flush = [&] {
    if (!current.tokens.empty()) out.push_back(std::move(current));
    current = {};
  };
  for_each_line(text, [&](int line, std::string_view s) {
    const std::string t = trim(s);
    if (t.empty()) return flush();
    if (t.rfind("-DOCSTART-", 0) == 0) return;
    std::vector<std::string> cols;
    std::istringstream in(t);
    for (std::string c; in >> c;) cols.push_back(c);
    const std::string where = path + ":" + std::to_string(line);
    const int tc = token_column < 0 ? int(cols.size()) + token_column : token_column;
    const int gc = tag_column < 0 ? int(cols.size()) + tag_column : tag_column;
    require(cols.size() >= 2, where + ": expected a token and a tag, got " + std::to_string(cols.size()) + " column");
    require(tc >= 0 && tc < int(cols.size()) && gc >= 0 && gc < int(cols.size()),
            where + ": expected at least " + std::to_string(std::max(token_column, tag_column) + 1) +
                " columns, got " + std::to_string(cols.size()));
    if (current.tokens.empty()) current.source = where;
    current.tokens.push_back(cols[size_t(tc)]);
    current.tags.push_back(cols[size_t(gc)]);
  });
  flush();
  require(!out.empty(), path + ": no sentences");
  return out;
}

std::vector<TaggedSentence> read_tagged_jsonl(const std::string& path, const std::string& tokens_field,
                                              const std::string& tags_field) {
  const std::string text = to_utf8(read_file(path), InvalidUtf8::Error, path);
  std::vector<TaggedSentence> out;
  for_each_line(text, [&](int line, std::string_view s) {
    if (trim(s).empty()) return;
    const std::string where = path + ":" + std::to_string(line);
    const nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
    require(!j.is_discarded() && j.is_object(), where + ": expected a JSON object");
    TaggedSentence ts;
    ts.source = where;
    for (auto [field, dst] : {std::pair{&tokens_field, &ts.tokens}, std::pair{&tags_field, &ts.tags}}) {
      require(j.contains(*field) && j[*field].is_array(), where + ": expected an array field \"" + *field + "\"");
      for (const auto& v : j[*field]) {
        require(v.is_string(), where + ": \"" + *field + "\" must hold strings");
        dst->push_back(v.get<std::string>());
      }
    }
    require(ts.tokens.size() == ts.tags.size(), where + ": " + std::to_string(ts.tokens.size()) + " tokens but " +
                                                    std::to_string(ts.tags.size()) + " tags");
    if (!ts.tokens.empty()) out.push_back(std::move(ts));
  });
  require(!out.empty(), path + ": no sentences");
  return out;
}

std::string read_text(const std::string& path, InvalidUtf8 invalid) {
  std::string text = to_utf8(read_file(path), invalid, path);
  require(!text.empty(), path + ": the file is empty");
  return text;
}

int NumericTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return int(i);
  throw Error(source + ": no column named '" + name + "' (columns: " + join(columns) + ")");
}

std::vector<double> NumericTable::column_values(const std::string& name) const {
  const int c = column(name);
  std::vector<double> v(rows);
  for (size_t r = 0; r < rows; ++r) v[r] = at(r, c);
  return v;
}

std::vector<double> NumericTable::select(const std::vector<std::string>& names) const {
  std::vector<int> cols;
  for (const auto& n : names) cols.push_back(column(n));
  std::vector<double> out;
  out.reserve(rows * cols.size());
  for (size_t r = 0; r < rows; ++r)
    for (int c : cols) out.push_back(at(r, c));
  return out;
}

NumericTable NumericTable::from_columns(std::vector<std::string> names, const std::vector<std::vector<double>>& columns,
                                       std::string source) {
  require(names.size() == columns.size(), source + ": " + std::to_string(names.size()) + " column names for " +
                                              std::to_string(columns.size()) + " columns");
  NumericTable t;
  t.rows = columns.empty() ? 0 : columns[0].size();
  for (size_t c = 0; c < columns.size(); ++c)
    require(columns[c].size() == t.rows, source + ": column '" + names[c] + "' has " +
                                             std::to_string(columns[c].size()) + " values, column '" + names[0] +
                                             "' has " + std::to_string(t.rows));
  t.values.reserve(t.rows * columns.size());
  for (size_t r = 0; r < t.rows; ++r)
    for (const auto& c : columns) t.values.push_back(c[r]);
  t.columns = std::move(names);
  t.source = std::move(source);
  return t;
}

NumericTable read_numeric_csv(const std::string& path, char delimiter) {
  const std::string text = to_utf8(read_file(path), InvalidUtf8::Error, path);
  CsvReader reader(text, delimiter ? delimiter : delimiter_for(path), path);
  NumericTable t;
  t.source = path;
  require(reader.next(t.columns), path + ": the file is empty: expected a header line");
  for (auto& c : t.columns) c = trim(c);
  std::vector<std::string> fields;
  while (reader.next(fields)) {
    const std::string where = path + ":" + std::to_string(reader.line());
    require(fields.size() == t.columns.size(), where + ": expected " + std::to_string(t.columns.size()) +
                                                   " columns, got " + std::to_string(fields.size()));
    for (size_t c = 0; c < fields.size(); ++c) {
      const std::string f = trim(fields[c]);
      double v = 0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      require(!f.empty(), where + ": column '" + t.columns[c] + "' is empty: expected a number");
      require(ec == std::errc() && ptr == f.data() + f.size(),
              where + ": column '" + t.columns[c] + "': expected a number, got '" + f + "'");
      require(std::isfinite(v), where + ": column '" + t.columns[c] + "': expected a finite number, got '" + f + "'");
      t.values.push_back(v);
    }
    ++t.rows;
  }
  require(t.rows > 0, path + ": no rows after the header");
  return t;
}

}  // namespace rnnkit
