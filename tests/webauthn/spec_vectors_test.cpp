// WebAuthn Level 3 §16 test vectors (tests/vectors/webauthn-l3-sec16.json, copied from the spec
// with its section and example anchors). For each vector the test regenerates what the spec
// derives from its published inputs (HKDF-SHA-256 over 'WebAuthn test vectors'), rebuilds the
// client data, the authenticator data and, for fmt "none", the whole attestation object, compares
// them byte for byte with the spec's bytes, then runs §7.1 and §7.2 on the spec's bytes.

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <gtest/gtest.h>

#include <cctype>
#include <map>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/json.h"
#include "authd/base/openssl_ptr.h"
#include "authd/webauthn/ceremony.h"

namespace authd::webauthn {
namespace {

constexpr std::string_view kIkm = "WebAuthn test vectors";
constexpr std::string_view kRpId = "example.org";
constexpr std::string_view kOrigin = "https://example.org";
constexpr std::string_view kExtraDataText =
    "clientDataJSON may be extended with additional fields in the future, such as this: ";

Bytes Hex(const Json& j) {
  auto b = HexDecode(j.get<std::string>());
  EXPECT_TRUE(b.has_value());
  return b.value_or(Bytes{});
}

const Json& Vectors() {
  static const Json doc = [] {
    auto text = ReadWholeFile(AUTHD_VECTORS_DIR "/webauthn-l3-sec16.json");
    if (!text) return Json();
    return Json::parse(*text);
  }();
  return doc;
}

// The published inputs of one ceremony, each re-derived from (IKM, salt, info, L) first.
std::map<std::string, Bytes> Derive(const Json& derived, const std::string& info) {
  std::map<std::string, Bytes> out;
  for (const auto& d : derived) {
    auto salt = Hex(d["salt"]);
    auto length = d["length"].get<size_t>();
    auto got = HkdfSha256(AsBytes(kIkm), salt, AsBytes(info), length);
    Bytes mine(got.view().begin(), got.view().end());
    EXPECT_EQ(HexEncode(mine), d["value"].get<std::string>()) << info << " " << d["name"];
    out[d["name"].get<std::string>()] = std::move(mine);
  }
  return out;
}

// The generator's client data: fixed member order, extraData iff bit 0 of client_data_gen_flags.
std::string ClientData(const std::string& type, const std::map<std::string, Bytes>& in, const Json& v) {
  std::string s = "{\"type\":\"" + type + "\",\"challenge\":\"" + Base64UrlEncode(in.at("challenge")) +
                  "\",\"origin\":\"" + std::string(kOrigin) + "\",\"crossOrigin\":" +
                  (v["crossOrigin"].get<bool>() ? "true" : "false");
  if (v["topOrigin"].is_string()) s += ",\"topOrigin\":\"" + v["topOrigin"].get<std::string>() + "\"";
  if ((in.at("client_data_gen_flags")[0] & 0x01) != 0) {
    s += ",\"extraData\":\"" + std::string(kExtraDataText) + Base64UrlEncode(in.at("extraData_random")) + "\"";
  }
  return s + "}";
}

Bytes AuthDataPrefix(uint8_t flags) {
  Bytes out = Sha256(AsBytes(kRpId));
  out.push_back(flags);
  out.insert(out.end(), {0, 0, 0, 0});  // signCount 0
  return out;
}

EvpPkeyPtr FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  EVP_PKEY_fromdata_init(ctx.get());
  EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free(params);
  return EvpPkeyPtr(key);
}

// The credential public key, computed from the published private inputs.
EvpPkeyPtr CredentialKey(const Json& v, const std::map<std::string, Bytes>& in) {
  const auto alg = v["alg"].get<int64_t>();
  if (alg == cose::kEdDSA) {
    const Bytes& priv = in.at("private_key");
    return EvpPkeyPtr(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv.data(), priv.size()));
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (alg == cose::kRS256) {  // n = (2^1279 - 1)(2^2203 - 1), e = 65537
    BignumPtr one(BN_new()), p(BN_new()), q(BN_new()), n(BN_new()), e(BN_new());
    std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> bn_ctx(BN_CTX_new(), &BN_CTX_free);
    BN_one(one.get());
    BN_lshift(p.get(), one.get(), 1279);
    BN_sub_word(p.get(), 1);
    BN_lshift(q.get(), one.get(), 2203);
    BN_sub_word(q.get(), 1);
    BN_mul(n.get(), p.get(), q.get(), bn_ctx.get());
    BN_set_word(e.get(), v["rsa"]["e"].get<unsigned long>());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
    return FromParams("RSA", bld.get());
  }
  // ES256: the public point is d·G on P-256.
  const Bytes& d = in.at("credential_private_key");
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1),
                                                            &EC_GROUP_free);
  std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> point(EC_POINT_new(group.get()), &EC_POINT_free);
  BignumPtr scalar(BN_bin2bn(d.data(), static_cast<int>(d.size()), nullptr));
  EC_POINT_mul(group.get(), point.get(), scalar.get(), nullptr, nullptr, nullptr);
  unsigned char pub[65];
  EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, nullptr);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
  return FromParams("EC", bld.get());
}

