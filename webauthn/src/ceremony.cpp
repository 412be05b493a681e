#include "authd/webauthn/ceremony.h"

#include <algorithm>

#include "authd/base/crypto.h"

namespace authd::webauthn {

Result<RegisteredCredential> VerifyRegistration(const RegistrationResponse& response,
                                                const RegistrationExpectations& expected) {
  // §7.1 steps 5-6: decode and parse clientDataJSON.
  AUTHD_ASSIGN_OR_RETURN(CollectedClientData c, ParseClientData(response.client_data_json));
  // §7.1 step 7: type
  AUTHD_RETURN_IF_ERROR(CheckType(c, "webauthn.create"));
  // §7.1 step 8: challenge
  AUTHD_RETURN_IF_ERROR(CheckChallenge(c, expected.challenge));
  // §7.1 step 9: origin
  AUTHD_RETURN_IF_ERROR(CheckOrigin(c, expected.origins));
  // §7.1 steps 10-11: crossOrigin, topOrigin
  AUTHD_RETURN_IF_ERROR(CheckCrossOrigin(c, expected.origins));
  // §7.1 step 12: hash = c.hash (computed over the raw bytes while parsing)
  // §7.1 step 13: decode the attestation object
  AUTHD_ASSIGN_OR_RETURN(AttestationObject att, ParseAttestationObject(response.attestation_object));
  const AuthenticatorData& ad = att.auth_data;
  if (!ad.attested) return Err(ErrorCode::kMalformedAuthData, "registration without attested credential data");
  // §7.1 step 14: rpIdHash
  if (!SafeEquals(ad.rp_id_hash, Sha256(AsBytes(expected.rp_id)))) {
    return Err(ErrorCode::kRpIdMismatch, "the authenticator data is for another relying party");
  }
  // §7.1 step 15: user present
  if (!ad.user_present()) return Err(ErrorCode::kUserPresenceRequired, "the user was not present");
  // §7.1 step 16: user verified, if required
  if (expected.require_user_verification && !ad.user_verified()) {
    return Err(ErrorCode::kUserVerificationRequired, "the user was not verified");
  }
  // §7.1 step 17: BE clear implies BS clear
  AUTHD_RETURN_IF_ERROR(CheckBackupFlags(ad));
  // §7.1 steps 18-19: BE/BS are recorded below for policy.
  // §7.1 step 20: the credential key's alg is one the options offered
  AUTHD_ASSIGN_OR_RETURN(CosePublicKey key, ParseCoseKey(ad.attested->cose_key));
  if (std::find(expected.allowed_algs.begin(), expected.allowed_algs.end(), key.alg) == expected.allowed_algs.end()) {
    return Err(ErrorCode::kAlgNotAllowed, "the credential's algorithm was not offered");
  }
  // §7.1 steps 21-22: the format's verification procedure
  AUTHD_ASSIGN_OR_RETURN(AttestationResult attestation, VerifyAttestationStatement(att, c.hash, key));
  // §7.1 steps 23-24: trust
  AUTHD_RETURN_IF_ERROR(AssessTrust(attestation, ad.attested->aaguid, expected.trust));
  // §7.1 step 25: credential id length
  if (ad.attested->credential_id.size() > kMaxCredentialIdLength) {
    return Err(ErrorCode::kCredentialIdTooLong, "the credential id is longer than 1023 bytes");
  }
  // §7.1 step 27: the credential record (step 26, uniqueness, is checked by the store).
  RegisteredCredential out;
  out.credential_id = ad.attested->credential_id;
  out.cose_key = ad.attested->cose_key;
  out.alg = key.alg;
  out.sign_count = ad.sign_count;
  out.user_verified = ad.user_verified();
  out.backup_eligible = ad.backup_eligible();
  out.backup_state = ad.backup_state();
  out.aaguid = ad.attested->aaguid;
  out.fmt = att.fmt;
  out.attestation_type = attestation.type;
  out.attestation_trusted = attestation.trusted;
  // §7.1 step 28: extension outputs are not acted on (none were requested at registration).
  return out;
}

Result<AssertionOutcome> VerifyAssertion(const AssertionResponse& response, const StoredCredential& stored,
                                         const AssertionExpectations& expected) {
  // §7.2 steps 7-9: decode and parse clientDataJSON and authenticatorData.
  AUTHD_ASSIGN_OR_RETURN(CollectedClientData c, ParseClientData(response.client_data_json));
  AUTHD_ASSIGN_OR_RETURN(AuthenticatorData ad, ParseAuthenticatorData(response.authenticator_data));
  // beyond spec: an assertion carries no attested credential data.
  if (ad.attested) return Err(ErrorCode::kMalformedAuthData, "an assertion must not carry attested credential data");
  // §7.2 step 10: type
  AUTHD_RETURN_IF_ERROR(CheckType(c, "webauthn.get"));
  // §7.2 step 11: challenge
  AUTHD_RETURN_IF_ERROR(CheckChallenge(c, expected.challenge));
  // §7.2 step 12: origin
  AUTHD_RETURN_IF_ERROR(CheckOrigin(c, expected.origins));
  // §7.2 steps 13-14: crossOrigin, topOrigin
  AUTHD_RETURN_IF_ERROR(CheckCrossOrigin(c, expected.origins));
  // §7.2 step 15: rpIdHash, or the AppID's hash when the appid extension was requested (§10.1.1)
  AssertionOutcome out;
  if (!SafeEquals(ad.rp_id_hash, Sha256(AsBytes(expected.rp_id)))) {
    if (!expected.appid || !SafeEquals(ad.rp_id_hash, Sha256(AsBytes(*expected.appid)))) {
      return Err(ErrorCode::kRpIdMismatch, "the authenticator data is for another relying party");
    }
    out.used_appid = true;
  }
  // §7.2 step 16: user present
  if (!ad.user_present()) return Err(ErrorCode::kUserPresenceRequired, "the user was not present");
  // §7.2 step 17: user verified, if required
  if (expected.require_user_verification && !ad.user_verified()) {
    return Err(ErrorCode::kUserVerificationRequired, "the user was not verified");
  }
  // §7.2 step 18: BE clear implies BS clear
  AUTHD_RETURN_IF_ERROR(CheckBackupFlags(ad));
  // §7.2 step 19: backup eligibility is fixed at registration
  if (ad.backup_eligible() != stored.backup_eligible) {
    return Err(ErrorCode::kBackupStateMismatch, "backup eligibility changed since registration");
  }
  // §7.2 step 20: hash = c.hash
  // §7.2 step 21: the signature over authenticatorData || hash
  std::shared_ptr<const CosePublicKey> key = stored.parsed;
  if (!key) {
    AUTHD_ASSIGN_OR_RETURN(CosePublicKey parsed, ParseCoseKey(stored.cose_key));
    key = std::make_shared<const CosePublicKey>(std::move(parsed));
  }
  Bytes signed_data = ad.raw;
  signed_data.insert(signed_data.end(), c.hash.begin(), c.hash.end());
  AUTHD_RETURN_IF_ERROR(VerifySignature(*key, signed_data, response.signature));
  // §7.2 step 22: the signature counter
  if ((ad.sign_count != 0 || stored.sign_count != 0) && ad.sign_count <= stored.sign_count) {
    return Err(ErrorCode::kCounterRegression, "the signature counter did not advance: the key may be cloned");
  }
  // §7.2 step 23: extension outputs (appid is reflected in used_appid).
  out.sign_count = ad.sign_count;
  out.user_verified = ad.user_verified();
  out.backup_state = ad.backup_state();
  return out;
}

}  // namespace authd::webauthn
