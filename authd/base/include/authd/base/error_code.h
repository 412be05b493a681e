// Stable error codes. The string of each code is the `code` field of API.md's problem+json
// body; clients switch on it, so names are never changed once released.
#pragma once

#include <string_view>

namespace authd {

// X(enumerator, "code", http_status, "title")
#define AUTHD_ERROR_CODES(X)                                                             \
  X(kBadRequest, "bad_request", 400, "Malformed request")                               \
  X(kInvalidUsername, "invalid_username", 400, "Invalid username")                      \
  X(kInvalidArgument, "invalid_argument", 400, "Invalid value")                         \
  X(kMalformedCbor, "malformed_cbor", 400, "Malformed CBOR")                            \
  X(kNonCanonicalCbor, "non_canonical_cbor", 400, "Non-canonical CBOR")                 \
  X(kBadClientData, "bad_client_data", 400, "Malformed client data")                    \
  X(kMalformedAuthData, "malformed_authdata", 400, "Malformed authenticator data")      \
  X(kMalformedU2f, "malformed_u2f", 400, "Malformed U2F message")                       \
  X(kOtpFormat, "otp_format", 400, "Malformed one-time password")                       \
  X(kInvalidClient, "invalid_client", 401, "Client authentication failed")              \
  X(kInvalidToken, "invalid_token", 401, "Invalid or missing access token")             \
  X(kInvalidEnrollmentCode, "invalid_enrollment_code", 401, "Invalid enrolment code")   \
  X(kForbidden, "forbidden", 403, "Not allowed")                                        \
  X(kInsufficientScope, "insufficient_scope", 403, "Client lacks the scope")            \
  X(kAddressNotAllowed, "address_not_allowed", 403, "Source address not allowed")       \
  X(kUserDisabled, "user_disabled", 403, "User is disabled")                            \
  X(kNotFound, "not_found", 404, "Not found")                                           \
  X(kMethodNotAllowed, "method_not_allowed", 405, "Method not allowed")                 \
  X(kRequestTimeout, "request_timeout", 408, "Request took too long")                   \
  X(kUserExists, "user_exists", 409, "User already exists")                             \
  X(kCredentialExists, "credential_exists", 409, "Credential already registered")       \
  X(kConflict, "conflict", 409, "Conflict")                                             \
  X(kTooManyCredentials, "too_many_credentials", 409, "Too many credentials")           \
  X(kBodyTooLarge, "body_too_large", 413, "Request body too large")                     \
  X(kUnsupportedMediaType, "unsupported_media_type", 415, "Unsupported content type")   \
  X(kTypeMismatch, "type_mismatch", 422, "Client data type mismatch")                   \
  X(kChallengeMismatch, "challenge_mismatch", 422, "Challenge mismatch")                \
  X(kChallengeUnknown, "challenge_unknown", 422, "Unknown or used ceremony")            \
  X(kChallengeExpired, "challenge_expired", 422, "Ceremony expired")                    \
  X(kOriginMismatch, "origin_mismatch", 422, "Origin not allowed")                      \
  X(kCrossOriginUnexpected, "cross_origin_unexpected", 422, "Cross-origin not allowed") \
  X(kTopOriginMismatch, "top_origin_mismatch", 422, "Top origin not allowed")           \
  X(kRpIdMismatch, "rp_id_mismatch", 422, "RP ID hash mismatch")                        \
  X(kUserPresenceRequired, "user_presence_required", 422, "User presence required")     \
  X(kUserVerificationRequired, "user_verification_required", 422,                       \
    "User verification required")                                                       \
  X(kInvalidFlags, "invalid_flags", 422, "Inconsistent authenticator flags")            \
  X(kBackupStateMismatch, "backup_state_mismatch", 422, "Backup eligibility changed")   \
  X(kAlgNotAllowed, "alg_not_allowed", 422, "Algorithm not allowed")                    \
  X(kUnsupportedAttestationFormat, "unsupported_attestation_format", 422,               \
    "Unsupported attestation format")                                                   \
  X(kAttestationInvalid, "attestation_invalid", 422, "Attestation invalid")             \
  X(kAttestationUntrusted, "attestation_untrusted", 422, "Attestation not trusted")     \
  X(kCredentialIdTooLong, "credential_id_too_long", 422, "Credential ID too long")      \
  X(kExtensionRejected, "extension_rejected", 422, "Extension rejected")                \
  X(kUnknownCredential, "unknown_credential", 422, "Unknown credential")                \
  X(kUserHandleMismatch, "user_handle_mismatch", 422, "User handle mismatch")           \
  X(kMissingUserHandle, "missing_user_handle", 422, "User handle required")             \
  X(kSignatureInvalid, "signature_invalid", 422, "Signature invalid")                   \
  X(kCounterRegression, "counter_regression", 422, "Signature counter did not advance") \
  X(kInvalidPublicKey, "invalid_public_key", 422, "Invalid public key")                 \
  X(kCredentialRevoked, "credential_revoked", 422, "Credential revoked")                \
  X(kOtpInvalid, "otp_invalid", 422, "One-time password invalid")                       \
  X(kOtpReplayed, "otp_replayed", 422, "One-time password already used")                \
  X(kRateLimited, "rate_limited", 429, "Too many requests")                             \
  X(kLocked, "locked", 429, "Too many failed attempts")                                 \
  X(kInternal, "internal_error", 500, "Internal error")                                 \
  X(kStorageUnavailable, "storage_unavailable", 503, "Storage unavailable")             \
  X(kStorageFull, "storage_full", 503, "Storage full")                                  \
  X(kStorageCorrupt, "storage_corrupt", 503, "Storage corrupt")                         \
  X(kOverloaded, "overloaded", 503, "Server overloaded")

enum class ErrorCode {
#define AUTHD_X(e, s, h, t) e,
  AUTHD_ERROR_CODES(AUTHD_X)
#undef AUTHD_X
};

// The snake_case `code` string of API.md.
std::string_view ErrorCodeName(ErrorCode code);
// The HTTP status that API.md assigns to the code.
int ErrorCodeStatus(ErrorCode code);
// A short human title (problem+json `title`).
std::string_view ErrorCodeTitle(ErrorCode code);

}  // namespace authd