class SpecVector : public ::testing::TestWithParam<size_t> {
 protected:
  const Json& v() const { return Vectors()["vectors"][GetParam()]; }
  std::string info() const { return v()["info"].get<std::string>(); }

  RegistrationExpectations Expectations(ByteView challenge) const {
    RegistrationExpectations e;
    e.challenge = Bytes(challenge.begin(), challenge.end());
    e.origins.origins = {std::string(kOrigin)};
    e.origins.allow_cross_origin = v()["crossOrigin"].get<bool>();
    if (v()["topOrigin"].is_string()) e.origins.top_origins = {v()["topOrigin"].get<std::string>()};
    e.rp_id = std::string(kRpId);
    e.allowed_algs = {cose::kES256, cose::kEdDSA, cose::kRS256};
    e.trust.now = 1'800'000'000;
    return e;
  }
};

TEST(SpecVectorsFile, CarriesItsProvenanceAndEveryVector) {
  ASSERT_TRUE(Vectors().is_object()) << "tests/vectors/webauthn-l3-sec16.json is missing";
  EXPECT_EQ(Vectors()["provenance"]["url"], "https://w3c.github.io/webauthn/#sctn-test-vectors");
  EXPECT_EQ(Vectors()["provenance"]["ikm"], kIkm);
  ASSERT_EQ(Vectors()["vectors"].size(), 8u);  // the instantiation below runs each of them
  for (const auto& v : Vectors()["vectors"]) {
    EXPECT_TRUE(v["registration"]["source"].get<std::string>().starts_with("https://w3c.github.io/webauthn/#example-"));
  }
}

TEST_P(SpecVector, RegenerateRegistrationFromPublishedInputs) {
  const Json& reg = v()["registration"];
  auto in = Derive(reg["derived"], info());
  const Bytes published_cdj = Hex(reg["clientDataJSON"]);
  const Bytes published_ao = Hex(reg["attestationObject"]);

  EXPECT_EQ(ClientData("webauthn.create", in, v()), std::string(published_cdj.begin(), published_cdj.end()));

  // flags: UP | AT | the derived UV/BE/BS bits, BS only with BE.
  uint8_t uv_be_bs = in.at("auth_data_UV_BE_BS")[0] & 0x1c;
  if ((uv_be_bs & flags::kBackupEligible) == 0) uv_be_bs &= static_cast<uint8_t>(~0x18);
  Bytes auth_data = AuthDataPrefix(static_cast<uint8_t>(0x41 | uv_be_bs));
  const Bytes& aaguid = in.at("aaguid");
  const Bytes& cred_id = in.at("credential_id");
  auth_data.insert(auth_data.end(), aaguid.begin(), aaguid.end());
  auth_data.push_back(static_cast<uint8_t>(cred_id.size() >> 8));
  auth_data.push_back(static_cast<uint8_t>(cred_id.size()));
  auth_data.insert(auth_data.end(), cred_id.begin(), cred_id.end());
  auto key = CredentialKey(v(), in);
  ASSERT_TRUE(key);
  auto cose = EncodeCoseKey(key.get(), v()["alg"].get<int64_t>());
  ASSERT_TRUE(cose) << cose.error().detail;
  auth_data.insert(auth_data.end(), cose->begin(), cose->end());

  auto parsed = ParseAttestationObject(published_ao);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed->fmt, v()["fmt"].get<std::string>());
  EXPECT_EQ(HexEncode(parsed->auth_data.raw), HexEncode(auth_data));

  if (v()["fmt"] == "none") {  // no signature: the whole object is reproducible
    Bytes ao = HexDecode("a363666d74646e6f6e656761747453746d74a068617574684461746159").value();
    ao.push_back(static_cast<uint8_t>(auth_data.size() >> 8));
    ao.push_back(static_cast<uint8_t>(auth_data.size()));
    if (auth_data.size() < 256) {  // CBOR's shortest length form: 0x58 and one byte
      ao.pop_back();
      ao.pop_back();
      ao.back() = 0x58;
      ao.push_back(static_cast<uint8_t>(auth_data.size()));
    }
    ao.insert(ao.end(), auth_data.begin(), auth_data.end());
    EXPECT_EQ(HexEncode(ao), HexEncode(published_ao));
  }
}

