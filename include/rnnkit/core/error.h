// The one exception type rnnkit throws: a message that names the values and the place.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

namespace rnnkit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error(message) when `condition` is false. For checks of user input, not internal invariants.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}
// A literal message costs nothing until it is needed (no std::string is built on success).
inline void require(bool condition, const char* message) {
  if (!condition) throw Error(message);
}

// The same with the message built only on failure, for checks on paths that run per step or per
// token: require(ok, [&] { return "token " + std::to_string(id) + ...; }).
template <typename MakeMessage>
  requires std::is_invocable_r_v<std::string, MakeMessage>
inline void require(bool condition, MakeMessage&& make_message) {
  if (!condition) throw Error(make_message());
}

}  // namespace rnnkit
