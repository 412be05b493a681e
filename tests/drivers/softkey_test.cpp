// The software authenticator driven by libfido2's real code through its I/O hooks, and its
// answers checked by authd's own WebAuthn verification (webauthn/), plus CTAPHID framing rules
// checked frame by frame.

#include "authd/drivers/softkey.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/drivers/fido_device.h"
#include "authd/webauthn/ceremony.h"
#include "authd/webauthn/u2f.h"
#include "util/temp_dir.h"

namespace authd::drivers {
namespace {

constexpr const char* kOrigin = "https://login.example.org";

class SoftKeyTest : public ::testing::Test {
 protected:
  std::string Path() const { return "soft:" + dir_.File("key.json"); }
  std::unique_ptr<FidoDevice> Open() {
    auto d = FidoDevice::Open(Path());
    EXPECT_TRUE(d) << d.error().detail;
    return d ? std::move(d.value()) : nullptr;
  }
  Json CreationOptions(int64_t alg = webauthn::cose::kES256, std::string resident = "discouraged") {
    challenge_ = RandomBytes(32);
    return {{"rp", {{"id", "example.org"}, {"name", "Example"}}},
            {"user", {{"id", Base64UrlEncode(user_id_)}, {"name", "alice"}, {"displayName", "Alice"}}},
            {"challenge", Base64UrlEncode(challenge_)},
            {"pubKeyCredParams", {{{"type", "public-key"}, {"alg", alg}}}},
            {"excludeCredentials", Json::array()},
            {"authenticatorSelection", {{"residentKey", resident}, {"userVerification", "discouraged"}}}};
  }
  Result<webauthn::RegisteredCredential> Check(const Json& credential, bool require_uv = false) {
    webauthn::RegistrationExpectations e;
    e.challenge = challenge_;
    e.origins.origins = {kOrigin};
    e.rp_id = "example.org";
    e.allowed_algs = {webauthn::cose::kES256, webauthn::cose::kEdDSA};
    e.require_user_verification = require_uv;
    const Json& r = credential["response"];
    return webauthn::VerifyRegistration({*Base64UrlDecode(r["clientDataJSON"].get<std::string>()),
                                         *Base64UrlDecode(r["attestationObject"].get<std::string>())},
                                        e);
  }
  Json RequestOptions(const std::vector<Bytes>& allow) {
    challenge_ = RandomBytes(32);
    Json list = Json::array();
    for (const auto& id : allow) list.push_back({{"type", "public-key"}, {"id", Base64UrlEncode(id)}});
    return {{"rpId", "example.org"}, {"challenge", Base64UrlEncode(challenge_)}, {"allowCredentials", list}};
  }
  Result<webauthn::AssertionOutcome> CheckAssertion(const Json& credential, const webauthn::RegisteredCredential& reg,
                                                    uint32_t stored_count) {
    webauthn::AssertionExpectations e;
    e.challenge = challenge_;
    e.origins.origins = {kOrigin};
    e.rp_id = "example.org";
    const Json& r = credential["response"];
    return webauthn::VerifyAssertion({*Base64UrlDecode(r["clientDataJSON"].get<std::string>()),
                                      *Base64UrlDecode(r["authenticatorData"].get<std::string>()),
                                      *Base64UrlDecode(r["signature"].get<std::string>())},
                                     {reg.cose_key, stored_count, reg.backup_eligible, nullptr}, e);
  }

