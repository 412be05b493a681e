#include "authd/webauthn/cbor.h"

#include <gtest/gtest.h>

#include "authd/base/encoding.h"

namespace authd::webauthn {
namespace {

Bytes Hex(std::string_view h) {
  auto b = HexDecode(h);
  EXPECT_TRUE(b.has_value()) << h;
  return b.value_or(Bytes{});
}

ErrorCode CodeOf(std::string_view hex, bool trailing = false) {
  auto r = DecodeCbor(Hex(hex), trailing);
  return r ? ErrorCode::kInternal : r.code();
}

// {"fmt": "none", "attStmt": {}, "authData": h'00010203'} in CTAP2 canonical order.
constexpr std::string_view kAttestationLike = "a363666d74646e6f6e656761747453746d74a068617574684461746144" "00010203";

TEST(Cbor, DecodesCanonicalMapsAndReadsFields) {
  auto r = DecodeCbor(Hex(kAttestationLike));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(*CborText(MapFind(r->item.get(), "fmt")), "none");
  EXPECT_EQ(*CborBytes(MapFind(r->item.get(), "authData")), (Bytes{0, 1, 2, 3}));
  EXPECT_EQ(MapFind(r->item.get(), "missing"), nullptr);
  // COSE-style integer keys: {1: 2, 3: -7, -1: 1}
  auto k = DecodeCbor(Hex("a3010203262001"));
  ASSERT_TRUE(k) << k.error().detail;
  EXPECT_EQ(*CborInt(MapFind(k->item.get(), int64_t{1})), 2);
  EXPECT_EQ(*CborInt(MapFind(k->item.get(), int64_t{3})), -7);
  EXPECT_EQ(*CborInt(MapFind(k->item.get(), int64_t{-1})), 1);
}

TEST(Cbor, WR20_DuplicateKeysAreMalformed) {
  EXPECT_EQ(CodeOf("a201020103"), ErrorCode::kMalformedCbor);
  EXPECT_EQ(CodeOf("a263666d74616163666d746162"), ErrorCode::kMalformedCbor);  // two "fmt"
}

TEST(Cbor, WR21_NonCanonicalOrderAndWidthsAreRefused) {
  EXPECT_EQ(CodeOf("a203010102"), ErrorCode::kNonCanonicalCbor);  // keys 3 then 1
  EXPECT_EQ(CodeOf("a26161010102"), ErrorCode::kNonCanonicalCbor);  // text key before int key
  EXPECT_EQ(CodeOf("1805"), ErrorCode::kNonCanonicalCbor);          // 5 in one extra byte
  EXPECT_EQ(CodeOf("190005"), ErrorCode::kNonCanonicalCbor);
  EXPECT_EQ(CodeOf("1a00000100"), ErrorCode::kNonCanonicalCbor);
  EXPECT_EQ(CodeOf("1b00000000ffffffff"), ErrorCode::kNonCanonicalCbor);  // fits in four bytes
  EXPECT_EQ(CodeOf("5801ff"), ErrorCode::kNonCanonicalCbor);        // length 1 in a long header
  EXPECT_TRUE(DecodeCbor(Hex("1818")));                              // 24 needs the extra byte
  EXPECT_TRUE(DecodeCbor(Hex("1b0000000100000000")));  // 2^32 needs eight bytes
}

TEST(Cbor, WR22_IndefiniteTagsAndFloatsAreMalformed) {
  for (const char* hex : {"5f4100ff", "9fff", "bfff", "7f6161ff", "c11a514b67b0", "f93c00", "fa3f800000", "f7",
                          "e0", "fc", "1c"}) {
    EXPECT_EQ(CodeOf(hex), ErrorCode::kMalformedCbor) << hex;
  }
  EXPECT_TRUE(DecodeCbor(Hex("f5")));  // true
  EXPECT_TRUE(DecodeCbor(Hex("f6")));  // null
}

TEST(Cbor, WR23_NestingBeyondFourLevelsIsRefusedWithoutRecursionBlowUp) {
  EXPECT_TRUE(DecodeCbor(Hex("8181818100")));
  EXPECT_EQ(CodeOf("818181818100"), ErrorCode::kMalformedCbor);
  Bytes deep(100000, 0x81);
  deep.push_back(0);
  auto r = DecodeCbor(deep, false, CborLimits{200000, 4, 4096});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kMalformedCbor);
}

TEST(Cbor, WR24_DeclaredLengthsBeyondTheInputAreRefused) {
  EXPECT_EQ(CodeOf("5affffffff00"), ErrorCode::kMalformedCbor);              // 4 GiB byte string
  EXPECT_EQ(CodeOf("5b7fffffffffffffff00"), ErrorCode::kMalformedCbor);      // 2^63
  EXPECT_EQ(CodeOf("9bffffffffffffffff00"), ErrorCode::kMalformedCbor);      // array of 2^64-1
  EXPECT_EQ(CodeOf("bbffffffffffffffff0000"), ErrorCode::kMalformedCbor);    // map of 2^64-1
  EXPECT_EQ(CodeOf("7a0000ffff61"), ErrorCode::kMalformedCbor);              // text
}

TEST(Cbor, WR19_EveryTruncationIsMalformed) {
  Bytes whole = Hex(kAttestationLike);
  ASSERT_TRUE(DecodeCbor(whole));
  for (size_t n = 0; n < whole.size(); ++n) {
    auto r = DecodeCbor(ByteView(whole).first(n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes";
    EXPECT_EQ(r.code(), ErrorCode::kMalformedCbor) << n;
  }
}

TEST(Cbor, TrailingBytesAreRefusedUnlessAsked) {
  Bytes data = Hex("a10102" "a0");
  EXPECT_EQ(DecodeCbor(data).code(), ErrorCode::kMalformedCbor);
  auto r = DecodeCbor(data, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, 3u);
}

TEST(Cbor, TextMustBeValidUtf8) {
  EXPECT_EQ(CodeOf("62c328"), ErrorCode::kMalformedCbor);    // bad continuation
  EXPECT_EQ(CodeOf("62c0af"), ErrorCode::kMalformedCbor);    // overlong
  EXPECT_EQ(CodeOf("63eda080"), ErrorCode::kMalformedCbor);  // surrogate
  EXPECT_TRUE(DecodeCbor(Hex("62c3a9")));                    // é
}

TEST(Cbor, TypedReadsRefuseOtherTypes) {
  auto r = DecodeCbor(Hex("a20161610240"));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_FALSE(CborInt(MapFind(r->item.get(), int64_t{1})));
  EXPECT_FALSE(CborBytes(MapFind(r->item.get(), int64_t{1})));
  EXPECT_EQ(*CborText(MapFind(r->item.get(), int64_t{1})), "a");
  EXPECT_EQ(CborBytes(MapFind(r->item.get(), int64_t{2}))->size(), 0u);
  EXPECT_EQ(MapFind(MapFind(r->item.get(), int64_t{1}), int64_t{1}), nullptr);
}

TEST(Cbor, SizeLimitIsCheckedFirst) {
  Bytes big(70 * 1024, 0x00);
  EXPECT_EQ(DecodeCbor(big).code(), ErrorCode::kMalformedCbor);
  EXPECT_EQ(DecodeCbor(Bytes{}).code(), ErrorCode::kMalformedCbor);
}

}  // namespace
}  // namespace authd::webauthn
