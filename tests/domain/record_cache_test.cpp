#include "authd/domain/record_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace authd::domain {
namespace {

TEST(RecordCache, KeepsARecordOnlyForItsGenerationAndAge) {
  RecordCache<std::string> cache(8, 30);
  cache.Put("a", "alpha", 5, 1000);
  EXPECT_EQ(cache.Find("a", 5, 1000), "alpha");
  EXPECT_EQ(cache.Find("a", 5, 1029), "alpha");
  EXPECT_EQ(cache.Find("a", 5, 1030), std::nullopt);  // as old as the maximum age
  EXPECT_EQ(cache.Find("a", 5, 999), std::nullopt);   // the clock went back: not trusted
  EXPECT_EQ(cache.Find("a", 6, 1000), std::nullopt);  // another generation
  EXPECT_EQ(cache.Find("a", 0, 1000), std::nullopt);  // a change in flight
  EXPECT_EQ(cache.Find("b", 5, 1000), std::nullopt);
  cache.Put("a", "again", 6, 1001);  // read again in the new generation
  EXPECT_EQ(cache.Find("a", 6, 1001), "again");
  EXPECT_EQ(cache.Find("a", 5, 1001), std::nullopt);
}

TEST(RecordCache, KeepsNothingReadWhileAChangeWasInFlight) {
  RecordCache<std::string> cache(8, 30);
  cache.Put("a", "alpha", 0, 1000);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find("a", 0, 1000), std::nullopt);
}

TEST(RecordCache, IsBoundedByEmptyingWhenFull) {
  RecordCache<int> cache(3, 30);
  for (int i = 0; i < 3; ++i) cache.Put(std::to_string(i), i, 1, 0);
  EXPECT_EQ(cache.size(), 3u);
  cache.Put("1", 10, 1, 0);  // replacing a kept key takes no room
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find("1", 1, 0), 10);
  cache.Put("3", 3, 1, 0);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("3", 1, 0), 3);
  EXPECT_EQ(cache.Find("0", 1, 0), std::nullopt);
}

}  // namespace
}  // namespace authd::domain
