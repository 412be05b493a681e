#include "authd/base/json.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "authd/base/encoding.h"

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

// The writer's strings are DumpJson's, byte for byte: escapes, raw non-ASCII, and invalid UTF-8
// replaced the library's way.
TEST(JsonObjectWriter, StringsAreWrittenExactlyAsDumpJsonWritesThem) {
  std::vector<std::string> cases = {"", "a", "\"", "\\", "a\"b\\c", "\x7f", "é", "€", "\xF0\x9F\x98\x80",
                                    "\xC0\x80", "\xED\xA0\x80", "\xFF", "\xE2\x82", "ok\xE2\x82", "\xF4\x90\x80\x80",
                                    std::string("nul\0inside", 10)};
  for (int c = 0; c < 0x20; ++c) cases.push_back(std::string(1, static_cast<char>(c)) + "x");
  std::mt19937 rng(20261125);
  const std::string alphabet = std::string("ab\"\\\n\t\x01\x1f\x7f") + "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xFF\xC0\xED";
  for (int i = 0; i < 5000; ++i) {
    std::string t;
    const size_t n = rng() % 12;
    for (size_t k = 0; k < n; ++k) t.push_back(alphabet[rng() % alphabet.size()]);
    cases.push_back(t);
  }
  for (const std::string& t : cases) {
    std::string out;
    AppendJsonString(out, t);
    ASSERT_EQ(out, DumpJson(Json(t))) << HexEncode(AsBytes(t));
  }
}

TEST(JsonObjectWriter, AnObjectInSortedOrderIsDumpJsonsObject) {
  const std::vector<std::string> amr = {"hwk", "pin"};
  std::string written = JsonObjectWriter()
                            .Bool("active", true)
                            .Strings("amr", amr)
                            .Strings("empty", {})
                            .Int("exp", -42)
                            .Bool("no", false)
                            .String("sub", "al\"ice\n")
                            .Finish();
  Json expected = {{"active", true}, {"amr", amr}, {"empty", Json::array()}, {"exp", -42}, {"no", false},
                   {"sub", "al\"ice\n"}};
  EXPECT_EQ(written, DumpJson(expected));
  EXPECT_EQ(JsonObjectWriter().Finish(), "{}");
  const std::string nested =
      JsonObjectWriter().Object("a", JsonObjectWriter().Int("x", 1).Finish()).Object("b", "{}").Finish();
  EXPECT_EQ(nested, DumpJson(Json{{"a", {{"x", 1}}}, {"b", Json::object()}}));
  const std::string listed = JsonObjectWriter()
                                 .Objects("none", {})
                                 .Objects("two", {JsonObjectWriter().String("id", "a").Finish(), "{}"})
                                 .Finish();
  EXPECT_EQ(listed, DumpJson(Json{{"none", Json::array()}, {"two", Json::array({{{"id", "a"}}, Json::object()})}}));
  auto parsed = ParseJsonStrict(written);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, expected);
}

TEST(Utf8, WellFormedOnly) {
  EXPECT_TRUE(IsUtf8(AsBytes("")));
  EXPECT_TRUE(IsUtf8(AsBytes("plain é € \xF0\x9F\x98\x80")));
  EXPECT_TRUE(IsUtf8(AsBytes("\xF4\x8F\xBF\xBF")));   // U+10FFFF
  EXPECT_FALSE(IsUtf8(AsBytes("\xC0\x80")));          // overlong NUL
  EXPECT_FALSE(IsUtf8(AsBytes("\xE0\x80\xAF")));      // overlong '/'
  EXPECT_FALSE(IsUtf8(AsBytes("\xED\xA0\x80")));      // a surrogate
  EXPECT_FALSE(IsUtf8(AsBytes("\xF4\x90\x80\x80")));  // past U+10FFFF
  EXPECT_FALSE(IsUtf8(AsBytes("\xE2\x82")));          // cut short
  EXPECT_FALSE(IsUtf8(AsBytes("\x80")));              // a lone continuation byte
  EXPECT_FALSE(IsUtf8(AsBytes("\xFF")));
}

}  // namespace
}  // namespace authd
