#include "authd/webauthn/attestation.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>

#include "authd/base/crypto.h"
#include "authd/webauthn/der.h"

namespace authd::webauthn {
namespace {

Error Invalid(std::string why) { return Err(ErrorCode::kAttestationInvalid, std::move(why)); }

Result<X509Ptr> ParseCert(ByteView der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) return Invalid("an x5c certificate does not parse");
  return cert;
}

Result<std::vector<X509Ptr>> ParseX5c(const cbor_item_t* x5c) {
  std::vector<X509Ptr> chain;
  if (!x5c || !cbor_isa_array(x5c) || cbor_array_size(x5c) == 0 || cbor_array_size(x5c) > 8) {
    return Invalid("x5c must be an array of 1 to 8 certificates");
  }
  for (size_t i = 0; i < cbor_array_size(x5c); ++i) {
    auto der = CborBytes(cbor_array_handle(x5c)[i]);
    if (!der) return Invalid("x5c holds something that is not a certificate");
    AUTHD_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(*der));
    chain.push_back(std::move(cert));
  }
  return chain;
}

Result<CosePublicKey> CertKey(X509* cert, int64_t alg) {
  CosePublicKey key;
  key.alg = alg;
  key.key.reset(X509_get_pubkey(cert));
  if (!key.key) return Invalid("the attestation certificate has no usable key");
  int id = EVP_PKEY_get_base_id(key.key.get());
  bool fits = ((alg == cose::kES256 || alg == cose::kES384 || alg == cose::kES512) && id == EVP_PKEY_EC) ||
              (alg == cose::kEdDSA && id == EVP_PKEY_ED25519) ||
              ((alg == cose::kRS256 || alg == cose::kPS256) && id == EVP_PKEY_RSA);
  if (!fits) return Invalid("the attestation certificate's key does not fit alg");
  return key;
}

Bytes Concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// The value (the bytes inside the OCTET STRING) of the certificate's extension `oid`, and
// whether it is marked critical; nullopt when the certificate has no such extension.
struct ExtensionValue {
  ByteView der;
  bool critical = false;
};
std::optional<ExtensionValue> FindExtension(X509* cert, const char* oid_text) {
  ASN1_OBJECT* oid = OBJ_txt2obj(oid_text, 1);
  int idx = oid ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;
  ASN1_OBJECT_free(oid);
  if (idx < 0) return std::nullopt;
  X509_EXTENSION* ext = X509_get_ext(cert, idx);
  ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  return ExtensionValue{ByteView(ASN1_STRING_get0_data(value), static_cast<size_t>(ASN1_STRING_length(value))),
                        X509_EXTENSION_get_critical(ext) != 0};
}