  testing::TempDir dir_;
  Bytes challenge_;
  Bytes user_id_ = RandomBytes(16);
};

TEST_F(SoftKeyTest, LibfidoSeesACtap2KeyWithItsInfo) {
  auto dev = Open();
  ASSERT_TRUE(dev);
  auto info = dev->Info();
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_TRUE(info->fido2);
  EXPECT_EQ(info->aaguid, "61757468-642d-736f-6674-6b65792d7631");
  EXPECT_EQ(info->versions, std::vector<std::string>{"FIDO_2_0"});
  EXPECT_FALSE(info->pin_set);
  EXPECT_EQ(info->algorithms, (std::vector<int64_t>{-7, -8}));
  struct stat st {};
  ASSERT_EQ(stat(dir_.File("key.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SoftKeyTest, RegistersAndSignsInAsAuthdVerifies) {
  for (int64_t alg : {webauthn::cose::kES256, webauthn::cose::kEdDSA}) {
    auto dev = Open();
    bool prompted = false;
    auto made = dev->MakeCredential(CreationOptions(alg), kOrigin, std::nullopt, [&] { prompted = true; });
    ASSERT_TRUE(made) << made.error().detail;
    EXPECT_TRUE(prompted);
    auto reg = Check(made->credential);
    ASSERT_TRUE(reg) << reg.error().detail;
    EXPECT_EQ(reg->alg, alg);
    EXPECT_EQ(reg->fmt, "packed");
    EXPECT_EQ(reg->attestation_type, webauthn::AttestationType::kSelf);
    EXPECT_EQ(reg->aaguid, SoftKey::Aaguid());
    EXPECT_EQ(Base64UrlEncode(reg->credential_id), made->credential["id"]);

    // A fresh process (the key file reopened) signs in with it; the counter advances.
    dev.reset();
    dev = Open();
    auto got = dev->GetAssertion(RequestOptions({reg->credential_id}), kOrigin, std::nullopt, nullptr);
    ASSERT_TRUE(got) << got.error().detail;
    auto outcome = CheckAssertion(got->credential, *reg, reg->sign_count);
    ASSERT_TRUE(outcome) << outcome.error().detail;
    EXPECT_GT(outcome->sign_count, reg->sign_count);
    EXPECT_FALSE(outcome->user_verified);
    // The same assertion cannot pass for another challenge.
    challenge_ = RandomBytes(32);
    EXPECT_EQ(CheckAssertion(got->credential, *reg, reg->sign_count).code(), ErrorCode::kChallengeMismatch);
  }
}

TEST_F(SoftKeyTest, ExcludeListAndUnknownCredentialsAreRefused) {
  auto dev = Open();
  auto made = dev->MakeCredential(CreationOptions(), kOrigin, std::nullopt, nullptr);
  ASSERT_TRUE(made);
  Json again = CreationOptions();
  again["excludeCredentials"] = {{{"type", "public-key"}, {"id", made->credential["id"]}}};
  auto excluded = dev->MakeCredential(again, kOrigin, std::nullopt, nullptr);
  ASSERT_FALSE(excluded);
  EXPECT_NE(excluded.error().detail.find("already registered"), std::string::npos);
  auto unknown = dev->GetAssertion(RequestOptions({RandomBytes(32)}), kOrigin, std::nullopt, nullptr);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().detail.find("enrol it first"), std::string::npos);
}

TEST_F(SoftKeyTest, ResidentKeysSignInWithoutAnAllowListAndReturnTheUserHandle) {
  auto dev = Open();
  auto made = dev->MakeCredential(CreationOptions(webauthn::cose::kES256, "required"), kOrigin, std::nullopt, nullptr);
  ASSERT_TRUE(made);
  auto got = dev->GetAssertion(RequestOptions({}), kOrigin, std::nullopt, nullptr);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->credential["response"]["userHandle"], Base64UrlEncode(user_id_));
  EXPECT_EQ(got->credential["id"], made->credential["id"]);
}

TEST_F(SoftKeyTest, PinSetThroughLibfidoGatesRegistrationAndGivesUserVerification) {
  auto dev = Open();
  ASSERT_TRUE(dev->SetPin("4321"));
  dev.reset();
  dev = Open();
  auto info = dev->Info();
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->pin_set);
  EXPECT_EQ(info->pin_retries, 8);
  // Without the PIN the key refuses to register; with a wrong one it counts.
  auto no_pin = dev->MakeCredential(CreationOptions(), kOrigin, std::nullopt, nullptr);
  ASSERT_FALSE(no_pin);
  EXPECT_NE(no_pin.error().detail.find("needs its PIN"), std::string::npos);
  auto wrong = dev->MakeCredential(CreationOptions(), kOrigin, std::string("1111"), nullptr);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().detail.find("PIN is wrong"), std::string::npos);
  EXPECT_EQ(dev->Info()->pin_retries, 7);
  auto made = dev->MakeCredential(CreationOptions(), kOrigin, std::string("4321"), nullptr);
  ASSERT_TRUE(made) << made.error().detail;
  auto reg = Check(made->credential, /*require_uv=*/true);
  ASSERT_TRUE(reg) << reg.error().detail;
  EXPECT_TRUE(reg->user_verified);
  EXPECT_EQ(dev->Info()->pin_retries, 8);  // a right PIN resets the count
  auto got = dev->GetAssertion(RequestOptions({reg->credential_id}), kOrigin, std::string("4321"), nullptr);
  ASSERT_TRUE(got) << got.error().detail;
  auto outcome = CheckAssertion(got->credential, *reg, reg->sign_count);
  ASSERT_TRUE(outcome);
  EXPECT_TRUE(outcome->user_verified);
}

TEST_F(SoftKeyTest, U2fOnlyKeysGoThroughLibfidoCtap1FallbackToFidoU2fAttestation) {
  auto opened = FidoDevice::Open("soft-u2f:" + dir_.File("u2f.json"));
  ASSERT_TRUE(opened) << opened.error().detail;
  auto dev = std::move(opened.value());
  auto info = dev->Info();
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->fido2);
  auto made = dev->MakeCredential(CreationOptions(), kOrigin, std::nullopt, nullptr);
  ASSERT_TRUE(made) << made.error().detail;
  auto reg = Check(made->credential);
  ASSERT_TRUE(reg) << reg.error().detail;
  EXPECT_EQ(reg->fmt, "fido-u2f");
  EXPECT_EQ(reg->attestation_type, webauthn::AttestationType::kBasic);
  EXPECT_EQ(reg->aaguid, Bytes(16, 0));
  EXPECT_EQ(reg->credential_id.size(), 64u);
  // Reopened as soft:FILE it stays a U2F key, and signs in through CTAP1 authenticate.
  dev.reset();
  dev = FidoDevice::Open("soft:" + dir_.File("u2f.json")).value();
  auto got = dev->GetAssertion(RequestOptions({reg->credential_id}), kOrigin, std::nullopt, nullptr);
  ASSERT_TRUE(got) << got.error().detail;
  auto outcome = CheckAssertion(got->credential, *reg, 0);
  ASSERT_TRUE(outcome) << outcome.error().detail;
  EXPECT_GE(outcome->sign_count, 1u);
  // No resident keys over CTAP1.
  EXPECT_FALSE(dev->MakeCredential(CreationOptions(webauthn::cose::kES256, "required"), kOrigin, std::nullopt, nullptr));
}

