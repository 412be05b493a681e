#include "authd/base/crypto.h"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "authd/base/encoding.h"
#include "authd/base/openssl_ptr.h"

namespace authd {
namespace {

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"crypto_failure\",\"what\":\"%s\"}\n", what);
  std::abort();
}

constexpr size_t kGcmNonce = 12;
constexpr size_t kGcmTag = 16;
constexpr uint8_t kSealVersion = 1;

// The P-256 group order n, for refusing out-of-range signature scalars.
const BIGNUM* P256Order() {
  static BIGNUM* n = [] {
    BIGNUM* v = nullptr;
    BN_hex2bn(&v, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    return v;
  }();
  return n;
}

// OpenSSL 3 looks an algorithm up by name (a lock and a hash table, contended across request
// threads) on every call that is given EVP_sha256() and friends. Fetched once here, the lookup is
// skipped; the fetched objects live as long as the process.
const EVP_MD* FetchedMd(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (!md) Fatal("EVP_MD_fetch");
  return md;
}
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = FetchedMd("SHA2-256");
  return md;
}
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (!c) Fatal("EVP_CIPHER_fetch");
    return c;
  }();
  return cipher;
}

// An HMAC context per digest, set up once; each use works on a copy, so neither the MAC nor the
// digest is looked up again.
class HmacTemplate {
 public:
  explicit HmacTemplate(const char* digest) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ctx_ = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    EVP_MAC_free(mac);  // the context keeps its own reference
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
                           OSSL_PARAM_construct_end()};
    if (!ctx_ || EVP_MAC_CTX_set_params(ctx_, params) != 1) Fatal("HMAC setup");
  }
  HmacTemplate(const HmacTemplate&) = delete;
  HmacTemplate& operator=(const HmacTemplate&) = delete;

  Bytes Compute(ByteView key, ByteView data) const {
    static const uint8_t kEmpty = 0;
    Bytes out(EVP_MAX_MD_SIZE);
    size_t len = 0;
    std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> c(EVP_MAC_CTX_dup(ctx_), &EVP_MAC_CTX_free);
    if (!c || EVP_MAC_init(c.get(), key.empty() ? &kEmpty : key.data(), key.size(), nullptr) != 1 ||
        EVP_MAC_update(c.get(), data.data(), data.size()) != 1 || EVP_MAC_final(c.get(), out.data(), &len, out.size()) != 1) {
      Fatal("HMAC");
    }
    out.resize(len);
    return out;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;  // never freed: one per digest for the life of the process
};

}  // namespace

namespace {

// Small draws come from a per-thread block of DRBG output: OpenSSL's generator makes a system call
// (its fork check) on every call, and a login draws random bytes several times. The block is
// wiped when its thread ends and dropped in a child process after fork.
std::atomic<uint64_t> g_fork_generation{0};

class RandomPool {
 public:
  static constexpr size_t kBlock = 256;
  static constexpr size_t kMaxDraw = 64;

  ~RandomPool() { OPENSSL_cleanse(block_, sizeof block_); }

  void Fill(uint8_t* out, size_t n) {
    static std::once_flag registered;
    std::call_once(registered, [] {
      pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
    });
    const uint64_t generation = g_fork_generation.load(std::memory_order_relaxed);
    if (generation != generation_) {
      generation_ = generation;
      left_ = 0;
    }
    if (left_ < n) {
      if (RAND_bytes(block_, static_cast<int>(kBlock)) != 1) Fatal("RAND_bytes");
      left_ = kBlock;
    }
    uint8_t* from = block_ + (kBlock - left_);
    std::memcpy(out, from, n);
    OPENSSL_cleanse(from, n);  // each byte is handed out once
    left_ -= n;
  }

 private:
  uint8_t block_[kBlock] = {};
  size_t left_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  if (n == 0) return out;
  if (n <= RandomPool::kMaxDraw) {
    thread_local RandomPool pool;
    pool.Fill(out.data(), n);
  } else if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    Fatal("RAND_bytes");
  }
  return out;
}

SecretBytes RandomSecret(size_t n) { return SecretBytes(RandomBytes(n)); }

