// Vocabulary: tokens <-> ids, built from counts with a minimum count and a maximum size, with
// reserved special tokens first (by default <pad> = 0, <unk> = 1).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace rnnkit {

struct VocabConfig {
  int min_count = 1;
  int max_size = 0;  // 0: no limit; otherwise the total size including special tokens
  bool pad = true;   // reserve "<pad>" (the embedding's padding index)
  bool unk = true;   // reserve "<unk>" for tokens outside the vocabulary
  bool bos = false;  // reserve "<s>" (begin of sequence)
  bool eos = false;  // reserve "</s>" (end of sequence)
};

class Vocabulary {
 public:
  static constexpr const char* kPad = "<pad>";
  static constexpr const char* kUnk = "<unk>";
  static constexpr const char* kBos = "<s>";
  static constexpr const char* kEos = "</s>";

  explicit Vocabulary(const VocabConfig& config = {});

  // Adds the tokens of one sequence to the counts (before build()).
  void count(const std::vector<std::string>& tokens);
  // Adds another vocabulary's counts to these (counting in parts, e.g. one per thread, then adding up).
  void add_counts(const Vocabulary& other);
  // Keeps tokens with count >= min_count, most frequent first (ties by token), up to max_size.
  void build();
  // A vocabulary of exactly these tokens after the special ones (e.g. class labels, known vocabularies).
  void assign(const std::vector<std::string>& tokens);

  int size() const { return int(tokens_.size()); }
  int id(const std::string& token) const;  // unk_id() when absent (throws Error without <unk>)
  bool contains(const std::string& token) const { return index_.count(token) > 0; }
  const std::string& token(int id) const;  // throws Error when out of range
  const std::vector<std::string>& tokens() const { return tokens_; }
  std::vector<int32_t> encode(const std::vector<std::string>& tokens) const;
  std::vector<std::string> decode(const std::vector<int32_t>& ids) const;

  int pad_id() const { return pad_id_; }  // -1 when not reserved
  int unk_id() const { return unk_id_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int64_t count_of(const std::string& token) const;  // from counting; 0 after from_json
  // Share of counted tokens (with repeats) that the built vocabulary covers.
  double coverage() const;

  // {"tokens": [...], "pad": 0, "unk": 1, "bos": -1, "eos": -1}
  std::string to_json() const;
  static Vocabulary from_json(const std::string& json, const std::string& where);

 private:
  struct Empty {};
  explicit Vocabulary(Empty) {}
  void add_specials();
  int add(const std::string& token);

  VocabConfig config_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> index_;
  std::unordered_map<std::string, int64_t> counts_;
  int pad_id_ = -1, unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
};

}  // namespace rnnkit
