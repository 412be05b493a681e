// Records kept in memory between requests so that a hot read (introspection's client and token)
// skips the store. An entry is used only while the store's change generation (Store::CacheStamp)
// is the one it was read at, which every change to a cached kind of record moves, whichever
// process makes it; and for at most `max_age_seconds`, which bounds what a change made outside
// authd's store (the sqlite3 shell) can leave behind. Bounded: when full it is emptied.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace authd::domain {

template <typename T>
class RecordCache {
 public:
  RecordCache(size_t capacity, int64_t max_age_seconds) : capacity_(capacity), max_age_(max_age_seconds) {}

  // The record kept under `key` if it was read at generation `stamp` (not 0) no longer than the
  // maximum age before `now`.
  std::optional<T> Find(std::string_view key, uint64_t stamp, int64_t now) const {
    if (stamp == 0) return std::nullopt;
    std::shared_lock lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.stamp != stamp || now < it->second.read_at ||
        now - it->second.read_at >= max_age_) {
      return std::nullopt;
    }
    return it->second.value;
  }

  // Keeps `value`, read at `now` inside a read that began at generation `stamp`. The caller has
  // checked that the generation is still `stamp` after the read.
  void Put(std::string_view key, T value, uint64_t stamp, int64_t now) {
    if (stamp == 0) return;
    std::unique_lock lock(mu_);
    if (map_.size() >= capacity_ && map_.find(key) == map_.end()) map_.clear();
    map_.insert_or_assign(std::string(key), Entry{std::move(value), stamp, now});
  }

  size_t size() const {
    std::shared_lock lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    T value;
    uint64_t stamp;
    int64_t read_at;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  const size_t capacity_;
  const int64_t max_age_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map_;
};

}  // namespace authd::domain
