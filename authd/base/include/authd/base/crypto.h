// Thin, owning wrappers over OpenSSL 3 EVP. Every function and method is thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include "authd/base/bytes.h"
#include "authd/base/openssl_ptr.h"
#include "authd/base/result.h"

namespace authd {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// n bytes from the OpenSSL CSPRNG. Aborts the process if the generator fails: running on
// without randomness would issue guessable secrets.
Bytes RandomBytes(size_t n);
SecretBytes RandomSecret(size_t n);
// A random identifier: `bytes` random bytes, base64url.
std::string RandomId(size_t bytes);

Bytes Sha256(ByteView data);
Bytes HmacSha256(ByteView key, ByteView data);
Bytes HmacSha1(ByteView key, ByteView data);
Bytes HmacSha512(ByteView key, ByteView data);
// RFC 5869 HKDF-SHA256.
SecretBytes HkdfSha256(ByteView key, ByteView salt, ByteView info, size_t length);

// AES-256-GCM. Sealed layout: version byte 0x01 || 12-byte nonce || ciphertext || 16-byte tag.
// `aad` binds the ciphertext to its context (table, column, row id).
Bytes SealAesGcm(ByteView key32, ByteView plaintext, ByteView aad);
// kInternal when the key, aad or data do not match (the caller names the context).
Result<SecretBytes> OpenAesGcm(ByteView key32, ByteView sealed, ByteView aad);

// A signing or verifying context set up once for one key, copied for each operation. Setting one
// up (EVP_DigestSignInit, EVP_DigestVerifyInit) looks the signature and digest algorithms up by
// name in OpenSSL 3 on every call; a copy does not. An OpenSSL context must not be used by two
// threads at once, so copies are taken under a lock.
class PreparedDigestContext {
 public:
  // `initialised` has been through EVP_DigestSignInit or EVP_DigestVerifyInit (and any
  // parameters set on its EVP_PKEY_CTX); it is never used for an operation itself.
  explicit PreparedDigestContext(EvpMdCtxPtr initialised) : ctx_(std::move(initialised)) {}
  // A copy ready for one EVP_DigestSign or EVP_DigestVerify, or nullptr if copying failed.
  EvpMdCtxPtr Copy() const;

 private:
  mutable std::mutex mu_;
  EvpMdCtxPtr ctx_;
};

// Signing algorithms for access tokens (JWS names).
enum class JwsAlg { kES256, kEdDSA };
std::string_view JwsAlgName(JwsAlg alg);

// A token-signing key pair.
class SigningKey {
 public:
  static SigningKey Generate(JwsAlg alg);
  // From PKCS#8 DER; kInternal if the bytes are not a key of `alg`.
  static Result<SigningKey> FromPrivateDer(JwsAlg alg, ByteView der);

  JwsAlg alg() const { return alg_; }
  SecretBytes PrivateDer() const;
  // The public key as a JWK member set without kid/alg/use: {"kty","crv","x"[,"y"]}.
  std::string PublicJwkFields() const;
  // JWS signature over `input`: raw R||S (64 bytes) for ES256, 64 bytes for EdDSA.
  Bytes Sign(ByteView input) const;
  // Verifies a JWS signature made by this key's public half.
  bool Verify(ByteView input, ByteView signature) const;
  EVP_PKEY* pkey() const { return pkey_.get(); }

 private:
  SigningKey(JwsAlg alg, EvpPkeyPtr pkey);
  JwsAlg alg_;
  EvpPkeyPtr pkey_;
  std::unique_ptr<PreparedDigestContext> signer_;
};

// Verifies a JWS signature with a bare public key (ES256: raw R||S, refuses r or s of 0 or
// >= n; EdDSA: 64 bytes).
bool VerifyJwsSignature(JwsAlg alg, EVP_PKEY* pub, ByteView input, ByteView signature);

}  // namespace authd
