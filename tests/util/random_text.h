// Reproducible random strings for property tests: the same seed gives the same strings on every
// machine (a fixed linear congruential generator, not the standard library's engines).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace authd::testing {

class RandomText {
 public:
  explicit RandomText(uint32_t seed) : state_(seed) {}
  // Up to `max_len - 1` characters, each drawn from `alphabet`.
  std::string Next(std::string_view alphabet, size_t max_len) {
    std::string out;
    const size_t n = Draw() % max_len;
    for (size_t k = 0; k < n; ++k) out.push_back(alphabet[Draw() % alphabet.size()]);
    return out;
  }

 private:
  uint32_t Draw() {
    state_ = state_ * 1103515245 + 12345;
    return state_ >> 16;
  }
  uint32_t state_;
};

}  // namespace authd::testing
