// Attestation objects (WebAuthn L3 §6.5) and the statement formats authd verifies (§8): none,
// packed (self and x5c), fido-u2f. Pure: the verification time and the trust anchors are
// parameters. Thread-safe (TrustPolicy is read-only after construction).
#pragma once

#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "authd/base/bytes.h"
#include "authd/base/result.h"
#include "authd/webauthn/authenticator_data.h"
#include "authd/webauthn/cbor.h"
#include "authd/webauthn/cose_key.h"

namespace authd::webauthn {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
struct X509StoreDeleter {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
using X509StorePtr = std::shared_ptr<X509_STORE>;

// §7.1 step 13: fmt, attStmt and authData, decoded strictly. attStmt stays a CBOR item.
struct AttestationObject {
  std::string fmt;
  CborPtr att_stmt;
  AuthenticatorData auth_data;
};
// kMalformedCbor / kNonCanonicalCbor / kMalformedAuthData; a fmt that is not text is
// kUnsupportedAttestationFormat.
Result<AttestationObject> ParseAttestationObject(ByteView cbor);

enum class AttestationType { kNone, kSelf, kBasic };
std::string_view AttestationTypeName(AttestationType t);

struct AttestationResult {
  AttestationType type = AttestationType::kNone;
  bool trusted = false;        // the x5c chain reached a configured root
  std::vector<X509Ptr> chain;  // x5c, leaf first
};

// §7.1 steps 21-22: the format's own verification procedure. kUnsupportedAttestationFormat for
// an unknown fmt (compared case-sensitively); kAttestationInvalid when the statement is
// malformed or its certificate breaks the format's rules; kSignatureInvalid when the signature
// does not verify.
Result<AttestationResult> VerifyAttestationStatement(const AttestationObject& obj, ByteView client_data_hash,
                                                     const CosePublicKey& credential_key);

// §7.1 steps 23-24: which attestation the relying party accepts.
struct TrustPolicy {
  bool allow_none = true;
  bool allow_self = true;
  bool require_trusted_chain = false;  // x5c must chain to `roots`
  X509StorePtr roots;                  // may be null: then no chain is trusted
  std::vector<Bytes> aaguid_allow;     // non-empty: only these, and only with a trusted chain
  std::vector<Bytes> aaguid_deny;
  int64_t now = 0;                     // verification time, Unix seconds
};

// Checks the chain against the roots (filling result.trusted) and applies the policy.
// kAttestationUntrusted when the policy refuses the attestation.
Status AssessTrust(AttestationResult& result, ByteView aaguid, const TrustPolicy& policy);

// Loads PEM certificates into a new trust store; kInvalidArgument naming the file.
Result<X509StorePtr> LoadTrustAnchors(const std::vector<std::string>& pem_files);

}  // namespace authd::webauthn
