// §7.1 and §7.2, one passing and one failing case per step, with responses made by a software
// authenticator holding real keys.

#include "authd/webauthn/ceremony.h"

#include <gtest/gtest.h>

#include "webauthn/test_authenticator.h"

namespace authd::webauthn {
namespace {

using testing::AttestationCa;
using testing::TestAuthenticator;

class Registration : public ::testing::Test {
 protected:
  Registration() {
    expected_.challenge = RandomBytes(32);
    expected_.origins.origins = {"http://localhost:8080"};
    expected_.rp_id = "localhost";
    expected_.allowed_algs = {cose::kES256, cose::kEdDSA, cose::kRS256};
    expected_.trust.now = 1'800'000'000;
  }
  Result<RegisteredCredential> Run(const TestAuthenticator::Registration& r) {
    return VerifyRegistration(key_.Register(expected_.challenge, r), expected_);
  }
  ErrorCode CodeOf(const TestAuthenticator::Registration& r) {
    auto res = Run(r);
    return res ? ErrorCode::kInternal : res.code();
  }
  TestAuthenticator key_;
  RegistrationExpectations expected_;
  AttestationCa ca_;
};

TEST_F(Registration, PassesWithNoneAttestation) {
  auto r = Run(key_.NewRegistration());
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->credential_id, key_.credential_id);
  EXPECT_EQ(r->alg, cose::kES256);
  EXPECT_EQ(r->fmt, "none");
  EXPECT_EQ(r->attestation_type, AttestationType::kNone);
  EXPECT_FALSE(r->attestation_trusted);
}

TEST_F(Registration, Step7_WR01_RefusesGetType) {
  auto reg = key_.NewRegistration();
  reg.type = "webauthn.get";
  EXPECT_EQ(CodeOf(reg), ErrorCode::kTypeMismatch);
}

TEST_F(Registration, Step8_RefusesAnotherChallenge) {
  auto resp = key_.Register(RandomBytes(32), key_.NewRegistration());
  EXPECT_EQ(VerifyRegistration(resp, expected_).code(), ErrorCode::kChallengeMismatch);
}

TEST_F(Registration, Step9_WR02_RefusesOtherOrigins) {
  auto reg = key_.NewRegistration();
  reg.origin = "http://localhost:8081";
  EXPECT_EQ(CodeOf(reg), ErrorCode::kOriginMismatch);
}

TEST_F(Registration, Step10_RefusesCrossOriginByDefault) {
  auto reg = key_.NewRegistration();
  reg.client_data_extra = ",\"crossOrigin\":true";
  EXPECT_EQ(CodeOf(reg), ErrorCode::kCrossOriginUnexpected);
}

TEST_F(Registration, Step13_WR19_RefusesBrokenAttestationObjects) {
  auto resp = key_.Register(expected_.challenge, key_.NewRegistration());
  for (size_t n = 0; n < resp.attestation_object.size(); n += 7) {
    RegistrationResponse cut = resp;
    cut.attestation_object.resize(n);
    auto r = VerifyRegistration(cut, expected_);
    ASSERT_FALSE(r) << n;
    EXPECT_TRUE(r.code() == ErrorCode::kMalformedCbor || r.code() == ErrorCode::kMalformedAuthData) << n;
  }
}

TEST_F(Registration, Step14_WR03_RefusesAnotherRpIdHash) {
  auto reg = key_.NewRegistration();
  reg.auth.rp_id = "evil.com";
  EXPECT_EQ(CodeOf(reg), ErrorCode::kRpIdMismatch);
}

TEST_F(Registration, Step15_WR08_RequiresUserPresence) {
  auto reg = key_.NewRegistration();
  reg.auth.flags = 0;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kUserPresenceRequired);
}

