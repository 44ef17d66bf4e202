// The one exception type rnnkit throws: a message that names the values and the place.
#pragma once

#include <stdexcept>
#include <string>

namespace rnnkit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error(message) when `condition` is false. For checks of user input, not internal invariants.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace rnnkit