TEST_F(SoftKeyTest, TooShortPinsAreRefusedByTheKey) {
  auto dev = Open();
  auto r = dev->SetPin("12");
  ASSERT_FALSE(r);
}

// --- CTAPHID, frame by frame ---

class Ctaphid : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = SoftKey::Open(dir_.File("key.json"));
    ASSERT_TRUE(k);
    key_ = std::move(k.value());
    // INIT on the broadcast channel allocates ours.
    Bytes frame = Frame({0xff, 0xff, 0xff, 0xff}, 0x86, 8);
    std::memcpy(frame.data() + 7, "abcdefgh", 8);
    ASSERT_EQ(key_->Write(frame), 64);
    Bytes reply = ReadFrame();
    ASSERT_EQ(reply[4], 0x86);
    ASSERT_EQ(std::memcmp(reply.data() + 7, "abcdefgh", 8), 0);
    std::memcpy(cid_, reply.data() + 15, 4);
    EXPECT_NE(reply[23] & 0x04, 0);  // CBOR capability
  }
  static Bytes Frame(std::initializer_list<uint8_t> cid, uint8_t cmd, size_t bcnt) {
    Bytes f(64, 0);
    std::copy(cid.begin(), cid.end(), f.begin());
    f[4] = cmd;
    f[5] = static_cast<uint8_t>(bcnt >> 8);
    f[6] = static_cast<uint8_t>(bcnt);
    return f;
  }
  Bytes Ours(uint8_t cmd, size_t bcnt) { return Frame({cid_[0], cid_[1], cid_[2], cid_[3]}, cmd, bcnt); }
  Bytes ReadFrame() {
    Bytes out(64);
    EXPECT_EQ(key_->Read(out.data(), out.size()), 64);
    return out;
  }
  uint8_t ErrorOf(const Bytes& reply) { return reply[4] == 0xBF ? reply[7] : 0; }

  testing::TempDir dir_;
  std::unique_ptr<SoftKey> key_;
  uint8_t cid_[4] = {};
};

