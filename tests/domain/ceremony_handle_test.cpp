// Sealed WebAuthn ceremony handles: what goes in comes out, and anything not sealed by this
// keyring, changed, cut short or padded is an unknown ceremony.
#include "authd/domain/ceremony_handle.h"

#include <gtest/gtest.h>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"

namespace authd::domain {
namespace {

Ceremony Sample() {
  Ceremony c;
  c.id = NewCeremonyId();
  c.kind = "authentication";
  c.user_id = "0f3c2a";
  c.challenge = RandomBytes(32);
  c.client_id = "app-1";
  c.user_verification = "preferred";
  c.actor = "user:alice";
  c.appid = "https://example.org/appid.json";
  c.allowed = {AllowedCredentialDigest("a1"), AllowedCredentialDigest("b2")};
  c.created_at = 1790000000;
  c.expires_at = 1790000300;
  return c;
}

class CeremonyHandleTest : public ::testing::Test {
 protected:
  Keyring keyring_{SecretBytes(RandomBytes(kMasterKeySize))};
};

TEST_F(CeremonyHandleTest, RoundTripsEveryField) {
  Ceremony in = Sample();
  in.kind = "registration";
  in.enrollment_code_hash = Sha256(AsBytes("CODE-1234"));
  auto out = OpenCeremony(keyring_, SealCeremony(keyring_, in));
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->id, in.id);
  EXPECT_EQ(out->kind, "registration");
  EXPECT_EQ(out->user_id, in.user_id);
  EXPECT_EQ(out->challenge, in.challenge);
  EXPECT_EQ(out->client_id, in.client_id);
  EXPECT_EQ(out->user_verification, in.user_verification);
  EXPECT_EQ(out->enrollment_code_hash, in.enrollment_code_hash);
  EXPECT_EQ(out->actor, in.actor);
  EXPECT_EQ(out->appid, in.appid);
  EXPECT_EQ(out->allowed, in.allowed);
  EXPECT_EQ(out->created_at, in.created_at);
  EXPECT_EQ(out->expires_at, in.expires_at);
}

TEST_F(CeremonyHandleTest, TwoCeremoniesNeverShareAnIdOrAHandle) {
  Ceremony a = Sample(), b = Sample();
  b.challenge = a.challenge;
  EXPECT_NE(a.id, b.id);
  EXPECT_NE(SealCeremony(keyring_, a), SealCeremony(keyring_, a));  // a fresh nonce each time
}

TEST_F(CeremonyHandleTest, AnythingAlteredIsAnUnknownCeremony) {
  const std::string handle = SealCeremony(keyring_, Sample());
  auto refused = [&](const std::string& h) {
    auto r = OpenCeremony(keyring_, h);
    return !r && r.code() == ErrorCode::kChallengeUnknown;
  };
  for (size_t i = 0; i < handle.size(); i += 7) {
    std::string t = handle;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_TRUE(refused(t)) << "changed at " << i;
  }
  EXPECT_TRUE(refused(handle.substr(0, handle.size() - 1)));
  EXPECT_TRUE(refused(handle.substr(0, 20)));
  EXPECT_TRUE(refused(handle + "AAAA"));
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("not base64 !"));
  EXPECT_TRUE(refused(std::string(kMaxCeremonyHandle + 1, 'A')));
  // Sealed under another master key (another deployment), or as another kind of sealed value.
  Keyring other{SecretBytes(RandomBytes(kMasterKeySize))};
  EXPECT_TRUE(refused(SealCeremony(other, Sample())));
  EXPECT_TRUE(refused(Base64UrlEncode(keyring_.Seal(RandomBytes(64), "webauthn.ceremony v1 "))));
  // Well sealed but not a ceremony's layout.
  EXPECT_TRUE(refused(Base64UrlEncode(keyring_.Seal(RandomBytes(64), "webauthn.ceremony v1"))));
}

TEST_F(CeremonyHandleTest, DigestsAreShortAndDistinct) {
  EXPECT_EQ(AllowedCredentialDigest("abc").size(), 16u);
  EXPECT_NE(AllowedCredentialDigest("abc"), AllowedCredentialDigest("abd"));
}

}  // namespace
}  // namespace authd::domain
