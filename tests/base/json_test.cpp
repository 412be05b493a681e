#include "authd/base/json.h"

#include <gtest/gtest.h>

namespace authd {
namespace {

TEST(ParseJsonStrict, AcceptsOrdinaryDocuments) {
  auto j = ParseJsonStrict(R"({"a":1,"b":[true,null,"x"],"c":{"d":-2.5}})");
  ASSERT_TRUE(j) << j.error().detail;
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"][2], "x");
  EXPECT_EQ((*j)["c"]["d"], -2.5);
}

TEST(ParseJsonStrict, RefusesDuplicateKeysAtAnyDepth) {
  EXPECT_FALSE(ParseJsonStrict(R"({"challenge":"a","challenge":"b"})"));
  EXPECT_FALSE(ParseJsonStrict(R"({"x":{"k":1,"k":1}})"));
  EXPECT_TRUE(ParseJsonStrict(R"({"x":{"k":1},"y":{"k":1}})"));
}

TEST(ParseJsonStrict, RefusesDeepNesting) {
  std::string deep(100000, '[');
  EXPECT_FALSE(ParseJsonStrict(deep));
  std::string ok = std::string(31, '[') + std::string(31, ']');
  EXPECT_TRUE(ParseJsonStrict(ok));
  std::string too = std::string(33, '[') + std::string(33, ']');
  EXPECT_FALSE(ParseJsonStrict(too));
}

TEST(ParseJsonStrict, RefusesBadTextAndNumbers) {
  EXPECT_FALSE(ParseJsonStrict("{\"a\":\"\xff\"}"));           // invalid UTF-8
  EXPECT_FALSE(ParseJsonStrict("{\"a\":\"\xc0\xaf\"}"));       // overlong encoding
  EXPECT_FALSE(ParseJsonStrict(R"({"a":"\ud800"})"));          // lone surrogate
  EXPECT_FALSE(ParseJsonStrict(R"({"a":"x\u0000y"})"));        // NUL
  EXPECT_FALSE(ParseJsonStrict(R"({"a":1e999999})"));          // not finite
  EXPECT_FALSE(ParseJsonStrict("{\"a\":1} trailing"));
  EXPECT_FALSE(ParseJsonStrict("\xef\xbb\xbf{}"));              // byte order mark
  EXPECT_FALSE(ParseJsonStrict(""));
  JsonLimits small;
  small.max_bytes = 10;
  EXPECT_FALSE(ParseJsonStrict(R"({"aaaaaaaaaa":1})", small));
  small = JsonLimits{};
  small.max_string = 4;
  EXPECT_FALSE(ParseJsonStrict(R"({"a":"12345"})", small));
}

TEST(JsonFields, TypedAccess) {
  Json j = *ParseJsonStrict(R"({"s":"v","n":5,"big":99999999999,"neg":-1,"wrong":[1]})");
  EXPECT_EQ(*RequiredString(j, "s"), "v");
  EXPECT_FALSE(RequiredString(j, "missing"));
  EXPECT_FALSE(RequiredString(j, "n"));
  EXPECT_EQ(*OptionalString(j, "missing", "d"), "d");
  EXPECT_FALSE(OptionalString(j, "s", "", 0));
  EXPECT_EQ(*OptionalInt(j, "n", 0, 0, 10), 5);
  EXPECT_FALSE(OptionalInt(j, "big", 0, 0, 100));
  EXPECT_FALSE(OptionalInt(j, "neg", 0, 0, 100));
  EXPECT_FALSE(OptionalInt(j, "wrong", 0, 0, 100));
  EXPECT_EQ(*OptionalInt(j, "missing", 7, 0, 100), 7);
}

}  // namespace
}  // namespace authd