TEST_F(Ctaphid, PingEchoesAcrossContinuationFrames) {
  Bytes payload = RandomBytes(100);
  Bytes first = Ours(0x81, payload.size());
  std::copy(payload.begin(), payload.begin() + 57, first.begin() + 7);
  ASSERT_EQ(key_->Write(first), 64);
  Bytes cont(64, 0);
  std::memcpy(cont.data(), cid_, 4);
  cont[4] = 0;
  std::copy(payload.begin() + 57, payload.end(), cont.begin() + 5);
  ASSERT_EQ(key_->Write(cont), 64);
  Bytes r1 = ReadFrame(), r2 = ReadFrame();
  EXPECT_EQ(r1[4], 0x81);
  Bytes echoed(r1.begin() + 7, r1.end());
  echoed.insert(echoed.end(), r2.begin() + 5, r2.begin() + 5 + 43);
  EXPECT_EQ(echoed, payload);
}

// Messages without data (an empty PING, a WINK) are answered with one frame of length 0.
TEST_F(Ctaphid, EmptyMessagesAreAnsweredWithOneEmptyFrame) {
  for (uint8_t cmd : {uint8_t{0x81}, uint8_t{0x88}}) {
    ASSERT_EQ(key_->Write(Ours(cmd, 0)), 64);
    Bytes reply = ReadFrame();
    EXPECT_EQ(reply[4], cmd);
    EXPECT_EQ(reply[5], 0);
    EXPECT_EQ(reply[6], 0);
    EXPECT_EQ(Bytes(reply.begin() + 7, reply.end()), Bytes(57, 0));
    Bytes none(64);
    EXPECT_EQ(key_->Read(none.data(), none.size()), -1);  // nothing more
  }
}

TEST_F(Ctaphid, RefusesWhatAKeyRefuses) {
  // A continuation frame out of sequence.
  Bytes first = Ours(0x81, 100);
  ASSERT_EQ(key_->Write(first), 64);
  Bytes cont(64, 0);
  std::memcpy(cont.data(), cid_, 4);
  cont[4] = 1;  // should be 0
  key_->Write(cont);
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x04);
  // An unknown command; a message longer than CTAPHID allows; a channel never allocated;
  // a non-INIT command on the broadcast channel; CTAP1 (this key is CTAP2 only).
  key_->Write(Ours(0x80 | 0x33, 0));
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x01);
  key_->Write(Ours(0x81, 7610));
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x03);
  key_->Write(Frame({0x00, 0x00, 0x01, 0x7f}, 0x81, 0));
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x0B);
  key_->Write(Frame({0xff, 0xff, 0xff, 0xff}, 0x81, 0));
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x0B);
  key_->Write(Ours(0x83, 0));
  EXPECT_EQ(ErrorOf(ReadFrame()), 0x01);
  // Reports of the wrong size, or with another report id, are not taken.
  EXPECT_EQ(key_->Write(Bytes(63, 0)), -1);
  Bytes bad_report(65, 0);
  bad_report[0] = 1;
  EXPECT_EQ(key_->Write(bad_report), -1);
  Bytes none(64);
  EXPECT_EQ(key_->Read(none.data(), none.size()), -1);  // nothing pending
}

