// One-hot, TF-IDF and pretrained word vectors.
#include "rnnkit/data/vectorize.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "rnnkit/core/error.h"
#include "rnnkit/core/rng.h"
#include "rnnkit/data/text.h"

namespace rnnkit {

std::vector<float> one_hot(const std::vector<int32_t>& ids, int V) {
  std::vector<float> out(ids.size() * size_t(V), 0.0f);
  for (size_t i = 0; i < ids.size(); ++i) {
    require(ids[i] >= 0 && ids[i] < V, "one-hot id " + std::to_string(ids[i]) + " is outside [0, " + std::to_string(V) + ")");
    out[i * size_t(V) + size_t(ids[i])] = 1.0f;
  }
  return out;
}

void TfIdf::fit(const std::vector<std::vector<int32_t>>& docs, int V) {
  require(V >= 1, "TF-IDF needs a vocabulary");
  std::vector<int64_t> df(size_t(V), 0);
  std::vector<int32_t> seen;
  for (const auto& doc : docs) {
    seen = doc;
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t id : seen) {
      require(id >= 0 && id < V, "TF-IDF id " + std::to_string(id) + " is outside the vocabulary");
      ++df[size_t(id)];
    }
  }
  const double n = double(docs.size());
  idf_.resize(size_t(V));
  for (int v = 0; v < V; ++v) idf_[size_t(v)] = std::log((1.0 + n) / (1.0 + double(df[size_t(v)]))) + 1.0;
}

std::vector<std::pair<int32_t, float>> TfIdf::transform(const std::vector<int32_t>& doc) const {
  require(!idf_.empty(), "TF-IDF must be fitted before transform");
  std::map<int32_t, int> counts;
  for (int32_t id : doc) {
    require(id >= 0 && size_t(id) < idf_.size(), "TF-IDF id " + std::to_string(id) + " is outside the vocabulary");
    ++counts[id];
  }
  std::vector<std::pair<int32_t, float>> out;
  double norm = 0;
  std::vector<double> w;
  for (const auto& [id, c] : counts) {
    const double tf = sublinear_ ? 1.0 + std::log(double(c)) : double(c);
    w.push_back(tf * idf_[size_t(id)]);
    norm += w.back() * w.back();
  }
  norm = std::sqrt(norm);
  size_t k = 0;
  for (const auto& [id, c] : counts) out.emplace_back(id, float(norm > 0 ? w[k++] / norm : 0.0));
  return out;
}

std::vector<float> TfIdf::transform_dense(const std::vector<int32_t>& doc) const {
  std::vector<float> v(idf_.size(), 0.0f);
  for (const auto& [id, w] : transform(doc)) v[size_t(id)] = w;
  return v;
}

std::vector<float> TfIdf::step_weights(const std::vector<int32_t>& doc) const {
  const auto sparse = transform(doc);
  std::vector<float> out;
  out.reserve(doc.size());
  for (int32_t id : doc)
    out.push_back(std::lower_bound(sparse.begin(), sparse.end(), std::pair<int32_t, float>(id, -1e30f))->second);
  return out;
}

std::string TfIdf::to_json() const { return nlohmann::json({{"sublinear_tf", sublinear_}, {"idf", idf_}}).dump(); }

TfIdf TfIdf::from_json(const std::string& text, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object() && j.contains("idf") && j["idf"].is_array(),
          where + ": TF-IDF must be a JSON object with an \"idf\" array");
  TfIdf t(j.value("sublinear_tf", false));
  for (const auto& v : j["idf"]) {
    require(v.is_number(), where + ": TF-IDF idf values must be numbers");
    t.idf_.push_back(v.get<double>());
  }
  return t;
}

const char* vector_format_name(VectorFormat f) {
  switch (f) {
    case VectorFormat::Auto: return "auto";
    case VectorFormat::Word2VecText: return "word2vec";
    case VectorFormat::Word2VecBinary: return "word2vec-binary";
    case VectorFormat::GloveText: return "glove";
  }
  return "?";
}

VectorFormat parse_vector_format(const std::string& name) {
  for (VectorFormat f : {VectorFormat::Auto, VectorFormat::Word2VecText, VectorFormat::Word2VecBinary,
                         VectorFormat::GloveText})
    if (name == vector_format_name(f)) return f;
  throw Error("unknown vector format '" + name + "': expected auto, word2vec, word2vec-binary or glove");
}

