// Train / validation / test splits: seeded random, stratified by label, or by time (no look-ahead).
#pragma once

#include <string>
#include <vector>

#include "rnnkit/core/rng.h"

namespace rnnkit {

struct Split {
  std::vector<size_t> train, valid, test;
};

// Fractions valid and test of n items (the rest is train); counts rounded to nearest.
Split split_random(size_t n, double valid, double test, uint64_t seed);
// The same fractions within every label, so each part keeps the label proportions.
Split split_stratified(const std::vector<std::string>& labels, double valid, double test, uint64_t seed);
// In order: the first items train, then valid, then the last items test.
Split split_by_time(size_t n, double valid, double test);

}  // namespace rnnkit
