// Legacy FIDO U2F raw messages (FIDO U2F Raw Message Formats §4.3 and §5.4, SECURITY.md §1.3):
// what a U2F-only key answers over CTAP1, and the conversion of a registration into the WebAuthn
// `fido-u2f` attestation object (§8.6) that a WebAuthn client builds from it. Pure and
// thread-safe. Every length is bounds-checked against the buffer before it is used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::webauthn::u2f {

inline constexpr size_t kPublicKeyBytes = 65;       // 0x04 || X || Y on P-256
inline constexpr size_t kMaxMessageBytes = 8 * 1024;

// Registration response: 0x05 || user public key (65) || L || key handle (L) || attestation
// certificate (X.509 DER, its length from its own header) || ECDSA signature (DER).
struct Registration {
  Bytes public_key;
  Bytes key_handle;
  Bytes attestation_cert;
  Bytes signature;
};

// U01 kMalformedU2f: reserved byte not 0x05, L or the certificate's DER length beyond the
// buffer, no signature, trailing bytes after the signature. U02 kInvalidPublicKey: the user key
// is not an uncompressed point on P-256.
Result<Registration> ParseRegistration(ByteView message);

// The attestation signature over 0x00 || appParam || challengeParam || keyHandle || publicKey,
// checked with the certificate's P-256 key. kAttestationInvalid when the certificate does not
// parse or hold such a key; kSignatureInvalid when the signature does not verify.
Status VerifyRegistration(const Registration& reg, ByteView app_param, ByteView challenge_param);

// The `fido-u2f` attestation object for this registration (what a WebAuthn client makes of a
// CTAP1 answer): authData = appParam || UP|AT || counter 0 || zero AAGUID || L || keyHandle ||
// COSE key; attStmt = {sig, x5c: [certificate]}.
Result<Bytes> ToAttestationObject(const Registration& reg, ByteView app_param);

// Authentication response: user presence byte || counter (4, big-endian) || ECDSA signature.
struct Authentication {
  uint8_t user_presence = 0;
  uint32_t counter = 0;
  Bytes signature;
  Bytes signed_prefix;  // the raw UP byte and counter, as they are signed
};

// U01 kMalformedU2f when the message is shorter than the fixed part or has no signature.
Result<Authentication> ParseAuthentication(ByteView message);

// Checks, in order: U05 kUserPresenceRequired when bit 0 of the UP byte is clear; U07
// kSignatureInvalid unless the signature over appParam || UP || counter || challengeParam
// verifies with the registered key; U06 kCounterRegression unless the counter exceeds the stored
// one (both zero is refused too: a U2F key that does not count cannot prove it is not a clone).
// Returns the new counter for the caller to store with a conditional update.
Result<uint32_t> VerifyAuthentication(const Authentication& auth, ByteView public_key, ByteView app_param,
                                      ByteView challenge_param, uint32_t stored_counter);

// U2F client data (the JSON whose SHA-256 is the challenge parameter): `typ` must be
// "navigator.id.finishEnrollment" or "navigator.id.getAssertion" as `expected_typ` says (U03
// kTypeMismatch), `challenge` the server's (kChallengeMismatch), `origin` one of the AppID's
// trusted facets (U04 kOriginMismatch). kBadClientData when it is not such a JSON object.
inline constexpr std::string_view kRegisterTyp = "navigator.id.finishEnrollment";
inline constexpr std::string_view kSignTyp = "navigator.id.getAssertion";
Status CheckClientData(ByteView client_data, std::string_view expected_typ, ByteView challenge,
                       const std::vector<std::string>& facets);

}  // namespace authd::webauthn::u2f
