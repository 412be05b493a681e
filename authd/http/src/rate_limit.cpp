#include "authd/http/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace authd::http {

RateLimiter::RateLimiter(int64_t rate, size_t max_addresses)
    : rate_(rate), burst_(2.0 * static_cast<double>(rate)), max_addresses_(max_addresses) {}

int64_t RateLimiter::Acquire(const std::string& address, int64_t now_ms) {
  if (rate_ <= 0) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_addresses_) {
      // Drop every bucket that has refilled completely: it holds no information.
      std::erase_if(buckets_, [&](const auto& kv) {
        const double refill = static_cast<double>(now_ms - kv.second.at_ms) / 1000.0 * static_cast<double>(rate_);
        return kv.second.tokens + refill >= burst_;
      });
      if (buckets_.size() >= max_addresses_) return 1;  // still full: refuse newcomers briefly
    }
    it = buckets_.emplace(address, Bucket{burst_, now_ms}).first;
  }
  Bucket& b = it->second;
  const double elapsed = static_cast<double>(std::max<int64_t>(0, now_ms - b.at_ms)) / 1000.0;
  b.tokens = std::min(burst_, b.tokens + elapsed * static_cast<double>(rate_));
  b.at_ms = now_ms;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / static_cast<double>(rate_))));
}

}  // namespace authd::http
