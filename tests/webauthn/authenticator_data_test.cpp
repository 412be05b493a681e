#include "authd/webauthn/authenticator_data.h"

#include <gtest/gtest.h>

#include "webauthn/builders.h"

namespace authd::webauthn {
namespace {

using testing::AuthDataSpec;
using testing::MakeAuthData;

Bytes CoseP256() {
  auto key = testing::NewKey(cose::kES256);
  return *EncodeCoseKey(key.get(), cose::kES256);
}

TEST(AuthenticatorData, ParsesAnAssertionShape) {
  AuthDataSpec s;
  s.flags = flags::kUserPresent | flags::kUserVerified;
  s.sign_count = 0x01020304;
  auto ad = ParseAuthenticatorData(MakeAuthData(s));
  ASSERT_TRUE(ad) << ad.error().detail;
  EXPECT_EQ(ad->rp_id_hash, Sha256(AsBytes("localhost")));
  EXPECT_TRUE(ad->user_present());
  EXPECT_TRUE(ad->user_verified());
  EXPECT_FALSE(ad->backup_eligible());
  EXPECT_EQ(ad->sign_count, 0x01020304u);
  EXPECT_FALSE(ad->attested);
  EXPECT_EQ(ad->raw.size(), 37u);
}

TEST(AuthenticatorData, ParsesAttestedCredentialData) {
  AuthDataSpec s;
  s.credential_id = Bytes(1023, 0x11);
  s.cose_key = CoseP256();
  s.aaguid = Bytes(16, 0xAA);
  auto ad = ParseAuthenticatorData(MakeAuthData(s));
  ASSERT_TRUE(ad) << ad.error().detail;
  ASSERT_TRUE(ad->attested);
  EXPECT_EQ(ad->attested->credential_id.size(), 1023u);
  EXPECT_EQ(ad->attested->aaguid, Bytes(16, 0xAA));
  EXPECT_EQ(ad->attested->cose_key, s.cose_key);
}

TEST(AuthenticatorData, WA12_ShortTrailingAndDanglingFlagsAreMalformed) {
  AuthDataSpec s;
  Bytes base = MakeAuthData(s);
  EXPECT_EQ(ParseAuthenticatorData(ByteView(base).first(36)).code(), ErrorCode::kMalformedAuthData);
  Bytes trailing = base;
  trailing.push_back(0);
  EXPECT_EQ(ParseAuthenticatorData(trailing).code(), ErrorCode::kMalformedAuthData);
  s.flags |= flags::kExtensionData;  // ED set, nothing follows
  EXPECT_EQ(ParseAuthenticatorData(MakeAuthData(s)).code(), ErrorCode::kMalformedAuthData);
}

TEST(AuthenticatorData, WR10_AttestedDataMustMatchTheAtFlag) {
  AuthDataSpec s;
  s.flags = flags::kUserPresent | flags::kAttestedData;  // AT set, no data
  EXPECT_EQ(ParseAuthenticatorData(MakeAuthData(s)).code(), ErrorCode::kMalformedAuthData);
  AuthDataSpec with;
  with.credential_id = Bytes(16, 1);
  with.cose_key = CoseP256();
  Bytes data = MakeAuthData(with);
  data[32] &= static_cast<uint8_t>(~flags::kAttestedData);  // AT clear, data present
  EXPECT_EQ(ParseAuthenticatorData(data).code(), ErrorCode::kMalformedAuthData);
}

TEST(AuthenticatorData, ExtensionsMustBeOneCanonicalMap) {
  AuthDataSpec s;
  s.flags = flags::kUserPresent | flags::kExtensionData;
  s.extensions = *HexDecode("a16b6372656450726f7465637401");  // {"credProtect": 1}
  auto ad = ParseAuthenticatorData(MakeAuthData(s));
  ASSERT_TRUE(ad) << ad.error().detail;
  EXPECT_EQ(ad->extensions, s.extensions);
  s.extensions.push_back(0x00);  // trailing after the map
  EXPECT_EQ(ParseAuthenticatorData(MakeAuthData(s)).code(), ErrorCode::kMalformedAuthData);
  s.extensions = {0x80};  // an array, not a map
  EXPECT_EQ(ParseAuthenticatorData(MakeAuthData(s)).code(), ErrorCode::kMalformedAuthData);
}

TEST(AuthenticatorData, CredentialIdLengthIsBoundsChecked) {
  AuthDataSpec s;
  s.credential_id = Bytes(16, 1);
  s.cose_key = CoseP256();
  Bytes data = MakeAuthData(s);
  data[37 + 16] = 0xff;  // declared length 0xff10: far past the end
  EXPECT_EQ(ParseAuthenticatorData(data).code(), ErrorCode::kMalformedAuthData);
  data[37 + 16] = 0;
  data[37 + 17] = 0;  // zero length
  EXPECT_EQ(ParseAuthenticatorData(data).code(), ErrorCode::kMalformedAuthData);
}

TEST(AuthenticatorData, EveryTruncationOfAttestedDataIsMalformed) {
  AuthDataSpec s;
  s.credential_id = Bytes(20, 7);
  s.cose_key = CoseP256();
  Bytes data = MakeAuthData(s);
  ASSERT_TRUE(ParseAuthenticatorData(data));
  for (size_t n = 0; n < data.size(); ++n) {
    auto r = ParseAuthenticatorData(ByteView(data).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.code(), ErrorCode::kMalformedAuthData) << n;
  }
}

TEST(AuthenticatorData, Step17_BackupStateWithoutEligibilityIsInvalid) {
  AuthDataSpec s;
  s.flags = flags::kUserPresent | flags::kBackupState;
  auto bad = ParseAuthenticatorData(MakeAuthData(s));
  ASSERT_TRUE(bad);
  EXPECT_EQ(CheckBackupFlags(*bad).code(), ErrorCode::kInvalidFlags);
  s.flags |= flags::kBackupEligible;
  EXPECT_TRUE(CheckBackupFlags(*ParseAuthenticatorData(MakeAuthData(s))));
}

}  // namespace
}  // namespace authd::webauthn
