// Rng: the seeded random source for initialisation, dropout and shuffling.
#pragma once

#include <cstdint>
#include <random>

namespace rnnkit {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(engine_); }
  uint64_t next() { return engine_(); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace rnnkit
