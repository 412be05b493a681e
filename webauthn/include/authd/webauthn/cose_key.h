// COSE_Key credential public keys (RFC 9052/9053, WebAuthn §5.8.5) and the signatures made with
// them. Pure and thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "authd/base/bytes.h"
#include "authd/base/crypto.h"
#include "authd/base/result.h"

namespace authd::webauthn {

// COSE algorithm identifiers (IANA "COSE Algorithms").
namespace cose {
inline constexpr int64_t kES256 = -7;
inline constexpr int64_t kES384 = -35;
inline constexpr int64_t kES512 = -36;
inline constexpr int64_t kEdDSA = -8;
inline constexpr int64_t kRS256 = -257;
inline constexpr int64_t kPS256 = -37;
inline constexpr int64_t kRS1 = -65535;  // SHA-1: never accepted
}  // namespace cose

struct CosePublicKey {
  int64_t alg = 0;
  EvpPkeyPtr key;
  // Set by PrepareVerifier for a key that will check many signatures; VerifySignature then
  // copies it instead of setting a context up each time.
  std::shared_ptr<const PreparedDigestContext> verifier;
};

// Sets up `key.verifier`. kInvalidPublicKey if the key cannot verify with its algorithm.
Status PrepareVerifier(CosePublicKey& key);

// Parses a COSE_Key and checks it thoroughly: kty/crv/alg must agree (EC2 P-256 with ES256,
// P-384 with ES384, P-521 with ES512; OKP Ed25519 with EdDSA; RSA with RS256 or PS256 and a
// modulus of at least 2048 bits), coordinates of exactly the curve's size, the point on the
// curve, no private parameters. kAlgNotAllowed when alg is missing or not one of these;
// kInvalidPublicKey for every other problem; kMalformedCbor/kNonCanonicalCbor from the decoder.
Result<CosePublicKey> ParseCoseKey(ByteView cbor);

// Canonical COSE_Key encoding of a public key (EC P-256/384/521, Ed25519, RSA).
Result<Bytes> EncodeCoseKey(EVP_PKEY* key, int64_t alg);

// A COSE_Key from a bare public key as FIDO tools print it: ES256 as x||y (64 bytes) or the
// uncompressed point 0x04||x||y (65), EdDSA as 32 bytes, RS256 as n (256 bytes) || e (3).
// kInvalidPublicKey when the bytes are not such a key (the result is checked with ParseCoseKey).
Result<Bytes> CoseKeyFromRaw(int64_t alg, ByteView raw);

// Verifies a WebAuthn signature: ECDSA as strict DER (anything else, trailing bytes included, is
// refused), EdDSA as 64 raw bytes, RSA PKCS#1 v1.5 or PSS (salt = hash length) with SHA-256.
// kSignatureInvalid on any failure.
Status VerifySignature(const CosePublicKey& key, ByteView data, ByteView signature);

}  // namespace authd::webauthn
