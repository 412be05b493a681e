// Test-side construction of WebAuthn structures with real keys (OpenSSL), so parsers and
// verifiers are exercised with data that a correct authenticator would produce.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <optional>
#include <string>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/webauthn/authenticator_data.h"
#include "authd/webauthn/cose_key.h"

namespace authd::webauthn::testing {

inline EvpPkeyPtr NewKey(int64_t alg) {
  switch (alg) {
    case cose::kES256: return EvpPkeyPtr(EVP_EC_gen("P-256"));
    case cose::kES384: return EvpPkeyPtr(EVP_EC_gen("P-384"));
    case cose::kES512: return EvpPkeyPtr(EVP_EC_gen("P-521"));
    case cose::kEdDSA: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    default: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  }
}

// A WebAuthn signature: DER ECDSA, raw EdDSA, RSA PKCS#1 v1.5 or PSS, as authenticators make.
inline Bytes SignWith(EVP_PKEY* key, int64_t alg, ByteView data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == cose::kEdDSA ? nullptr
                     : alg == cose::kES384 ? EVP_sha384()
                     : alg == cose::kES512 ? EVP_sha512()
                                           : EVP_sha256();
  EVP_DigestSignInit(ctx, &pctx, md, nullptr, key);
  if (alg == cose::kPS256) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size());
  Bytes sig(len);
  EVP_DigestSign(ctx, sig.data(), &len, data.data(), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

struct AuthDataSpec {
  std::string rp_id = "localhost";
  uint8_t flags = flags::kUserPresent;
  uint32_t sign_count = 0;
  std::optional<Bytes> credential_id;  // with cose_key: sets AT and appends attested data
  Bytes cose_key;
  Bytes aaguid = Bytes(16, 0);
  Bytes extensions;  // appended as is; set ED yourself
};

inline Bytes MakeAuthData(const AuthDataSpec& s) {
  Bytes out = Sha256(AsBytes(s.rp_id));
  uint8_t f = s.flags;
  if (s.credential_id) f |= flags::kAttestedData;
  out.push_back(f);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(s.sign_count >> shift));
  if (s.credential_id) {
    out.insert(out.end(), s.aaguid.begin(), s.aaguid.end());
    out.push_back(static_cast<uint8_t>(s.credential_id->size() >> 8));
    out.push_back(static_cast<uint8_t>(s.credential_id->size()));
    out.insert(out.end(), s.credential_id->begin(), s.credential_id->end());
    out.insert(out.end(), s.cose_key.begin(), s.cose_key.end());
  }
  out.insert(out.end(), s.extensions.begin(), s.extensions.end());
  return out;
}

inline std::string ClientDataJson(const std::string& type, ByteView challenge, const std::string& origin,
                                  const std::string& extra = "") {
  return "{\"type\":\"" + type + "\",\"challenge\":\"" + Base64UrlEncode(challenge) + "\",\"origin\":\"" + origin +
         "\"" + extra + "}";
}

}  // namespace authd::webauthn::testing
