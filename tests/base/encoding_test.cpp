#include "authd/base/encoding.h"

#include <gtest/gtest.h>

namespace authd {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
  Bytes data;
  for (int i = 0; i < 70; ++i) {
    std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find('='), std::string::npos);
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(*dec, data);
    data.push_back(static_cast<uint8_t>(i * 37 + 1));
  }
}

TEST(Base64Url, Rfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(AsBytes("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(AsBytes("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foob")), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64Url, RefusesPaddingStandardAlphabetAndNonCanonicalBits) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());  // low bits set: not canonical
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());   // 1 mod 4
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").has_value());
  EXPECT_TRUE(Base64UrlDecode("").has_value());
}

TEST(Base64, StandardWithPadding) {
  EXPECT_EQ(Base64Encode(AsBytes("fo")), "Zm8=");
  auto d = Base64Decode("Zm8=");
  ASSERT_TRUE(d);
  EXPECT_EQ(AsChars(*d), "fo");
  EXPECT_FALSE(Base64Decode("Zm8").has_value());
  EXPECT_FALSE(Base64Decode("Zm-_").has_value());
}

TEST(Hex, RoundTripAndRefusals) {
  EXPECT_EQ(HexEncode(Bytes{0x00, 0xab, 0xff}), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), (Bytes{0x00, 0xab, 0xff}));
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(CrockfordBase32, AlphabetAndOrder) {
  EXPECT_EQ(CrockfordBase32Encode(Bytes{0, 0, 0, 0, 0}), "00000000");
  EXPECT_EQ(CrockfordBase32Encode(Bytes{0xff, 0xff, 0xff, 0xff, 0xff}), "ZZZZZZZZ");
  // 0x08 0x42 0x10 0x84 0x21 is the 5-bit groups 1,1,1,...: every character "1".
  EXPECT_EQ(CrockfordBase32Encode(Bytes{0x08, 0x42, 0x10, 0x84, 0x21}), "11111111");
  // No I, L, O or U; and the text sorts as the bytes do.
  std::string all = CrockfordBase32Encode(Bytes{0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf,
                                               0x84, 0x65, 0x3a, 0x56, 0xd7, 0xc6, 0x75, 0xbe, 0x77, 0xdf});
  EXPECT_EQ(all, "0123456789ABCDEFGHJKMNPQRSTVWXYZ");
  EXPECT_LT(CrockfordBase32Encode(Bytes{0x7f, 0xff}), CrockfordBase32Encode(Bytes{0x80, 0x00}));
}

TEST(Base32, Rfc4648Vectors) {
  EXPECT_EQ(Base32Encode(AsBytes("foobar")), "MZXW6YTBOI");
  EXPECT_EQ(Base32Encode(AsBytes("12345678901234567890")), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  auto d = Base32Decode("mzxw6ytboi");
  ASSERT_TRUE(d);
  EXPECT_EQ(AsChars(*d), "foobar");
  EXPECT_FALSE(Base32Decode("MZXW1").has_value());
}

}  // namespace
}  // namespace authd
