// Authenticator data (WebAuthn L3 §6.1) and attested credential data (§6.5.1). Pure and
// thread-safe; the parsed value refers to nothing outside itself.
#pragma once

#include <cstdint>
#include <optional>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::webauthn {

inline constexpr size_t kMaxCredentialIdLength = 1023;  // §7.1 step 25

namespace flags {
inline constexpr uint8_t kUserPresent = 0x01;    // UP
inline constexpr uint8_t kUserVerified = 0x04;   // UV
inline constexpr uint8_t kBackupEligible = 0x08; // BE
inline constexpr uint8_t kBackupState = 0x10;    // BS
inline constexpr uint8_t kAttestedData = 0x40;   // AT
inline constexpr uint8_t kExtensionData = 0x80;  // ED
}  // namespace flags

struct AttestedCredentialData {
  Bytes aaguid;         // 16 bytes
  Bytes credential_id;  // 1..65535 bytes as encoded; step 25 limits it to 1023
  Bytes cose_key;       // the credential public key, canonical CBOR, exactly as encoded
};

struct AuthenticatorData {
  Bytes raw;            // the whole structure, as signed
  Bytes rp_id_hash;     // 32 bytes
  uint8_t flags = 0;
  uint32_t sign_count = 0;
  std::optional<AttestedCredentialData> attested;
  Bytes extensions;     // canonical CBOR map, empty when ED is clear

  bool user_present() const { return flags & flags::kUserPresent; }
  bool user_verified() const { return flags & flags::kUserVerified; }
  bool backup_eligible() const { return flags & flags::kBackupEligible; }
  bool backup_state() const { return flags & flags::kBackupState; }
};

// Parses the structure with every length checked against the input: at least 37 bytes; AT set
// if and only if attested credential data follows; ED set if and only if an extensions map
// follows; nothing after the last part. kMalformedAuthData for any violation (the COSE key and
// extensions must be canonical CBOR: kMalformedAuthData too, naming the CBOR problem).
Result<AuthenticatorData> ParseAuthenticatorData(ByteView data);

// §7.1 step 17 / §7.2 step 18: BS set while BE is clear is invalid (kInvalidFlags).
Status CheckBackupFlags(const AuthenticatorData& ad);

}  // namespace authd::webauthn