TEST_F(Registration, Step16_WR09_RequiresVerificationWhenAsked) {
  expected_.require_user_verification = true;
  auto reg = key_.NewRegistration();
  EXPECT_EQ(CodeOf(reg), ErrorCode::kUserVerificationRequired);
  reg.auth.flags |= flags::kUserVerified;
  EXPECT_TRUE(Run(reg));
}

TEST_F(Registration, Step17_WR10_RefusesBackupStateWithoutEligibility) {
  auto reg = key_.NewRegistration();
  reg.auth.flags |= flags::kBackupState;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kInvalidFlags);
  reg.auth.flags |= flags::kBackupEligible;
  auto ok = Run(reg);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->backup_eligible && ok->backup_state);
}

TEST_F(Registration, Step20_WR11_RefusesAlgorithmsNotOffered) {
  expected_.allowed_algs = {cose::kEdDSA};
  EXPECT_EQ(CodeOf(key_.NewRegistration()), ErrorCode::kAlgNotAllowed);
}

TEST_F(Registration, Step21_WR13_UnknownFormatsAreUnsupported) {
  for (const char* fmt : {"Packed", "foo", "NONE", "Apple", "TPM"}) {
    auto reg = key_.NewRegistration();
    reg.fmt = fmt;
    EXPECT_EQ(CodeOf(reg), ErrorCode::kUnsupportedAttestationFormat) << fmt;
  }
}

TEST_F(Registration, Step22_PackedSelfAttestation) {
  auto reg = key_.NewRegistration();
  reg.fmt = "packed";
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kSelf);
  reg.corrupt_signature = true;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kSignatureInvalid);  // WR16
}

TEST_F(Registration, Step22_PackedFullAttestationChecksTheCertificate) {
  auto reg = key_.NewRegistration();
  reg.fmt = "packed";
  reg.ca = &ca_;
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  EXPECT_FALSE(ok->attestation_trusted);  // no roots configured
  reg.corrupt_signature = true;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kSignatureInvalid);
  // A certificate without the required OU is refused (§8.2.1).
  AttestationCa bad_ou;
  bad_ou.leaf_cert = AttestationCa::Make(bad_ou.leaf_key.get(), bad_ou.ca_key.get(), bad_ou.ca_cert.get(), "Other",
                                         false);
  reg.corrupt_signature = false;
  reg.ca = &bad_ou;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kAttestationInvalid);
}

TEST_F(Registration, Step22_PackedAaguidExtensionMustMatch) {
  Bytes model(16, 0x5A);
  Bytes der = {0x04, 0x10};
  der.insert(der.end(), model.begin(), model.end());
  AttestationCa with_ext;
  with_ext.leaf_cert = with_ext.IssueWithExtension(with_ext.leaf_key.get(), "Authenticator Attestation",
                                                   "1.3.6.1.4.1.45724.1.1.4", der);
  auto reg = key_.NewRegistration();
  reg.fmt = "packed";
  reg.ca = &with_ext;
  reg.auth.aaguid = model;
  auto ok = Run(reg);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().detail);
  reg.auth.aaguid = Bytes(16, 0x5B);  // the authenticator data claims another model
  EXPECT_EQ(CodeOf(reg), ErrorCode::kAttestationInvalid);
}

TEST_F(Registration, Step22_FidoU2f) {
  auto reg = key_.NewRegistration();
  reg.fmt = "fido-u2f";
  reg.ca = &ca_;
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  // WR15: AAGUID not zero; two certificates.
  auto nonzero = reg;
  nonzero.auth.aaguid = Bytes(16, 1);
  EXPECT_EQ(CodeOf(nonzero), ErrorCode::kAttestationInvalid);
  auto two = reg;
  two.extra_cert = true;
  EXPECT_EQ(CodeOf(two), ErrorCode::kAttestationInvalid);
  auto forged = reg;
  forged.corrupt_signature = true;
  EXPECT_EQ(CodeOf(forged), ErrorCode::kSignatureInvalid);
}

