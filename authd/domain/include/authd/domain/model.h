// The records that the store keeps. Plain values; no behaviour, no secrets in clear.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "authd/base/bytes.h"

namespace authd::domain {

inline constexpr std::string_view kStatusActive = "active";
inline constexpr std::string_view kStatusDisabled = "disabled";
inline constexpr std::string_view kStatusRevoked = "revoked";

struct User {
  std::string id;        // random, base64url; also the WebAuthn user handle
  std::string username;  // normalised (NormalizeUsername)
  std::string display_name;
  std::string status{kStatusActive};
  std::vector<std::string> roles;  // subset of admin, enroller, auditor
  int64_t created_at = 0;          // Unix seconds
  int64_t updated_at = 0;
};

// A registered factor (WebAuthn key, TOTP app, YubiKey OTP slot). `info` is non-secret JSON
// text for display; secrets live in the factor's own sealed columns.
struct Credential {
  std::string id;
  std::string user_id;
  std::string type;  // webauthn | totp | yubiotp
  std::string nickname;
  std::string status{kStatusActive};
  std::string info = "{}";
  int64_t created_at = 0;
  int64_t last_used_at = 0;
};

struct EnrollmentCode {
  Bytes code_hash;  // SHA-256 of the normalised code; the code itself is never stored
  std::string user_id;
  std::string created_by;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t consumed_at = 0;
};

struct Client {
  std::string client_id;
  std::string name;
  Bytes secret_hash;  // SHA-256 of the 256-bit secret
  int64_t ykval_id = 0;
  Bytes ykval_key_sealed;
  std::vector<std::string> scopes;
  std::vector<std::string> allowed_ips;  // CIDR; empty = any address
  std::string status{kStatusActive};
  int64_t created_at = 0;
};

struct SigningKeyRecord {
  std::string kid;
  std::string alg;         // ES256 | EdDSA
  std::string public_jwk;  // JSON object text with kid, alg, use
  Bytes private_sealed;
  int64_t created_at = 0;
  int64_t retired_at = 0;  // 0 while it signs new tokens
};

struct TokenRecord {
  std::string jti;
  Bytes token_hash;  // SHA-256 of the compact JWS
  std::string user_id;
  std::string username;
  std::string credential_id;
  std::string audience;
  std::string client_id;
  std::vector<std::string> amr;
  std::vector<std::string> roles;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  int64_t auth_time = 0;
  int64_t revoked_at = 0;
};

struct AuditEvent {
  int64_t seq = 0;
  int64_t at_ms = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;  // success | failure | denied
  std::string source;
  std::string request_id;
  std::string reason;   // error code on failure
  std::string detail = "{}";  // JSON object text, no secrets
  Bytes prev_hash;
  Bytes hash;
};

// What the next audit event links to: the newest event's sequence number and chain hash.
struct AuditLink {
  int64_t seq = 0;
  Bytes hash;
};

// A WebAuthn ceremony in flight, sealed into its handle (ceremony_handle.h).
struct Ceremony {
  Bytes id;  // random; recorded as used when the ceremony finishes
  std::string kind;  // registration | authentication
  std::string user_id;
  Bytes challenge;
  std::string client_id;
  std::string user_verification;  // required | preferred | discouraged
  Bytes enrollment_code_hash;
  std::string actor;
  std::vector<Bytes> allowed;  // AllowedCredentialDigest of each credential the options listed
  std::string appid;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct TotpCredential {
  std::string id;
  std::string user_id;
  Bytes secret_sealed;
  std::string algorithm = "SHA1";
  int64_t digits = 6;
  int64_t period = 30;
  int64_t last_step = -1;
};

struct TotpEnrollment {
  Bytes id_hash;
  std::string credential_id;
  std::string user_id;
  Bytes secret_sealed;
  std::string algorithm = "SHA1";
  int64_t digits = 6;
  int64_t period = 30;
  std::string actor;
  Bytes enrollment_code_hash;  // empty unless an enrolment code authorised it
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct YubiOtpCredential {
  std::string public_id;
  std::string id;
  std::string user_id;
  Bytes secret_sealed;
  int64_t use_counter = -1;
  int64_t session_counter = -1;
  std::string last_nonce;
  std::string last_otp;
};

struct FailureCounter {
  std::string subject;
  std::string user_id;
  int64_t failures = 0;
  int64_t last_failure_at = 0;
  int64_t locked_until = 0;
};

struct WebAuthnCredential {
  Bytes raw_id;
  std::string id;  // base64url(raw_id)
  std::string user_id;
  Bytes public_key;
  int64_t alg = 0;
  int64_t sign_count = 0;
  bool uv_initialized = false;
  bool backup_eligible = false;
  bool backup_state = false;
  std::vector<std::string> transports;
  Bytes aaguid;
  std::string fmt;
  std::string attestation_type;
  bool discoverable = false;
  std::string appid;
  bool clone_suspected = false;
  // The status of its credential record, as the store keeps it in this row too (read only);
  // absent when it has none.
  std::optional<std::string> status;
};

}  // namespace authd::domain