std::string RandomId(size_t bytes) { return Base64UrlEncode(RandomBytes(bytes)); }

Bytes Sha256(ByteView data) {
  Bytes out(32);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, Sha256Md(), nullptr) != 1) {
    Fatal("EVP_Digest");
  }
  return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
  static const HmacTemplate hmac("SHA2-256");
  return hmac.Compute(key, data);
}
Bytes HmacSha1(ByteView key, ByteView data) {
  static const HmacTemplate hmac("SHA1");
  return hmac.Compute(key, data);
}
Bytes HmacSha512(ByteView key, ByteView data) {
  static const HmacTemplate hmac("SHA2-512");
  return hmac.Compute(key, data);
}

SecretBytes HkdfSha256(ByteView key, ByteView salt, ByteView info, size_t length) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  Bytes out(length);
  size_t outlen = length;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), salt.data(), static_cast<int>(salt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), key.data(), static_cast<int>(key.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), info.data(), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &outlen) <= 0) {
    Fatal("HKDF");
  }
  return SecretBytes(std::move(out));
}

Bytes SealAesGcm(ByteView key32, ByteView plaintext, ByteView aad) {
  if (key32.size() != 32) Fatal("seal key size");
  Bytes out(1 + kGcmNonce + plaintext.size() + kGcmTag);
  out[0] = kSealVersion;
  Bytes nonce = RandomBytes(kGcmNonce);
  std::copy(nonce.begin(), nonce.end(), out.begin() + 1);
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  uint8_t* ct = out.data() + 1 + kGcmNonce;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, key32.data(), nonce.data()) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() &&
       EVP_EncryptUpdate(ctx.get(), ct, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTag, ct + plaintext.size()) != 1) {
    Fatal("AES-GCM seal");
  }
  return out;
}

Result<SecretBytes> OpenAesGcm(ByteView key32, ByteView sealed, ByteView aad) {
  if (key32.size() != 32 || sealed.size() < 1 + kGcmNonce + kGcmTag || sealed[0] != kSealVersion) {
    return Err(ErrorCode::kInternal, "sealed value is malformed");
  }
  const size_t ct_len = sealed.size() - 1 - kGcmNonce - kGcmTag;
  const uint8_t* nonce = sealed.data() + 1;
  const uint8_t* ct = nonce + kGcmNonce;
  Bytes tag(ct + ct_len, ct + ct_len + kGcmTag);
  Bytes plain(ct_len);
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, key32.data(), nonce) == 1 &&
            (aad.empty() ||
             EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (ct_len == 0 ||
             EVP_DecryptUpdate(ctx.get(), plain.data(), &len, ct, static_cast<int>(ct_len)) == 1) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTag, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), plain.data() + ct_len, &len) == 1;
  SecretBytes result(std::move(plain));
  if (!ok) return Err(ErrorCode::kInternal, "sealed value does not open with this key");
  return result;
}

std::string_view JwsAlgName(JwsAlg alg) { return alg == JwsAlg::kES256 ? "ES256" : "EdDSA"; }

SigningKey SigningKey::Generate(JwsAlg alg) {
  EVP_PKEY* raw = alg == JwsAlg::kES256 ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!raw) Fatal("key generation");
  return SigningKey(alg, EvpPkeyPtr(raw));
}

Result<SigningKey> SigningKey::FromPrivateDer(JwsAlg alg, ByteView der) {
  const unsigned char* p = der.data();
  EvpPkeyPtr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!key) return Err(ErrorCode::kInternal, "signing key does not parse");
  int id = EVP_PKEY_get_base_id(key.get());
  if ((alg == JwsAlg::kES256 && id != EVP_PKEY_EC) || (alg == JwsAlg::kEdDSA && id != EVP_PKEY_ED25519)) {
    return Err(ErrorCode::kInternal, "signing key has the wrong type");
  }
  return SigningKey(alg, std::move(key));
}

SecretBytes SigningKey::PrivateDer() const {
  unsigned char* buf = nullptr;
  int len = i2d_PrivateKey(pkey_.get(), &buf);
  if (len <= 0) Fatal("i2d_PrivateKey");
  SecretBytes out(ByteView(buf, static_cast<size_t>(len)));
  OPENSSL_clear_free(buf, static_cast<size_t>(len));
  return out;
}