std::string SubjectEntry(X509* cert, int nid) {
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// §8.2.1 "Certificate Requirements for Packed Attestation Statements".
Status CheckPackedCertificate(X509* cert, ByteView aaguid) {
  if (X509_get_version(cert) != 2) return Invalid("packed attestation certificate is not X.509 v3");
  if (SubjectEntry(cert, NID_countryName).size() != 2) return Invalid("packed attestation certificate lacks subject C");
  if (SubjectEntry(cert, NID_organizationName).empty()) return Invalid("packed attestation certificate lacks subject O");
  if (SubjectEntry(cert, NID_organizationalUnitName) != "Authenticator Attestation") {
    return Invalid("packed attestation certificate subject OU is not \"Authenticator Attestation\"");
  }
  if (SubjectEntry(cert, NID_commonName).empty()) return Invalid("packed attestation certificate lacks subject CN");
  if (X509_check_ca(cert) != 0) return Invalid("packed attestation certificate must not be a CA");
  // id-fido-gen-ce-aaguid (1.3.6.1.4.1.45724.1.1.4): if present, not critical and equal to the AAGUID.
  if (auto ext = FindExtension(cert, "1.3.6.1.4.1.45724.1.1.4")) {
    if (ext->critical) return Invalid("the AAGUID extension must not be critical");
    // The extension value is an OCTET STRING wrapping the 16-byte AAGUID.
    static const uint8_t kPrefix[] = {0x04, 0x10};
    if (ext->der.size() != 18 || !std::equal(std::begin(kPrefix), std::end(kPrefix), ext->der.begin()) ||
        !SafeEquals(ext->der.subspan(2), aaguid)) {
      return Invalid("the certificate's AAGUID does not match the authenticator data");
    }
  }
  return Ok();
}

Result<AttestationResult> VerifyNone(const AttestationObject& obj) {
  if (!cbor_isa_map(obj.att_stmt.get()) || cbor_map_size(obj.att_stmt.get()) != 0) {
    return Invalid("fmt none needs an empty attStmt");
  }
  return AttestationResult{};
}

Result<AttestationResult> VerifyPacked(const AttestationObject& obj, ByteView client_data_hash,
                                       const CosePublicKey& credential_key) {
  const cbor_item_t* stmt = obj.att_stmt.get();
  auto alg = CborInt(MapFind(stmt, "alg"));
  auto sig = CborBytes(MapFind(stmt, "sig"));
  if (!alg || !sig) return Invalid("packed attStmt needs alg and sig");
  Bytes signed_data = Concat(obj.auth_data.raw, client_data_hash);
  AttestationResult out;
  if (const cbor_item_t* x5c = MapFind(stmt, "x5c")) {
    AUTHD_ASSIGN_OR_RETURN(out.chain, ParseX5c(x5c));
    AUTHD_ASSIGN_OR_RETURN(CosePublicKey cert_key, CertKey(out.chain[0].get(), *alg));
    AUTHD_RETURN_IF_ERROR(VerifySignature(cert_key, signed_data, *sig));
    AUTHD_RETURN_IF_ERROR(CheckPackedCertificate(out.chain[0].get(), obj.auth_data.attested->aaguid));
    out.type = AttestationType::kBasic;
    return out;
  }
  // Self attestation: the credential key signs, with its own algorithm.
  if (*alg != credential_key.alg) return Invalid("self attestation alg differs from the credential's");
  AUTHD_RETURN_IF_ERROR(VerifySignature(credential_key, signed_data, *sig));
  out.type = AttestationType::kSelf;
  return out;
}

Result<AttestationResult> VerifyFidoU2f(const AttestationObject& obj, ByteView client_data_hash,
                                        const CosePublicKey& credential_key) {
  const cbor_item_t* stmt = obj.att_stmt.get();
  auto sig = CborBytes(MapFind(stmt, "sig"));
  const cbor_item_t* x5c = MapFind(stmt, "x5c");
  if (!sig || !x5c) return Invalid("fido-u2f attStmt needs sig and x5c");
  if (!cbor_isa_array(x5c) || cbor_array_size(x5c) != 1) return Invalid("fido-u2f x5c must hold exactly one certificate");
  AttestationResult out;
  AUTHD_ASSIGN_OR_RETURN(out.chain, ParseX5c(x5c));
  EVP_PKEY* cert_pub = X509_get0_pubkey(out.chain[0].get());
  char group[32] = {};
  size_t glen = 0;
  if (!cert_pub || EVP_PKEY_get_base_id(cert_pub) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(cert_pub, "group", group, sizeof(group), &glen) != 1 ||
      std::string_view(group, glen) != "prime256v1") {
    return Invalid("fido-u2f attestation certificate must hold an EC P-256 key");
  }
  const auto& acd = *obj.auth_data.attested;
  if (acd.aaguid != Bytes(16, 0)) return Invalid("fido-u2f authenticators have an all-zero AAGUID");
  if (credential_key.alg != cose::kES256) return Invalid("fido-u2f credentials are ES256 keys");
  auto decoded = DecodeCbor(acd.cose_key);
  auto x = decoded ? CborBytes(MapFind(decoded->item.get(), int64_t{-2})) : std::nullopt;
  auto y = decoded ? CborBytes(MapFind(decoded->item.get(), int64_t{-3})) : std::nullopt;
  if (!x || !y || x->size() != 32 || y->size() != 32) return Invalid("fido-u2f key coordinates must be 32 bytes");
  // §8.6 step 5: 0x00 || rpIdHash || clientDataHash || credentialId || 0x04 || x || y
  Bytes data = {0x00};
  data.insert(data.end(), obj.auth_data.rp_id_hash.begin(), obj.auth_data.rp_id_hash.end());
  data.insert(data.end(), client_data_hash.begin(), client_data_hash.end());
  data.insert(data.end(), acd.credential_id.begin(), acd.credential_id.end());
  data.push_back(0x04);
  data.insert(data.end(), x->begin(), x->end());
  data.insert(data.end(), y->begin(), y->end());
  CosePublicKey cert_key;
  cert_key.alg = cose::kES256;
  cert_key.key.reset(X509_get_pubkey(out.chain[0].get()));
  AUTHD_RETURN_IF_ERROR(VerifySignature(cert_key, data, *sig));
  out.type = AttestationType::kBasic;
  return out;
}

// §8.8 Apple Anonymous: the credential certificate carries SHA-256(authData || clientDataHash)
// in extension 1.2.840.113635.100.8.2, as DER SEQUENCE { [1] EXPLICIT OCTET STRING (32) }, and
// its key is the credential's.
Result<AttestationResult> VerifyApple(const AttestationObject& obj, ByteView client_data_hash,
                                      const CosePublicKey& credential_key) {
  const cbor_item_t* stmt = obj.att_stmt.get();
  if (cbor_map_size(stmt) != 1) return Invalid("apple attStmt holds only x5c");
  AttestationResult out;
  AUTHD_ASSIGN_OR_RETURN(out.chain, ParseX5c(MapFind(stmt, "x5c")));
  X509* cert = out.chain[0].get();
  Bytes expected = Sha256(Concat(obj.auth_data.raw, client_data_hash));
  auto ext = FindExtension(cert, "1.2.840.113635.100.8.2");
  if (!ext) return Invalid("apple credential certificate lacks the nonce extension");
  ByteView der = ext->der;
  // 30 24 | A1 22 | 04 20 <nonce>: the one encoding DER allows for this structure.
  static const uint8_t kPrefix[] = {0x30, 0x24, 0xA1, 0x22, 0x04, 0x20};
  if (der.size() != sizeof(kPrefix) + 32 || !std::equal(std::begin(kPrefix), std::end(kPrefix), der.begin())) {
    return Invalid("apple nonce extension is malformed");
  }
  if (!SafeEquals(der.subspan(sizeof(kPrefix)), expected)) return Invalid("apple nonce does not match");
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), credential_key.key.get()) != 1) {
    return Invalid("apple credential certificate is for another key");
  }
  out.type = AttestationType::kBasic;
  return out;
}