// The U2F key's raw answers, read by authd's own raw U2F parser (webauthn/u2f.h).
TEST(SoftU2f, RawMessagesParseAndVerifyWithTheU2fModule) {
  testing::TempDir dir;
  auto key = SoftKey::Open(dir.File("u2f.json"), /*u2f_only=*/true).value();
  const Bytes chal = Sha256(AsBytes("{\"typ\":\"navigator.id.finishEnrollment\"}"));
  const Bytes app = Sha256(AsBytes("https://login.example.org"));
  Bytes apdu = {0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 64};
  apdu.insert(apdu.end(), chal.begin(), chal.end());
  apdu.insert(apdu.end(), app.begin(), app.end());
  Bytes resp = key->HandleApdu(apdu);
  ASSERT_GE(resp.size(), 2u);
  EXPECT_EQ(resp[resp.size() - 2], 0x90);
  resp.resize(resp.size() - 2);
  auto reg = webauthn::u2f::ParseRegistration(resp);
  ASSERT_TRUE(reg) << reg.error().detail;
  EXPECT_TRUE(webauthn::u2f::VerifyRegistration(*reg, app, chal));
  // Check-only answers "conditions not satisfied" for its own handle, "wrong data" for others.
  Bytes auth = {0x00, 0x02, 0x07, 0x00, 0x00, 0x00, static_cast<uint8_t>(65 + reg->key_handle.size())};
  auth.insert(auth.end(), chal.begin(), chal.end());
  auth.insert(auth.end(), app.begin(), app.end());
  auth.push_back(static_cast<uint8_t>(reg->key_handle.size()));
  auth.insert(auth.end(), reg->key_handle.begin(), reg->key_handle.end());
  Bytes check = key->HandleApdu(auth);
  EXPECT_EQ(HexEncode(check), "6985");
  Bytes other = auth;
  other.back() ^= 1;
  EXPECT_EQ(HexEncode(key->HandleApdu(other)), "6a80");
  auth[2] = 0x03;
  Bytes signed_resp = key->HandleApdu(auth);
  signed_resp.resize(signed_resp.size() - 2);
  auto parsed = webauthn::u2f::ParseAuthentication(signed_resp);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  auto counter = webauthn::u2f::VerifyAuthentication(*parsed, reg->public_key, app, chal, 0);
  ASSERT_TRUE(counter) << counter.error().detail;
  EXPECT_EQ(webauthn::u2f::VerifyAuthentication(*parsed, reg->public_key, app, chal, *counter).code(),
            ErrorCode::kCounterRegression);
  EXPECT_EQ(HexEncode(key->HandleApdu(Bytes{0x00, 0x40, 0x00, 0x00})), "6d00");
}

TEST_F(Ctaphid, MalformedCborGetsACtap2Error) {
  Bytes f = Ours(0x90, 3);
  f[7] = 0x01;  // authenticatorMakeCredential
  f[8] = 0xa1;  // a map of one pair, cut short
  f[9] = 0x01;
  key_->Write(f);
  Bytes r = ReadFrame();
  EXPECT_EQ(r[4], 0x90);
  EXPECT_EQ(r[7], 0x12);  // CTAP2_ERR_INVALID_CBOR
  Bytes g = Ours(0x90, 1);
  g[7] = 0x42;  // no such CTAP2 command
  key_->Write(g);
  EXPECT_EQ(ReadFrame()[7], 0x01);
}

}  // namespace
}  // namespace authd::drivers
