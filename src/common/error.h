// Errors: one exception type for everything a user can cause (bad files, bad flags, bad input),
// and DUET_CHECK for internal invariants. Both carry a message that names what is wrong.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace duet {

// A problem with the user's input (files, flags, requests). Caught at the edges (apps, server)
// and turned into a clear message and a non-zero exit or an error response.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str_cat(std::forward<Args>(args)...));
}

}  // namespace duet

// Internal invariant: a violation is a bug in duet, reported with its location.
#define DUET_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      throw ::duet::Error(::duet::str_cat("internal error at ", __FILE__, ":", __LINE__, \
                                          ": check failed: " #cond " " __VA_OPT__(, )    \
                                              __VA_ARGS__));                             \
    }                                                                                    \
  } while (0)
