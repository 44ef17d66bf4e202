// Dataset splits.
#include "rnnkit/data/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "rnnkit/core/error.h"

namespace rnnkit {

namespace {

void check_fractions(double valid, double test) {
  require(valid >= 0 && test >= 0 && valid + test < 1.0,
          "split fractions must be >= 0 and leave a training part: valid " + std::to_string(valid) + ", test " +
              std::to_string(test));
}

// Cuts `items` (in their order) into train / valid / test by the fractions.
void cut(const std::vector<size_t>& items, double valid, double test, Split& s) {
  const size_t n = items.size();
  const size_t n_test = size_t(std::llround(double(n) * test));
  const size_t n_valid = std::min(n - n_test, size_t(std::llround(double(n) * valid)));
  const size_t n_train = n - n_test - n_valid;
  s.train.insert(s.train.end(), items.begin(), items.begin() + n_train);
  s.valid.insert(s.valid.end(), items.begin() + n_train, items.begin() + n_train + n_valid);
  s.test.insert(s.test.end(), items.begin() + n_train + n_valid, items.end());
}

}  // namespace

Split split_random(size_t n, double valid, double test, uint64_t seed) {
  check_fractions(valid, test);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  Rng rng(seed);
  std::shuffle(order.begin(), order.end(), rng.engine());
  Split s;
  cut(order, valid, test, s);
  return s;
}

Split split_stratified(const std::vector<std::string>& labels, double valid, double test, uint64_t seed) {
  check_fractions(valid, test);
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < labels.size(); ++i) groups[labels[i]].push_back(i);
  Rng rng(seed);
  Split s;
  for (auto& [label, items] : groups) {
    std::shuffle(items.begin(), items.end(), rng.engine());
    cut(items, valid, test, s);
  }
  for (auto* part : {&s.train, &s.valid, &s.test}) std::shuffle(part->begin(), part->end(), rng.engine());
  return s;
}

Split split_by_time(size_t n, double valid, double test) {
  check_fractions(valid, test);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  Split s;
  cut(order, valid, test, s);
  return s;
}

}  // namespace rnnkit