TEST_F(Registration, Step22_AppleAnonymous) {
  auto reg = key_.NewRegistration();
  reg.fmt = "apple";
  reg.ca = &ca_;
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  expected_.trust.roots = ca_.Store();
  EXPECT_TRUE(Run(reg)->attestation_trusted);
  auto wrong_nonce = reg;
  wrong_nonce.corrupt_signature = true;
  EXPECT_EQ(CodeOf(wrong_nonce), ErrorCode::kAttestationInvalid);
  auto other_key = reg;
  other_key.apple_other_key = true;  // a certificate for some other key
  EXPECT_EQ(CodeOf(other_key), ErrorCode::kAttestationInvalid);
}

TEST_F(Registration, Step22_AndroidKey) {
  auto reg = key_.NewRegistration();
  reg.fmt = "android-key";
  reg.ca = &ca_;
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  auto challenge = reg;
  challenge.corrupt_signature = true;  // the KeyDescription binds another clientDataHash
  EXPECT_EQ(CodeOf(challenge), ErrorCode::kAttestationInvalid);
  auto all_apps = reg;
  all_apps.android_all_applications = true;
  EXPECT_EQ(CodeOf(all_apps), ErrorCode::kAttestationInvalid);
  auto imported = reg;
  imported.android_software_origin = true;
  EXPECT_EQ(CodeOf(imported), ErrorCode::kAttestationInvalid);
}

TEST_F(Registration, Step22_Tpm) {
  auto reg = key_.NewRegistration();
  reg.fmt = "tpm";
  reg.ca = &ca_;
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  auto forged = reg;
  forged.corrupt_signature = true;
  EXPECT_EQ(CodeOf(forged), ErrorCode::kSignatureInvalid);
  auto other = reg;
  other.tpm_other_key = true;  // pubArea describes another key
  EXPECT_EQ(CodeOf(other), ErrorCode::kAttestationInvalid);
  auto subject = reg;
  subject.tpm_aik_subject = true;  // §8.3.1: the AIK subject must be empty
  EXPECT_EQ(CodeOf(subject), ErrorCode::kAttestationInvalid);
}

TEST_F(Registration, Step22_TpmWithAnRsaKey) {
  TestAuthenticator rsa_key(cose::kRS256);
  auto reg = rsa_key.NewRegistration();
  reg.fmt = "tpm";
  reg.ca = &ca_;
  auto ok = VerifyRegistration(rsa_key.Register(expected_.challenge, reg), expected_);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->alg, cose::kRS256);
  EXPECT_EQ(ok->attestation_type, AttestationType::kBasic);
  auto other = reg;
  other.tpm_other_key = true;  // pubArea's modulus differs from the credential's
  EXPECT_EQ(VerifyRegistration(rsa_key.Register(expected_.challenge, other), expected_).code(),
            ErrorCode::kAttestationInvalid);
  auto forged = reg;
  forged.corrupt_signature = true;
  EXPECT_EQ(VerifyRegistration(rsa_key.Register(expected_.challenge, forged), expected_).code(),
            ErrorCode::kSignatureInvalid);
}

TEST_F(Registration, Steps23_24_TrustPolicy) {
  auto reg = key_.NewRegistration();
  reg.fmt = "packed";
  reg.ca = &ca_;
  expected_.trust.require_trusted_chain = true;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kAttestationUntrusted);  // WR14: untrusted root
  expected_.trust.roots = ca_.Store();
  auto ok = Run(reg);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_TRUE(ok->attestation_trusted);
  // An expired attestation certificate no longer chains.
  expected_.trust.now = 1'800'000'000 + 400LL * 86400 * 10;
  EXPECT_EQ(CodeOf(reg), ErrorCode::kAttestationUntrusted);
  expected_.trust.now = 1'800'000'000;

  // Unattested and self-attested keys by policy.
  expected_.trust.allow_none = false;
  EXPECT_EQ(CodeOf(key_.NewRegistration()), ErrorCode::kAttestationUntrusted);
  auto self = key_.NewRegistration();
  self.fmt = "packed";
  expected_.trust.allow_self = false;
  EXPECT_EQ(CodeOf(self), ErrorCode::kAttestationUntrusted);
}

