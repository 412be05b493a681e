// WebAuthn ceremony handles (API.md: "an opaque single-use handle that binds the challenge, user,
// client and expiry"). The ceremony travels with the client, sealed with AES-256-GCM under a key
// derived from the master key, so starting a ceremony writes nothing to the store and any node
// sharing the master key can finish it. Single use is enforced when it finishes: its random id
// is recorded as used (until it expires) in the transaction that acts on it.
#pragma once

#include <string>
#include <string_view>

#include "authd/base/bytes.h"
#include "authd/base/result.h"
#include "authd/domain/keyring.h"
#include "authd/domain/model.h"

namespace authd::domain {

// Longest handle OpenCeremony looks at; longer strings are refused before any decoding.
inline constexpr size_t kMaxCeremonyHandle = 4096;
// Most credentials an authentication ceremony lists (allowCredentials).
inline constexpr size_t kMaxCeremonyAllowed = 64;

// The short digest of a base64url credential id kept in Ceremony::allowed.
Bytes AllowedCredentialDigest(std::string_view credential_id);

// A fresh ceremony id (Ceremony::id) for a new ceremony.
Bytes NewCeremonyId();

// The handle (base64url) for `c`. `c.id` must be set by NewCeremonyId.
std::string SealCeremony(const Keyring& keyring, const Ceremony& c);

// The ceremony in `handle`, or kChallengeUnknown when it is not one this service sealed (wrong
// key, altered, truncated, too long, not base64url). Expiry and kind are the caller's checks.
Result<Ceremony> OpenCeremony(const Keyring& keyring, std::string_view handle);

}  // namespace authd::domain
