// Time as a parameter: pure code takes a Clock so tests can set it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace authd {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() const = 0;
  int64_t NowSeconds() const { return NowMillis() / 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
};

// A clock that tests move by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t millis = 1'700'000'000'000) : now_(millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Set(int64_t millis) { now_.store(millis); }
  void AdvanceSeconds(int64_t s) { now_.fetch_add(s * 1000); }

 private:
  std::atomic<int64_t> now_;
};

// RFC 3339 UTC, whole seconds: "2026-11-24T07:19:32Z".
std::string Rfc3339(int64_t unix_seconds);

}  // namespace authd