std::string VectorCoverage::summary() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%d of %d vocabulary words have a vector (%.1f%%, %d through lower case)", found,
                vocab_size, vocab_size ? 100.0 * found / vocab_size : 0.0, found_lowercase);
  std::string s = buf;
  if (token_count > 0) {
    std::snprintf(buf, sizeof buf, "; %.1f%% of corpus tokens", 100.0 * double(token_found) / double(token_count));
    s += buf;
  }
  return s;
}

namespace {

bool parse_header(std::string_view line, int64_t& count, int& dim) {
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return false;
  std::string_view a = line.substr(0, sp), b = line.substr(sp + 1);
  while (!b.empty() && (b.back() == ' ' || b.back() == '\r')) b.remove_suffix(1);
  auto r1 = std::from_chars(a.data(), a.data() + a.size(), count);
  auto r2 = std::from_chars(b.data(), b.data() + b.size(), dim);
  return r1.ec == std::errc() && r1.ptr == a.data() + a.size() && r2.ec == std::errc() &&
         r2.ptr == b.data() + b.size() && count >= 0 && dim > 0;
}

}  // namespace

std::vector<float> load_word_vectors(const std::string& path, const Vocabulary& vocab, VectorFormat format,
                                     uint64_t seed, VectorCoverage* coverage) {
  const std::string bytes = read_file(path);
  require(!bytes.empty(), path + ": the file is empty");
  const size_t first_nl = bytes.find('\n');
  const std::string_view first_line = std::string_view(bytes).substr(0, first_nl);
  int64_t count = 0;
  int dim = 0;
  const bool has_header = parse_header(first_line, count, dim);
  if (format == VectorFormat::Auto) {
    if (!has_header) {
      format = VectorFormat::GloveText;
    } else {
      // Binary files have raw floats after the first word; text files have printable bytes only.
      const size_t probe_end = std::min(bytes.size(), first_nl + 1 + 4096);
      bool binary = false;
      for (size_t i = first_nl + 1; i < probe_end; ++i) {
        const unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') binary = true;
      }
      format = binary ? VectorFormat::Word2VecBinary : VectorFormat::Word2VecText;
    }
  }
  if (format != VectorFormat::GloveText)
    require(has_header, path + ":1: expected a header \"<count> <dim>\", got '" + std::string(first_line.substr(0, 60)) + "'");

  // Which vocabulary rows want which word: exact tokens first, then case-insensitive (ASCII) matches
  // in either direction, for a lower-case vocabulary meeting "The" or a cased one meeting "the".
  auto lower = [](std::string w) {
    for (char& c : w)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return w;
  };
  std::unordered_map<std::string, int> want;
  std::unordered_map<std::string, std::vector<int>> want_lower;
  for (int id = 0; id < vocab.size(); ++id) {
    want.emplace(vocab.token(id), id);
    want_lower[lower(vocab.token(id))].push_back(id);
  }
  std::vector<int> source(size_t(vocab.size()), 0);  // 0 none, 1 exact, 2 case-insensitive
  std::vector<float> matrix;
  auto offer = [&](const std::string& word, const float* v, int d) {
    if (matrix.empty()) matrix.assign(size_t(vocab.size()) * size_t(d), 0.0f);
    auto it = want.find(word);
    if (it != want.end() && source[size_t(it->second)] != 1) {
      std::copy_n(v, d, matrix.begin() + size_t(it->second) * size_t(d));
      source[size_t(it->second)] = 1;
    }
    auto jt = want_lower.find(lower(word));
    if (jt == want_lower.end()) return;
    for (int id : jt->second)
      if (source[size_t(id)] == 0) {
        std::copy_n(v, d, matrix.begin() + size_t(id) * size_t(d));
        source[size_t(id)] = 2;
      }
  };

  int64_t words = 0;
  std::vector<float> vec;
  if (format == VectorFormat::Word2VecBinary) {
    size_t pos = first_nl + 1;
    vec.resize(size_t(dim));
    for (int64_t w = 0; w < count; ++w) {
      while (pos < bytes.size() && (bytes[pos] == '\n' || bytes[pos] == ' ')) ++pos;
      const size_t sp = bytes.find(' ', pos);
      require(sp != std::string::npos && sp - pos <= 1000,
              path + ": word " + std::to_string(w + 1) + " of " + std::to_string(count) + ": truncated binary file");
      const std::string word = to_utf8(std::string_view(bytes).substr(pos, sp - pos), InvalidUtf8::Replace, path);
      pos = sp + 1;
      require(pos + size_t(dim) * 4 <= bytes.size(),
              path + ": word " + std::to_string(w + 1) + " ('" + word + "'): truncated binary file: expected " +
                  std::to_string(dim) + " floats");
      std::memcpy(vec.data(), bytes.data() + pos, size_t(dim) * 4);
      pos += size_t(dim) * 4;
      for (int k = 0; k < dim; ++k)
        require(std::isfinite(vec[size_t(k)]), [&] {
          return path + ": word " + std::to_string(w + 1) + " ('" + word + "'): value " + std::to_string(k + 1) +
                 " is " + std::to_string(vec[size_t(k)]) + ", not a finite number";
        });
      offer(word, vec.data(), dim);
      ++words;
    }
  } else {
    size_t pos = format == VectorFormat::GloveText ? 0 : first_nl + 1;
    int line = format == VectorFormat::GloveText ? 1 : 2;
    for (; pos < bytes.size(); ++line) {
      size_t end = bytes.find('\n', pos);
      if (end == std::string::npos) end = bytes.size();
      std::string_view s = std::string_view(bytes).substr(pos, end - pos);
      pos = end + 1;
      while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
      if (s.empty()) continue;
      const size_t sp = s.find(' ');
      const std::string where = path + ":" + std::to_string(line);
      require(sp != std::string_view::npos, where + ": expected a word followed by numbers");
      const std::string word = to_utf8(s.substr(0, sp), InvalidUtf8::Replace, path);
      vec.clear();
      size_t p = sp + 1;
      while (p < s.size()) {
        while (p < s.size() && s[p] == ' ') ++p;
        size_t q = p;
        while (q < s.size() && s[q] != ' ') ++q;
        if (q == p) break;
        float v = 0;
        const auto r = std::from_chars(s.data() + p, s.data() + q, v);
        require(r.ec == std::errc() && r.ptr == s.data() + q && std::isfinite(v),
                where + ": expected a finite number, got '" + std::string(s.substr(p, q - p)) + "' (word '" + word + "')");
        vec.push_back(v);
        p = q;
      }
      if (dim == 0) dim = int(vec.size());
      require(int(vec.size()) == dim, where + ": word '" + word + "' has " + std::to_string(vec.size()) +
                                          " values, expected " + std::to_string(dim));
      offer(word, vec.data(), dim);
      ++words;
    }
    if (format == VectorFormat::Word2VecText)
      require(words == count, path + ": the header promises " + std::to_string(count) + " words, the file has " +
                                  std::to_string(words));
  }
  require(words > 0 && dim > 0, path + ": no vectors");

  // Rows without a vector: N(0, sd of the found values); the padding row: zero.
  double sum = 0, sq = 0;
  int64_t n = 0;
  for (int id = 0; id < vocab.size(); ++id)
    if (source[size_t(id)])
      for (int k = 0; k < dim; ++k) {
        const double v = matrix[size_t(id) * size_t(dim) + size_t(k)];
        sum += v, sq += v * v, ++n;
      }
  const double mean = n ? sum / double(n) : 0.0;
  const double sd = n ? std::sqrt(std::max(0.0, sq / double(n) - mean * mean)) : 0.1;
  Rng rng(seed);
  VectorCoverage cov;
  cov.dim = dim;
  cov.file_words = words;
  std::vector<std::pair<int64_t, std::string>> missing;
  for (int id = 0; id < vocab.size(); ++id) {
    const bool special = id == vocab.pad_id() || id == vocab.unk_id() || id == vocab.bos_id() || id == vocab.eos_id();
    if (id == vocab.pad_id()) {
      std::fill_n(matrix.begin() + size_t(id) * size_t(dim), dim, 0.0f);
      continue;
    }
    if (!source[size_t(id)])
      for (int k = 0; k < dim; ++k) matrix[size_t(id) * size_t(dim) + size_t(k)] = float(rng.normal() * sd);
    if (special) continue;
    ++cov.vocab_size;
    const int64_t c = vocab.count_of(vocab.token(id));
    cov.token_count += c;
    if (source[size_t(id)]) {
      ++cov.found;
      cov.found_lowercase += source[size_t(id)] == 2;
      cov.token_found += c;
    } else {
      missing.emplace_back(-c, vocab.token(id));
    }
  }
  std::sort(missing.begin(), missing.end());
  for (size_t i = 0; i < missing.size() && i < 20; ++i) cov.missing_examples.push_back(missing[i].second);
  if (coverage) *coverage = cov;
  return matrix;
}

}  // namespace rnnkit
