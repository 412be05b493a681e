// Per-source-address rate limiting for the public verification endpoints (SECURITY.md P8, H10):
// a token bucket per address, refilled at `rate` per second up to a burst of twice that. The
// table is bounded: when full, idle buckets are dropped first. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace authd::http {

class RateLimiter {
 public:
  // rate 0 turns limiting off.
  explicit RateLimiter(int64_t rate, size_t max_addresses = 100000);
  // 0 when the request may proceed (and takes a token); otherwise the seconds to wait.
  int64_t Acquire(const std::string& address, int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
  };
  int64_t rate_;
  double burst_;
  size_t max_addresses_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace authd::http
