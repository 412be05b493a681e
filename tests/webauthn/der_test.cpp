#include "authd/webauthn/der.h"

#include <gtest/gtest.h>

#include "authd/base/encoding.h"

namespace authd::webauthn::der {
namespace {

Bytes Hex(std::string_view h) { return HexDecode(h).value_or(Bytes{}); }

TEST(Der, ReadsLowAndHighTagNumbers) {
  Bytes in = Hex("020105bf853e03020100");  // INTEGER 5, [702] { INTEGER 0 }
  size_t pos = 0;
  auto a = Read(in, pos);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->tag, 2u);
  EXPECT_EQ(*Unsigned(*a), 5u);
  auto b = Read(in, pos);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->tag_class, 2);
  EXPECT_TRUE(b->constructed);
  EXPECT_EQ(b->tag, 702u);
  EXPECT_EQ(pos, in.size());
}

TEST(Der, RefusesNonMinimalIndefiniteAndOverlongLengths) {
  for (const char* hex : {"04810100", "0480", "0482000100", "04850000000001", "0405aabb", "1f8001", "1f1e00"}) {
    Bytes in = Hex(hex);
    size_t pos = 0;
    EXPECT_FALSE(Read(in, pos)) << hex;
  }
}

TEST(Der, IntegersMustBeMinimalAndNonNegative) {
  auto read = [](const char* hex) {
    Bytes in = Hex(hex);
    size_t pos = 0;
    auto t = Read(in, pos);
    return t ? Unsigned(*t) : std::nullopt;
  };
  EXPECT_EQ(read("020100"), 0u);
  EXPECT_EQ(read("02020080"), 128u);
  EXPECT_FALSE(read("02020001"));  // leading zero not needed
  EXPECT_FALSE(read("0201ff"));    // negative
  EXPECT_FALSE(read("0200"));      // empty
}

TEST(Der, EveryTruncationIsRefused) {
  Bytes in = Hex("300a020103bf853e03020100");  // SEQUENCE { INTEGER 3, [702] { INTEGER 0 } }
  size_t pos = 0;
  ASSERT_TRUE(Read(in, pos));
  ASSERT_EQ(pos, in.size());
  for (size_t n = 0; n < in.size(); ++n) {
    size_t p = 0;
    EXPECT_FALSE(Read(ByteView(in).first(n), p)) << n;
  }
}

}  // namespace
}  // namespace authd::webauthn::der
