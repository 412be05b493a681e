#include "authd/webauthn/client_data.h"

#include <gtest/gtest.h>

#include "webauthn/builders.h"

namespace authd::webauthn {
namespace {

using testing::ClientDataJson;

const Bytes kChallenge = Bytes(32, 0x5a);
const OriginPolicy kPolicy{{"https://login.example.org"}, false, {}};

Result<CollectedClientData> Parse(const std::string& json) { return ParseClientData(AsBytes(json)); }

TEST(ClientData, Step5_StripsBomButHashesTheRawBytes) {
  std::string json = ClientDataJson("webauthn.create", kChallenge, "https://login.example.org");
  auto plain = Parse(json);
  auto bom = Parse("\xef\xbb\xbf" + json);
  ASSERT_TRUE(plain && bom);
  EXPECT_EQ(bom->origin, "https://login.example.org");
  EXPECT_EQ(plain->hash, Sha256(AsBytes(json)));
  EXPECT_NE(bom->hash, plain->hash);  // the hash is over what was sent, BOM included
}

TEST(ClientData, Step5_RefusesInvalidUtf8) {
  auto r = Parse("{\"type\":\"webauthn.create\",\"challenge\":\"WlpaWg\",\"origin\":\"https://a\xff\"}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kBadClientData);
}

TEST(ClientData, Step6_WR25_RefusesParserDifferentials) {
  std::string c = Base64UrlEncode(kChallenge);
  for (const std::string& bad : {
           "{\"type\":\"webauthn.create\",\"challenge\":\"" + c + "\",\"challenge\":\"AAAA\",\"origin\":\"https://x\"}",
           std::string("{\"type\":\"webauthn.create\",\"challenge\":12,\"origin\":\"https://x\"}"),
           "{\"type\":\"webauthn.create\",\"challenge\":\"" + c + "==\",\"origin\":\"https://x\"}",
           "{\"type\":\"webauthn.create\",\"challenge\":\"" + c + "\"}",
           "{\"type\":\"webauthn.create\",\"challenge\":\"" + c + "\",\"origin\":\"https://x\",\"crossOrigin\":\"no\"}",
           "{\"type\":\"webauthn.create\",\"challenge\":\"" + c + "\",\"origin\":\"https://x\",\"topOrigin\":1}",
           std::string("[]"), std::string(""), std::string(9000, ' ')}) {
    auto r = Parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.code(), ErrorCode::kBadClientData) << bad;
  }
}

TEST(ClientData, Step7_TypeMustMatch) {
  auto c = Parse(ClientDataJson("webauthn.get", kChallenge, "https://login.example.org"));
  ASSERT_TRUE(c);
  EXPECT_TRUE(CheckType(*c, "webauthn.get"));
  EXPECT_EQ(CheckType(*c, "webauthn.create").code(), ErrorCode::kTypeMismatch);
}

TEST(ClientData, Step8_ChallengeMustMatch) {
  auto c = Parse(ClientDataJson("webauthn.create", kChallenge, "https://login.example.org"));
  ASSERT_TRUE(c);
  EXPECT_TRUE(CheckChallenge(*c, kChallenge));
  Bytes other = kChallenge;
  other.back() ^= 1;
  EXPECT_EQ(CheckChallenge(*c, other).code(), ErrorCode::kChallengeMismatch);
  EXPECT_EQ(CheckChallenge(*c, ByteView(kChallenge).first(16)).code(), ErrorCode::kChallengeMismatch);
}

TEST(ClientData, Step9_WR02_OriginIsAnExactMatch) {
  auto good = Parse(ClientDataJson("webauthn.create", kChallenge, "https://login.example.org"));
  EXPECT_TRUE(CheckOrigin(*good, kPolicy));
  for (const char* o : {"https://evil.example", "http://login.example.org", "https://login.example.org:8443",
                        "https://login.example.org.evil.com", "https://LOGIN.example.org", "https://login.example.org/"}) {
    auto c = Parse(ClientDataJson("webauthn.create", kChallenge, o));
    ASSERT_TRUE(c) << o;
    EXPECT_EQ(CheckOrigin(*c, kPolicy).code(), ErrorCode::kOriginMismatch) << o;
  }
}

TEST(ClientData, Step10_CrossOriginIsRefusedUnlessExpected) {
  auto c = Parse(ClientDataJson("webauthn.create", kChallenge, "https://login.example.org", ",\"crossOrigin\":true"));
  ASSERT_TRUE(c);
  EXPECT_EQ(CheckCrossOrigin(*c, kPolicy).code(), ErrorCode::kCrossOriginUnexpected);
  OriginPolicy iframes = kPolicy;
  iframes.allow_cross_origin = true;
  EXPECT_TRUE(CheckCrossOrigin(*c, iframes));
  auto f = Parse(ClientDataJson("webauthn.create", kChallenge, "https://login.example.org", ",\"crossOrigin\":false"));
  EXPECT_TRUE(CheckCrossOrigin(*f, kPolicy));
}

TEST(ClientData, Step11_TopOriginMustBeListed) {
  auto c = Parse(ClientDataJson("webauthn.create", kChallenge, "https://login.example.org",
                                ",\"crossOrigin\":true,\"topOrigin\":\"https://portal.example.org\""));
  ASSERT_TRUE(c);
  OriginPolicy iframes = kPolicy;
  iframes.allow_cross_origin = true;
  EXPECT_EQ(CheckCrossOrigin(*c, iframes).code(), ErrorCode::kTopOriginMismatch);
  iframes.top_origins = {"https://portal.example.org"};
  EXPECT_TRUE(CheckCrossOrigin(*c, iframes));
  EXPECT_EQ(CheckCrossOrigin(*c, kPolicy).code(), ErrorCode::kCrossOriginUnexpected);
}

TEST(ClientData, UnknownMembersAreTolerated) {
  // §5.8.1.2: future members must be ignored by relying parties.
  auto c = Parse(ClientDataJson("webauthn.get", kChallenge, "https://login.example.org",
                                ",\"other_keys_can_be_added_here\":\"do not compare clientDataJSON against a template\""));
  EXPECT_TRUE(c);
}

TEST(ClientData, EveryTruncationIsRefused) {
  std::string json = ClientDataJson("webauthn.get", kChallenge, "https://login.example.org");
  for (size_t n = 0; n < json.size(); ++n) {
    auto r = Parse(json.substr(0, n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.code(), ErrorCode::kBadClientData);
  }
}

}  // namespace
}  // namespace authd::webauthn