std::string SigningKey::PublicJwkFields() const {
  if (alg_ == JwsAlg::kEdDSA) {
    uint8_t pub[32];
    size_t len = sizeof(pub);
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), pub, &len) != 1) Fatal("raw public key");
    return "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + Base64UrlEncode(ByteView(pub, len)) + "\"";
  }
  uint8_t point[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &len) != 1 ||
      len != 65) {
    Fatal("EC public key");
  }
  return "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64UrlEncode(ByteView(point + 1, 32)) +
         "\",\"y\":\"" + Base64UrlEncode(ByteView(point + 33, 32)) + "\"";
}

EvpMdCtxPtr PreparedDigestContext::Copy() const {
  EvpMdCtxPtr copy(EVP_MD_CTX_new());
  if (!copy) return nullptr;
  {
    std::lock_guard lock(mu_);
    if (EVP_MD_CTX_copy_ex(copy.get(), ctx_.get()) != 1) return nullptr;
  }
  // One operation per copy: the final step may use the context itself instead of duplicating
  // it first.
  EVP_MD_CTX_set_flags(copy.get(), EVP_MD_CTX_FLAG_FINALISE);
  return copy;
}

SigningKey::SigningKey(JwsAlg alg, EvpPkeyPtr pkey) : alg_(alg), pkey_(std::move(pkey)) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg_ == JwsAlg::kES256 ? Sha256Md() : nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey_.get()) != 1) Fatal("sign init");
  signer_ = std::make_unique<PreparedDigestContext>(std::move(ctx));
}

Bytes SigningKey::Sign(ByteView input) const {
  EvpMdCtxPtr ctx = signer_->Copy();
  if (!ctx) Fatal("sign context");
  // At most 72 bytes of DER for ES256, exactly 64 for EdDSA.
  size_t siglen = static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()));
  Bytes sig(siglen);
  if (EVP_DigestSign(ctx.get(), sig.data(), &siglen, input.data(), input.size()) != 1) Fatal("sign");
  sig.resize(siglen);
  if (alg_ == JwsAlg::kEdDSA) return sig;
  // DER ECDSA-Sig-Value -> JWS raw R||S (RFC 7518 §3.4).
  const unsigned char* p = sig.data();
  EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!es) Fatal("ECDSA signature");
  Bytes raw(64);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), raw.data() + 32, 32) != 32) {
    Fatal("ECDSA signature size");
  }
  return raw;
}

bool SigningKey::Verify(ByteView input, ByteView signature) const {
  return VerifyJwsSignature(alg_, pkey_.get(), input, signature);
}

bool VerifyJwsSignature(JwsAlg alg, EVP_PKEY* pub, ByteView input, ByteView signature) {
  if (signature.size() != 64) return false;
  Bytes der_sig;
  ByteView to_verify = signature;
  if (alg == JwsAlg::kES256) {
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC) return false;
    BignumPtr r(BN_bin2bn(signature.data(), 32, nullptr));
    BignumPtr s(BN_bin2bn(signature.data() + 32, 32, nullptr));
    if (!r || !s) return false;
    // beyond OpenSSL: refuse r or s outside [1, n-1] explicitly (CVE-2022-21449 class).
    if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), P256Order()) >= 0 ||
        BN_cmp(s.get(), P256Order()) >= 0) {
      return false;
    }
    EcdsaSigPtr es(ECDSA_SIG_new());
    if (!es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) return false;
    (void)r.release();
    (void)s.release();
    unsigned char* buf = nullptr;
    int len = i2d_ECDSA_SIG(es.get(), &buf);
    if (len <= 0) return false;
    der_sig.assign(buf, buf + len);
    OPENSSL_free(buf);
    to_verify = der_sig;
  } else if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_ED25519) {
    return false;
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg == JwsAlg::kES256 ? Sha256Md() : nullptr;
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pub) == 1 &&
         EVP_DigestVerify(ctx.get(), to_verify.data(), to_verify.size(), input.data(), input.size()) == 1;
}

}  // namespace authd