TEST_F(Registration, Steps23_24_AaguidListsCannotBeBypassedBySelfAttestation) {
  Bytes model(16, 0x42);
  auto self = key_.NewRegistration();
  self.fmt = "packed";
  self.auth.aaguid = model;
  expected_.trust.aaguid_allow = {model};
  EXPECT_EQ(CodeOf(self), ErrorCode::kAttestationUntrusted);  // claims an allowed model, proves nothing
  expected_.trust.aaguid_allow.clear();
  expected_.trust.aaguid_deny = {model};
  EXPECT_EQ(CodeOf(self), ErrorCode::kAttestationUntrusted);
}

TEST_F(Registration, Step25_WR18_CredentialIdLength) {
  auto reg = key_.NewRegistration();
  reg.auth.credential_id = Bytes(1023, 0x33);
  EXPECT_TRUE(Run(reg));
  reg.auth.credential_id = Bytes(1024, 0x33);
  EXPECT_EQ(CodeOf(reg), ErrorCode::kCredentialIdTooLong);
}

TEST_F(Registration, OtherAlgorithms) {
  for (int64_t alg : {cose::kEdDSA, cose::kRS256}) {
    TestAuthenticator k(alg);
    auto reg = k.NewRegistration();
    reg.fmt = "packed";
    auto r = VerifyRegistration(k.Register(expected_.challenge, reg), expected_);
    ASSERT_TRUE(r) << alg << ": " << r.error().detail;
    EXPECT_EQ(r->alg, alg);
  }
}

class Assertion : public ::testing::Test {
 protected:
  Assertion() {
    expected_.challenge = RandomBytes(32);
    expected_.origins.origins = {"http://localhost:8080"};
    expected_.rp_id = "localhost";
    stored_.cose_key = key_.CoseKey();
    stored_.sign_count = 0;
  }
  ErrorCode CodeOf(const TestAuthenticator::Assertion& a) {
    auto r = VerifyAssertion(key_.Assert(expected_.challenge, a), stored_, expected_);
    return r ? ErrorCode::kInternal : r.code();
  }
  TestAuthenticator key_;
  AssertionExpectations expected_;
  StoredCredential stored_;
};

TEST_F(Assertion, Step21_UsesTheParsedKeyWhenTheCallerKeepsOne) {
  auto a = key_.NewAssertion();
  stored_.parsed = std::make_shared<const CosePublicKey>(ParseCoseKey(key_.CoseKey()).value());
  EXPECT_TRUE(VerifyAssertion(key_.Assert(expected_.challenge, a), stored_, expected_));
  // Another key kept for this credential: the signature no longer verifies, whatever cose_key says.
  TestAuthenticator other;
  stored_.parsed = std::make_shared<const CosePublicKey>(ParseCoseKey(other.CoseKey()).value());
  EXPECT_EQ(VerifyAssertion(key_.Assert(expected_.challenge, key_.NewAssertion()), stored_, expected_).code(),
            ErrorCode::kSignatureInvalid);
}

TEST_F(Assertion, Passes) {
  auto a = key_.NewAssertion();
  auto r = VerifyAssertion(key_.Assert(expected_.challenge, a), stored_, expected_);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->sign_count, 1u);
  EXPECT_FALSE(r->used_appid);
}

TEST_F(Assertion, Step10_WA01_RefusesCreateType) {
  auto a = key_.NewAssertion();
  a.type = "webauthn.create";
  EXPECT_EQ(CodeOf(a), ErrorCode::kTypeMismatch);
}