TEST_P(SpecVector, VerifyRegistrationThenAssertion) {
  const Json& reg = v()["registration"];
  auto in = Derive(reg["derived"], info());
  RegistrationResponse response{Hex(reg["clientDataJSON"]), Hex(reg["attestationObject"])};
  auto expected = Expectations(in.at("challenge"));
  auto cred = VerifyRegistration(response, expected);
  ASSERT_TRUE(cred) << cred.error().detail;
  EXPECT_EQ(cred->credential_id, in.at("credential_id"));
  EXPECT_EQ(cred->aaguid, in.at("aaguid"));
  EXPECT_EQ(cred->alg, v()["alg"].get<int64_t>());
  EXPECT_EQ(cred->fmt, v()["fmt"].get<std::string>());
  const uint8_t bits = in.at("auth_data_UV_BE_BS")[0];
  EXPECT_EQ(cred->user_verified, (bits & 0x04) != 0);
  EXPECT_EQ(cred->backup_eligible, (bits & 0x08) != 0);
  EXPECT_EQ(cred->backup_state, (bits & 0x08) != 0 && (bits & 0x10) != 0);
  const bool x5c = in.count("attestation_private_key") != 0;
  EXPECT_EQ(cred->attestation_type, v()["fmt"] == "none" ? AttestationType::kNone
                                    : x5c                ? AttestationType::kBasic
                                                         : AttestationType::kSelf);
  EXPECT_FALSE(cred->attestation_trusted);  // no root configured

  // The same bytes under a policy that demands a trusted chain are refused.
  auto strict = expected;
  strict.trust.require_trusted_chain = true;
  strict.trust.allow_none = false;
  strict.trust.allow_self = false;
  EXPECT_EQ(VerifyRegistration(response, strict).code(), ErrorCode::kAttestationUntrusted);

  const Json& auth = v()["authentication"];
  auto ain = Derive(auth["derived"], info());
  const Bytes cdj = Hex(auth["clientDataJSON"]);
  EXPECT_EQ(ClientData("webauthn.get", ain, v()), std::string(cdj.begin(), cdj.end()));
  uint8_t uv_bs = ain.at("auth_data_UV_BS")[0] & 0x14;
  if (!cred->backup_eligible) uv_bs &= static_cast<uint8_t>(~0x18);
  const uint8_t flags = static_cast<uint8_t>(0x01 | (cred->backup_eligible ? 0x08 : 0) | uv_bs);
  EXPECT_EQ(HexEncode(AuthDataPrefix(flags)), auth["authenticatorData"].get<std::string>());

  AssertionResponse assertion{cdj, Hex(auth["authenticatorData"]), Hex(auth["signature"])};
  AssertionExpectations ae;
  ae.challenge = ain.at("challenge");
  ae.origins = expected.origins;
  ae.rp_id = std::string(kRpId);
  StoredCredential stored{cred->cose_key, cred->sign_count, cred->backup_eligible, nullptr};
  auto outcome = VerifyAssertion(assertion, stored, ae);
  ASSERT_TRUE(outcome) << outcome.error().detail;
  EXPECT_EQ(outcome->user_verified, (uv_bs & 0x04) != 0);
  EXPECT_EQ(outcome->backup_state, (flags & 0x10) != 0);

  // One flipped bit anywhere in the signed data or the signature is refused.
  auto tampered = assertion;
  tampered.signature[tampered.signature.size() / 2] ^= 0x01;
  EXPECT_EQ(VerifyAssertion(tampered, stored, ae).code(), ErrorCode::kSignatureInvalid);
  tampered = assertion;
  tampered.authenticator_data[33] ^= 0x04;  // the UV bit: still well-formed, no longer signed
  EXPECT_EQ(VerifyAssertion(tampered, stored, ae).code(), ErrorCode::kSignatureInvalid);
  // The registration challenge does not open the authentication ceremony.
  ae.challenge = in.at("challenge");
  EXPECT_EQ(VerifyAssertion(assertion, stored, ae).code(), ErrorCode::kChallengeMismatch);
}

std::string VectorName(const ::testing::TestParamInfo<size_t>& p) {
  std::string s = "Sec" + Vectors()["vectors"][p.param]["section"].get<std::string>() + "_" +
                  Vectors()["vectors"][p.param]["info"].get<std::string>();
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(WebAuthnL3, SpecVector, ::testing::Range<size_t>(0, 8), VectorName);

}  // namespace
}  // namespace authd::webauthn
