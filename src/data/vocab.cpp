// Vocabulary building and lookup.
#include "rnnkit/data/vocab.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "rnnkit/core/error.h"

namespace rnnkit {

Vocabulary::Vocabulary(const VocabConfig& config) : config_(config) {
  require(config.min_count >= 1, "vocabulary min_count must be >= 1, got " + std::to_string(config.min_count));
  require(config.max_size >= 0, "vocabulary max_size must be >= 0, got " + std::to_string(config.max_size));
  add_specials();
}

void Vocabulary::add_specials() {
  if (config_.pad) pad_id_ = add(kPad);
  if (config_.unk) unk_id_ = add(kUnk);
  if (config_.bos) bos_id_ = add(kBos);
  if (config_.eos) eos_id_ = add(kEos);
}

int Vocabulary::add(const std::string& token) {
  auto [it, inserted] = index_.emplace(token, size());
  if (inserted) tokens_.push_back(token);
  return it->second;
}

void Vocabulary::count(const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) ++counts_[t];
}

void Vocabulary::add_counts(const Vocabulary& other) {
  for (const auto& [t, c] : other.counts_) counts_[t] += c;
}

void Vocabulary::build() {
  std::vector<std::pair<std::string, int64_t>> items;
  items.reserve(counts_.size());
  for (const auto& [t, c] : counts_)
    if (c >= config_.min_count && !index_.count(t)) items.emplace_back(t, c);
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  for (const auto& [t, c] : items) {
    if (config_.max_size > 0 && size() >= config_.max_size) break;
    add(t);
  }
}

void Vocabulary::assign(const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) {
    require(!index_.count(t), "vocabulary token '" + t + "' is given twice or is a reserved token");
    add(t);
  }
}

int Vocabulary::id(const std::string& token) const {
  auto it = index_.find(token);
  if (it != index_.end()) return it->second;
  require(unk_id_ >= 0, "token '" + token + "' is not in the vocabulary, which has no <unk>");
  return unk_id_;
}

const std::string& Vocabulary::token(int id) const {
  require(id >= 0 && id < size(), "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                      std::to_string(size()));
  return tokens_[size_t(id)];
}

std::vector<int32_t> Vocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) ids.push_back(id(t));
  return ids;
}

std::vector<std::string> Vocabulary::decode(const std::vector<int32_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int32_t i : ids) out.push_back(token(i));
  return out;
}

int64_t Vocabulary::count_of(const std::string& token) const {
  auto it = counts_.find(token);
  return it == counts_.end() ? 0 : it->second;
}

double Vocabulary::coverage() const {
  int64_t total = 0, covered = 0;
  for (const auto& [t, c] : counts_) {
    total += c;
    if (index_.count(t)) covered += c;
  }
  return total > 0 ? double(covered) / double(total) : 0.0;
}

std::string Vocabulary::to_json() const {
  return nlohmann::json({{"tokens", tokens_}, {"pad", pad_id_}, {"unk", unk_id_}, {"bos", bos_id_}, {"eos", eos_id_}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Vocabulary Vocabulary::from_json(const std::string& text, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object(), where + ": vocabulary is not a JSON object");
  require(j.contains("tokens") && j["tokens"].is_array(), where + ": vocabulary lacks its \"tokens\" array");
  Vocabulary v{Empty{}};
  v.config_.pad = v.config_.unk = false;
  for (const auto& t : j["tokens"]) {
    require(t.is_string(), where + ": vocabulary tokens must be strings");
    const std::string s = t.get<std::string>();
    require(!v.index_.count(s), where + ": vocabulary token '" + s + "' appears twice");
    v.add(s);
  }
  auto special = [&](const char* key, const char* expected) {
    if (!j.contains(key)) return -1;
    require(j[key].is_number_integer(), where + ": vocabulary \"" + key + "\" must be an integer");
    const int id = j[key].get<int>();
    require(id == -1 || (id >= 0 && id < v.size() && v.tokens_[size_t(id)] == expected),
            where + ": vocabulary \"" + key + "\" = " + std::to_string(id) + " does not point at " + expected);
    return id;
  };
  v.pad_id_ = special("pad", kPad);
  v.unk_id_ = special("unk", kUnk);
  v.bos_id_ = special("bos", kBos);
  v.eos_id_ = special("eos", kEos);
  v.config_.pad = v.pad_id_ >= 0, v.config_.unk = v.unk_id_ >= 0;
  v.config_.bos = v.bos_id_ >= 0, v.config_.eos = v.eos_id_ >= 0;
  return v;
}

}  // namespace rnnkit