// Android KeyDescription (the extension 1.3.6.1.4.1.11129.2.1.17), as §8.4 uses it.
struct KeyDescription {
  Bytes challenge;
  bool all_applications = false;  // in either authorization list
  bool tee_origin_generated = false;
  bool tee_purpose_sign = false;
};

std::optional<KeyDescription> ParseKeyDescription(ByteView ext) {
  size_t pos = 0;
  auto seq = der::Read(ext, pos);
  if (!seq || pos != ext.size() || seq->tag != 16 || !seq->constructed) return std::nullopt;
  ByteView body = seq->value;
  size_t p = 0;
  std::vector<der::Tlv> fields;
  while (p < body.size()) {
    auto f = der::Read(body, p);
    if (!f) return std::nullopt;
    fields.push_back(*f);
  }
  // version, securityLevel, keymasterVersion, keymasterSecurityLevel, challenge, uniqueId,
  // softwareEnforced, teeEnforced
  if (fields.size() != 8 || fields[4].tag != 4 || fields[6].tag != 16 || fields[7].tag != 16) return std::nullopt;
  KeyDescription kd;
  kd.challenge.assign(fields[4].value.begin(), fields[4].value.end());
  for (int list = 6; list <= 7; ++list) {
    ByteView items = fields[static_cast<size_t>(list)].value;
    size_t q = 0;
    while (q < items.size()) {
      auto item = der::Read(items, q);
      if (!item || item->tag_class != 2 || !item->constructed) return std::nullopt;
      size_t inner_pos = 0;
      auto inner = der::Read(item->value, inner_pos);
      if (!inner || inner_pos != item->value.size()) return std::nullopt;
      if (item->tag == 600) kd.all_applications = true;
      if (list != 7) continue;
      if (item->tag == 702) {  // origin
        auto v = der::Unsigned(*inner);
        kd.tee_origin_generated = v && *v == 0;  // KM_ORIGIN_GENERATED
      } else if (item->tag == 1 && inner->tag == 17) {  // purpose: SET OF INTEGER
        size_t r = 0;
        while (r < inner->value.size()) {
          auto purpose = der::Read(inner->value, r);
          if (!purpose) return std::nullopt;
          auto v = der::Unsigned(*purpose);
          if (v && *v == 2) kd.tee_purpose_sign = true;  // KM_PURPOSE_SIGN
        }
      }
    }
  }
  return kd;
}

