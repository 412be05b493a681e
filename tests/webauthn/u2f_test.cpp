// Raw U2F messages (SECURITY.md §1.3, catalog rows U01-U07), against the FIDO U2F Raw Message
// Formats examples (tests/vectors/fido-u2f-raw-message-formats.json): a real device certificate
// and signatures made by the spec's authors, plus mutations of them.

#include "authd/webauthn/u2f.h"

#include <gtest/gtest.h>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/json.h"
#include "authd/webauthn/attestation.h"
#include "authd/webauthn/cose_key.h"

namespace authd::webauthn::u2f {
namespace {

const Json& Doc() {
  static const Json doc = [] {
    auto text = ReadWholeFile(AUTHD_VECTORS_DIR "/fido-u2f-raw-message-formats.json");
    return text ? Json::parse(*text) : Json();
  }();
  return doc;
}

Bytes Hex(const Json& j) { return HexDecode(j.get<std::string>()).value_or(Bytes{}); }
Bytes Text(const Json& j) {
  const std::string s = j.get<std::string>();
  return Bytes(s.begin(), s.end());
}

class U2fRegistration : public ::testing::Test {
 protected:
  const Json& r = Doc()["registration"];
  Bytes message = Hex(r["response"]);
  Bytes app_param = Sha256(Text(r["app_id"]));
  Bytes challenge_param = Sha256(Text(r["client_data"]));
};

TEST_F(U2fRegistration, SpecExampleParsesAndVerifies) {
  ASSERT_TRUE(r.is_object()) << "tests/vectors/fido-u2f-raw-message-formats.json is missing";
  EXPECT_EQ(HexEncode(app_param), r["app_id_hash"].get<std::string>());
  EXPECT_EQ(HexEncode(challenge_param), r["client_data_hash"].get<std::string>());
  auto reg = ParseRegistration(message);
  ASSERT_TRUE(reg) << reg.error().detail;
  EXPECT_EQ(HexEncode(reg->public_key), r["user_public_key"].get<std::string>());
  EXPECT_EQ(HexEncode(reg->key_handle), r["key_handle"].get<std::string>());
  EXPECT_EQ(HexEncode(reg->signature), r["signature"].get<std::string>());
  EXPECT_TRUE(VerifyRegistration(*reg, app_param, challenge_param));
  EXPECT_TRUE(CheckClientData(Text(r["client_data"]), kRegisterTyp,
                              Base64UrlDecode(r["challenge"].get<std::string>()).value(), {"http://example.com"}));
}

// The WebAuthn client's view of the same answer verifies with our §8.6 fido-u2f procedure.
TEST_F(U2fRegistration, SpecExampleBecomesAValidFidoU2fAttestation) {
  auto reg = ParseRegistration(message);
  ASSERT_TRUE(reg);
  auto ao = ToAttestationObject(*reg, app_param);
  ASSERT_TRUE(ao) << ao.error().detail;
  auto obj = ParseAttestationObject(*ao);
  ASSERT_TRUE(obj) << obj.error().detail;
  EXPECT_EQ(obj->fmt, "fido-u2f");
  ASSERT_TRUE(obj->auth_data.attested);
  EXPECT_EQ(obj->auth_data.attested->credential_id, reg->key_handle);
  auto key = ParseCoseKey(obj->auth_data.attested->cose_key);
  ASSERT_TRUE(key);
  auto result = VerifyAttestationStatement(*obj, challenge_param, *key);
  ASSERT_TRUE(result) << result.error().detail;
  EXPECT_EQ(result->type, AttestationType::kBasic);
  ASSERT_EQ(result->chain.size(), 1u);
  // Another client data hash breaks the signature.
  EXPECT_EQ(VerifyAttestationStatement(*obj, Sha256(AsBytes("other")), *key).code(), ErrorCode::kSignatureInvalid);
}

TEST_F(U2fRegistration, U01_RefusesAnotherReservedByte) {
  message[0] = 0x04;
  EXPECT_EQ(ParseRegistration(message).code(), ErrorCode::kMalformedU2f);
}

TEST_F(U2fRegistration, U01_RefusesAKeyHandleLengthBeyondTheMessage) {
  message.resize(1 + 65 + 1 + 20);  // L says 64, 20 follow
  EXPECT_EQ(ParseRegistration(message).code(), ErrorCode::kMalformedU2f);
  message[66] = 0xff;
  EXPECT_EQ(ParseRegistration(message).code(), ErrorCode::kMalformedU2f);
}

TEST_F(U2fRegistration, U01_RefusesACertificateLengthBeyondTheMessage) {
  const size_t cert_at = 1 + 65 + 1 + 64;
  ASSERT_EQ(message[cert_at], 0x30);
  ASSERT_EQ(message[cert_at + 1], 0x82);  // two length bytes follow
  message[cert_at + 2] = 0xff;
  message[cert_at + 3] = 0xff;
  EXPECT_EQ(ParseRegistration(message).code(), ErrorCode::kMalformedU2f);
}

TEST_F(U2fRegistration, U01_RefusesEveryTruncationAndTrailingBytes) {
  for (size_t n = 0; n < message.size(); ++n) {
    ByteView cut(message.data(), n);
    EXPECT_EQ(ParseRegistration(cut).code(), ErrorCode::kMalformedU2f) << n;
  }
  message.push_back(0x00);
  EXPECT_EQ(ParseRegistration(message).code(), ErrorCode::kMalformedU2f);
}

TEST_F(U2fRegistration, U02_RefusesACompressedOrOffCurveUserKey) {
  Bytes compressed = message;
  compressed[1] = 0x02;
  EXPECT_EQ(ParseRegistration(compressed).code(), ErrorCode::kInvalidPublicKey);
  Bytes off_curve = message;
  off_curve[65] ^= 0x01;  // last byte of Y
  EXPECT_EQ(ParseRegistration(off_curve).code(), ErrorCode::kInvalidPublicKey);
}

TEST_F(U2fRegistration, RefusesASignatureOverOtherParameters) {
  auto reg = ParseRegistration(message);
  ASSERT_TRUE(reg);
  EXPECT_EQ(VerifyRegistration(*reg, Sha256(AsBytes("https://evil.example")), challenge_param).code(),
            ErrorCode::kSignatureInvalid);
  EXPECT_EQ(VerifyRegistration(*reg, app_param, Sha256(AsBytes("{}"))).code(), ErrorCode::kSignatureInvalid);
  auto swapped = *reg;
  swapped.key_handle[0] ^= 0x01;
  EXPECT_EQ(VerifyRegistration(swapped, app_param, challenge_param).code(), ErrorCode::kSignatureInvalid);
}

TEST_F(U2fRegistration, U03_U04_ChecksTypChallengeAndFacets) {
  const Bytes challenge = Base64UrlDecode(r["challenge"].get<std::string>()).value();
  const Bytes cd = Text(r["client_data"]);
  EXPECT_EQ(CheckClientData(cd, kSignTyp, challenge, {"http://example.com"}).code(), ErrorCode::kTypeMismatch);
  EXPECT_EQ(CheckClientData(cd, kRegisterTyp, RandomBytes(32), {"http://example.com"}).code(),
            ErrorCode::kChallengeMismatch);
  EXPECT_EQ(CheckClientData(cd, kRegisterTyp, challenge, {"https://example.com", "http://example.com:80"}).code(),
            ErrorCode::kOriginMismatch);
  EXPECT_EQ(CheckClientData(AsBytes("[1]"), kRegisterTyp, challenge, {"http://example.com"}).code(),
            ErrorCode::kBadClientData);
  EXPECT_EQ(CheckClientData(AsBytes(R"({"typ":"navigator.id.finishEnrollment","typ":"x","challenge":"","origin":""})"),
                            kRegisterTyp, challenge, {"http://example.com"})
                .code(),
            ErrorCode::kBadClientData);
}

class U2fAuthentication : public ::testing::Test {
 protected:
  const Json& a = Doc()["authentication"];
  Bytes message = Hex(a["response"]);
  Bytes public_key = Hex(a["user_public_key"]);
  Bytes app_param = Sha256(Text(a["app_id"]));
  Bytes challenge_param = Sha256(Text(a["client_data"]));
};

TEST_F(U2fAuthentication, SpecExampleVerifies) {
  EXPECT_EQ(HexEncode(app_param), a["app_id_hash"].get<std::string>());
  EXPECT_EQ(HexEncode(challenge_param), a["client_data_hash"].get<std::string>());
  auto auth = ParseAuthentication(message);
  ASSERT_TRUE(auth) << auth.error().detail;
  EXPECT_EQ(auth->user_presence, 0x01);
  EXPECT_EQ(auth->counter, a["counter"].get<uint32_t>());
  auto counter = VerifyAuthentication(*auth, public_key, app_param, challenge_param, 0);
  ASSERT_TRUE(counter) << counter.error().detail;
  EXPECT_EQ(*counter, 1u);
  EXPECT_TRUE(CheckClientData(Text(a["client_data"]), kSignTyp,
                              Base64UrlDecode(a["challenge"].get<std::string>()).value(), {"http://example.com"}));
}

TEST_F(U2fAuthentication, U01_RefusesEveryTruncationAndTrailingBytes) {
  for (size_t n = 0; n < message.size(); ++n) {
    EXPECT_EQ(ParseAuthentication(ByteView(message.data(), n)).code(), ErrorCode::kMalformedU2f) << n;
  }
  message.push_back(0x00);
  EXPECT_EQ(ParseAuthentication(message).code(), ErrorCode::kMalformedU2f);
}

TEST_F(U2fAuthentication, U05_RefusesWithoutUserPresence) {
  message[0] = 0x00;
  auto auth = ParseAuthentication(message);
  ASSERT_TRUE(auth);
  EXPECT_EQ(VerifyAuthentication(*auth, public_key, app_param, challenge_param, 0).code(),
            ErrorCode::kUserPresenceRequired);
}

TEST_F(U2fAuthentication, U06_RefusesACounterThatDidNotAdvance) {
  auto auth = ParseAuthentication(message);
  ASSERT_TRUE(auth);
  EXPECT_EQ(VerifyAuthentication(*auth, public_key, app_param, challenge_param, 1).code(),
            ErrorCode::kCounterRegression);
  EXPECT_EQ(VerifyAuthentication(*auth, public_key, app_param, challenge_param, 7).code(),
            ErrorCode::kCounterRegression);
}

TEST_F(U2fAuthentication, U07_RefusesAnotherAppParamKeyOrSignedByte) {
  auto auth = ParseAuthentication(message);
  ASSERT_TRUE(auth);
  EXPECT_EQ(VerifyAuthentication(*auth, public_key, Sha256(AsBytes("http://example.com")), challenge_param, 0).code(),
            ErrorCode::kSignatureInvalid);
  const Bytes other_key = Hex(Doc()["registration"]["user_public_key"]);
  EXPECT_EQ(VerifyAuthentication(*auth, other_key, app_param, challenge_param, 0).code(), ErrorCode::kSignatureInvalid);
  message[4] = 0x02;  // the counter is signed
  auto bumped = ParseAuthentication(message);
  ASSERT_TRUE(bumped);
  EXPECT_EQ(VerifyAuthentication(*bumped, public_key, app_param, challenge_param, 0).code(),
            ErrorCode::kSignatureInvalid);
}

}  // namespace
}  // namespace authd::webauthn::u2f
