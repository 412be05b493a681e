// Keys derived from the master key. The master key never leaves this object; each purpose gets
// its own HKDF-derived key. Thread-safe after construction (read-only).
#pragma once

#include <string>
#include <string_view>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::domain {

inline constexpr size_t kMasterKeySize = 32;

class Keyring {
 public:
  // `master` must be kMasterKeySize bytes.
  explicit Keyring(const SecretBytes& master);

  // AES-256-GCM with `context` (e.g. "client.ykval_key:<id>") as associated data, so a sealed
  // value moved to another row or column no longer opens.
  Bytes Seal(ByteView plaintext, std::string_view context) const;
  // kInternal when the value was sealed under another key or context.
  Result<SecretBytes> Open(ByteView sealed, std::string_view context) const;

  // MAC that chains audit events.
  Bytes AuditMac(ByteView data) const;
  // Stable keyed pseudonym for a username or address in the audit log: "ps:<16 hex>".
  std::string Pseudonym(std::string_view value) const;
  // Stable made-up values (e.g. decoy credential ids for unknown users), the same on every node.
  Bytes DecoyMac(ByteView data) const;

 private:
  SecretBytes seal_key_;
  SecretBytes audit_key_;
  SecretBytes pseudonym_key_;
  SecretBytes decoy_key_;
};

}  // namespace authd::domain
