// The relying party's two verification procedures, each a flat list of WebAuthn L3 steps:
// §7.1 "Registering a New Credential" (steps 5-25, 27-28) and §7.2 "Verifying an Authentication
// Assertion" (steps 7-22). Lookups and storage (§7.1 steps 26 and 29, §7.2 steps 5-6 and 24)
// belong to the caller. Pure and thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authd/webauthn/attestation.h"
#include "authd/webauthn/client_data.h"

namespace authd::webauthn {

struct RegistrationExpectations {
  Bytes challenge;                    // from the server-side ceremony, never from the client
  OriginPolicy origins;
  std::string rp_id;
  std::vector<int64_t> allowed_algs;  // options.pubKeyCredParams[].alg
  bool require_user_verification = false;
  TrustPolicy trust;
};

struct RegistrationResponse {
  Bytes client_data_json;
  Bytes attestation_object;
};

struct RegisteredCredential {  // §7.1 step 27: the credential record
  Bytes credential_id;
  Bytes cose_key;
  int64_t alg = 0;
  uint32_t sign_count = 0;
  bool user_verified = false;
  bool backup_eligible = false;
  bool backup_state = false;
  Bytes aaguid;
  std::string fmt;
  AttestationType attestation_type = AttestationType::kNone;
  bool attestation_trusted = false;
};

Result<RegisteredCredential> VerifyRegistration(const RegistrationResponse& response,
                                                const RegistrationExpectations& expected);

struct AssertionExpectations {
  Bytes challenge;
  OriginPolicy origins;
  std::string rp_id;
  std::optional<std::string> appid;  // the legacy U2F AppID, when the appid extension was requested
  bool require_user_verification = false;
};

struct StoredCredential {
  Bytes cose_key;
  uint32_t sign_count = 0;
  bool backup_eligible = false;
  // Optional: `cose_key` already parsed and checked (a credential's key never changes after
  // registration, so callers may keep it); when set, step 21 uses it instead of parsing again.
  std::shared_ptr<const CosePublicKey> parsed;
};

struct AssertionResponse {
  Bytes client_data_json;
  Bytes authenticator_data;
  Bytes signature;
};

struct AssertionOutcome {
  uint32_t sign_count = 0;
  bool user_verified = false;
  bool backup_state = false;
  bool used_appid = false;
};

// kCounterRegression when either counter is non-zero and the new one does not exceed the stored
// one (§7.2 step 22: we fail, and the caller flags the credential).
Result<AssertionOutcome> VerifyAssertion(const AssertionResponse& response, const StoredCredential& stored,
                                         const AssertionExpectations& expected);

}  // namespace authd::webauthn