TEST_F(Assertion, Step11_RefusesAnotherChallenge) {
  auto r = VerifyAssertion(key_.Assert(RandomBytes(32), key_.NewAssertion()), stored_, expected_);
  EXPECT_EQ(r.code(), ErrorCode::kChallengeMismatch);
}

TEST_F(Assertion, Step12_RefusesAnotherOrigin) {
  auto a = key_.NewAssertion();
  a.origin = "https://localhost:8080";
  EXPECT_EQ(CodeOf(a), ErrorCode::kOriginMismatch);
}

TEST_F(Assertion, Step15_WA04_RpIdHashAndAppId) {
  auto a = key_.NewAssertion();
  a.auth.rp_id = "https://legacy.example.org/app-id.json";
  EXPECT_EQ(CodeOf(a), ErrorCode::kRpIdMismatch);  // appid hash without appid requested
  expected_.appid = "https://legacy.example.org/app-id.json";
  auto r = VerifyAssertion(key_.Assert(expected_.challenge, a), stored_, expected_);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_TRUE(r->used_appid);
}

TEST_F(Assertion, Step16_WA05_RequiresUserPresence) {
  auto a = key_.NewAssertion();
  a.auth.flags = 0;
  EXPECT_EQ(CodeOf(a), ErrorCode::kUserPresenceRequired);
}

TEST_F(Assertion, Step17_WA06_RequiresVerificationWhenAsked) {
  expected_.require_user_verification = true;
  auto a = key_.NewAssertion();
  EXPECT_EQ(CodeOf(a), ErrorCode::kUserVerificationRequired);
  a.auth.flags |= flags::kUserVerified;
  EXPECT_NE(CodeOf(a), ErrorCode::kUserVerificationRequired);
}

TEST_F(Assertion, Step18_19_BackupFlags) {
  auto a = key_.NewAssertion();
  a.auth.flags |= flags::kBackupState;
  EXPECT_EQ(CodeOf(a), ErrorCode::kInvalidFlags);
  a.auth.flags |= flags::kBackupEligible;  // eligible now, but not at registration
  EXPECT_EQ(CodeOf(a), ErrorCode::kBackupStateMismatch);
}

TEST_F(Assertion, Step21_WA07_SignatureMustCoverThisClientData) {
  auto a = key_.NewAssertion();
  a.sign_other_client_data = "{\"type\":\"webauthn.get\"}";
  EXPECT_EQ(CodeOf(a), ErrorCode::kSignatureInvalid);
  auto resp = key_.Assert(expected_.challenge, key_.NewAssertion());
  resp.signature.back() ^= 1;
  EXPECT_FALSE(VerifyAssertion(resp, stored_, expected_));
  resp.signature.clear();
  EXPECT_EQ(VerifyAssertion(resp, stored_, expected_).code(), ErrorCode::kSignatureInvalid);
}

TEST_F(Assertion, Step22_WA08_WA09_SignatureCounter) {
  stored_.sign_count = 7;
  auto a = key_.NewAssertion();
  a.auth.sign_count = 7;
  EXPECT_EQ(CodeOf(a), ErrorCode::kCounterRegression);
  a.auth.sign_count = 3;
  EXPECT_EQ(CodeOf(a), ErrorCode::kCounterRegression);
  a.auth.sign_count = 8;
  EXPECT_NE(CodeOf(a), ErrorCode::kCounterRegression);
  stored_.sign_count = 0;
  a.auth.sign_count = 0;  // both zero: an authenticator without a counter
  auto r = VerifyAssertion(key_.Assert(expected_.challenge, a), stored_, expected_);
  EXPECT_TRUE(r) << r.error().detail;
}

TEST_F(Assertion, AttestedDataInAnAssertionIsMalformed) {
  auto a = key_.NewAssertion();
  a.auth.credential_id = key_.credential_id;
  a.auth.cose_key = key_.CoseKey();
  EXPECT_EQ(CodeOf(a), ErrorCode::kMalformedAuthData);
}

}  // namespace
}  // namespace authd::webauthn