// §8.4 Android Key: the credential certificate's key is the credential's, signs
// authData || clientDataHash, and its KeyDescription binds the clientDataHash, is not usable by
// all applications, and was generated in (and is limited to signing by) the TEE.
Result<AttestationResult> VerifyAndroidKey(const AttestationObject& obj, ByteView client_data_hash,
                                           const CosePublicKey& credential_key) {
  const cbor_item_t* stmt = obj.att_stmt.get();
  auto alg = CborInt(MapFind(stmt, "alg"));
  auto sig = CborBytes(MapFind(stmt, "sig"));
  if (!alg || !sig) return Invalid("android-key attStmt needs alg, sig and x5c");
  AttestationResult out;
  AUTHD_ASSIGN_OR_RETURN(out.chain, ParseX5c(MapFind(stmt, "x5c")));
  X509* cert = out.chain[0].get();
  AUTHD_ASSIGN_OR_RETURN(CosePublicKey cert_key, CertKey(cert, *alg));
  AUTHD_RETURN_IF_ERROR(VerifySignature(cert_key, Concat(obj.auth_data.raw, client_data_hash), *sig));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), credential_key.key.get()) != 1) {
    return Invalid("android-key certificate is for another key");
  }
  auto ext = FindExtension(cert, "1.3.6.1.4.1.11129.2.1.17");
  if (!ext) return Invalid("android-key certificate lacks the key description");
  auto kd = ParseKeyDescription(ext->der);
  if (!kd) return Invalid("android-key key description is malformed");
  if (!SafeEquals(kd->challenge, client_data_hash)) return Invalid("android-key challenge does not match");
  if (kd->all_applications) return Invalid("android-key credential is usable by all applications");
  if (!kd->tee_origin_generated || !kd->tee_purpose_sign) {
    return Invalid("android-key credential was not generated in the TEE for signing");
  }
  out.type = AttestationType::kBasic;
  return out;
}

}  // namespace

std::string_view AttestationTypeName(AttestationType t) {
  switch (t) {
    case AttestationType::kNone: return "none";
    case AttestationType::kSelf: return "self";
    case AttestationType::kBasic: return "basic";
  }
  return "none";
}

Result<AttestationObject> ParseAttestationObject(ByteView cbor) {
  AUTHD_ASSIGN_OR_RETURN(CborDecoded decoded, DecodeCbor(cbor, false, CborLimits{32 * 1024, 4, 256}));
  const cbor_item_t* map = decoded.item.get();
  if (!cbor_isa_map(map)) return Err(ErrorCode::kMalformedCbor, "attestationObject is not a map");
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    auto key = CborText(cbor_map_handle(map)[i].key);
    if (!key || (*key != "fmt" && *key != "attStmt" && *key != "authData")) {
      return Err(ErrorCode::kMalformedCbor, "attestationObject has an unexpected member");
    }
  }
  const cbor_item_t* fmt = MapFind(map, "fmt");
  const cbor_item_t* stmt = MapFind(map, "attStmt");
  auto auth = CborBytes(MapFind(map, "authData"));
  if (!fmt || !stmt || !auth) return Err(ErrorCode::kMalformedCbor, "attestationObject needs fmt, attStmt and authData");
  auto fmt_text = CborText(fmt);
  if (!fmt_text) return Err(ErrorCode::kUnsupportedAttestationFormat, "fmt is not a text string");
  if (!cbor_isa_map(stmt)) return Err(ErrorCode::kMalformedCbor, "attStmt is not a map");
  AttestationObject out;
  out.fmt = *fmt_text;
  out.att_stmt.reset(cbor_incref(const_cast<cbor_item_t*>(stmt)));
  AUTHD_ASSIGN_OR_RETURN(out.auth_data, ParseAuthenticatorData(*auth));
  return out;
}

Result<AttestationResult> VerifyAttestationStatement(const AttestationObject& obj, ByteView client_data_hash,
                                                     const CosePublicKey& credential_key) {
  if (!obj.auth_data.attested) return Err(ErrorCode::kMalformedAuthData, "no attested credential data");
  // §7.1 step 21: USASCII case-sensitive match against the formats we implement.
  if (obj.fmt == "none") return VerifyNone(obj);
  if (obj.fmt == "packed") return VerifyPacked(obj, client_data_hash, credential_key);
  if (obj.fmt == "fido-u2f") return VerifyFidoU2f(obj, client_data_hash, credential_key);
  if (obj.fmt == "apple") return VerifyApple(obj, client_data_hash, credential_key);
  if (obj.fmt == "android-key") return VerifyAndroidKey(obj, client_data_hash, credential_key);
  return Err(ErrorCode::kUnsupportedAttestationFormat, "attestation format is not supported");
}

Status AssessTrust(AttestationResult& result, ByteView aaguid, const TrustPolicy& policy) {
  auto listed = [&](const std::vector<Bytes>& list) {
    return std::any_of(list.begin(), list.end(), [&](const Bytes& a) { return SafeEquals(a, aaguid); });
  };
  auto refuse = [](std::string why) { return Err(ErrorCode::kAttestationUntrusted, std::move(why)); };
  if (!result.chain.empty() && policy.roots) {
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> untrusted(sk_X509_new_null(),
                                                                          [](STACK_OF(X509)* s) { sk_X509_free(s); });
    for (size_t i = 1; i < result.chain.size(); ++i) sk_X509_push(untrusted.get(), result.chain[i].get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    if (ctx && X509_STORE_CTX_init(ctx, policy.roots.get(), result.chain[0].get(), untrusted.get()) == 1) {
      X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), static_cast<time_t>(policy.now));
      result.trusted = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
  }
  if (listed(policy.aaguid_deny)) return refuse("this authenticator model is not allowed");
  if (!policy.aaguid_allow.empty() && !(result.trusted && listed(policy.aaguid_allow))) {
    return refuse("only attested authenticators of the allowed models may be registered");
  }
  switch (result.type) {
    case AttestationType::kNone:
      if (!policy.allow_none) return refuse("unattested authenticators are not allowed");
      break;
    case AttestationType::kSelf:
      if (!policy.allow_self) return refuse("self-attested authenticators are not allowed");
      break;
    case AttestationType::kBasic:
      if (policy.require_trusted_chain && !result.trusted) return refuse("the attestation chain is not trusted");
      break;
  }
  return Ok();
}

Result<X509StorePtr> LoadTrustAnchors(const std::vector<std::string>& pem_files) {
  X509StorePtr store(X509_STORE_new(), X509StoreDeleter{});
  for (const auto& file : pem_files) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (!f) return Err(ErrorCode::kInvalidArgument, "cannot read trust anchor file " + file);
    int added = 0;
    while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store.get(), cert);
      X509_free(cert);
      ++added;
    }
    std::fclose(f);
    if (added == 0) return Err(ErrorCode::kInvalidArgument, file + " holds no PEM certificate");
  }
  return store;
}

}  // namespace authd::webauthn
