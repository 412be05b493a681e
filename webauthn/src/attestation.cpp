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

// id-fido-gen-ce-aaguid (1.3.6.1.4.1.45724.1.1.4), §8.2.1 and §8.3.1: if the certificate has it,
// it is not critical and holds the authenticator data's AAGUID as an OCTET STRING of 16 bytes.
Status CheckAaguidExtension(X509* cert, ByteView aaguid) {
  auto ext = FindExtension(cert, "1.3.6.1.4.1.45724.1.1.4");
  if (!ext) return Ok();
  if (ext->critical) return Invalid("the AAGUID extension must not be critical");
  static const uint8_t kPrefix[] = {0x04, 0x10};
  if (ext->der.size() != 18 || !std::equal(std::begin(kPrefix), std::end(kPrefix), ext->der.begin()) ||
      !SafeEquals(ext->der.subspan(2), aaguid)) {
    return Invalid("the certificate's AAGUID does not match the authenticator data");
  }
  return Ok();
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
  AUTHD_RETURN_IF_ERROR(CheckAaguidExtension(cert, aaguid));
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

// Big-endian reader over TPM structures: every read is bounds-checked.
class TpmReader {
 public:
  explicit TpmReader(ByteView in) : in_(in) {}
  bool U16(uint16_t& v) { return Get(2, [&](const uint8_t* p) { v = static_cast<uint16_t>((p[0] << 8) | p[1]); }); }
  bool U32(uint32_t& v) {
    return Get(4, [&](const uint8_t* p) {
      v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    });
  }
  bool Skip(size_t n) { return Get(n, [](const uint8_t*) {}); }
  // TPM2B: u16 size, then that many bytes.
  bool Sized(ByteView& out) {
    uint16_t n = 0;
    if (!U16(n) || n > in_.size() - pos_) return false;
    out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  template <typename F>
  bool Get(size_t n, F f) {
    if (n > in_.size() - pos_) return false;
    f(in_.data() + pos_);
    pos_ += n;
    return true;
  }
  ByteView in_;
  size_t pos_ = 0;
};

constexpr uint16_t kTpmAlgRsa = 0x0001, kTpmAlgSha1 = 0x0004, kTpmAlgSha256 = 0x000B, kTpmAlgSha384 = 0x000C,
                   kTpmAlgSha512 = 0x000D, kTpmAlgNull = 0x0010, kTpmAlgEcc = 0x0023;

const EVP_MD* TpmDigest(uint16_t alg) {
  switch (alg) {
    case kTpmAlgSha1: return EVP_sha1();
    case kTpmAlgSha256: return EVP_sha256();
    case kTpmAlgSha384: return EVP_sha384();
    case kTpmAlgSha512: return EVP_sha512();
    default: return nullptr;
  }
}

Bytes Digest(const EVP_MD* md, ByteView data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return out;
}

// TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4) reduced to what §8.3 compares: the key.
struct TpmPublic {
  uint16_t type = 0;
  uint16_t name_alg = 0;
  uint16_t curve = 0;
  uint32_t exponent = 0;
  ByteView rsa_n, ecc_x, ecc_y;
};

std::optional<TpmPublic> ParseTpmPublic(ByteView in) {
  TpmReader r(in);
  TpmPublic p;
  uint32_t attributes = 0;
  ByteView auth_policy;
  uint16_t symmetric = 0, scheme = 0;
  if (!r.U16(p.type) || !r.U16(p.name_alg) || !r.U32(attributes) || !r.Sized(auth_policy) || !r.U16(symmetric)) {
    return std::nullopt;
  }
  if (symmetric != kTpmAlgNull && !r.Skip(4)) return std::nullopt;  // keyBits, mode
  if (!r.U16(scheme)) return std::nullopt;
  if (scheme != kTpmAlgNull && !r.Skip(2)) return std::nullopt;  // hashAlg
  if (p.type == kTpmAlgRsa) {
    uint16_t bits = 0;
    if (!r.U16(bits) || !r.U32(p.exponent) || !r.Sized(p.rsa_n)) return std::nullopt;
    if (p.exponent == 0) p.exponent = 65537;
  } else if (p.type == kTpmAlgEcc) {
    uint16_t kdf = 0;
    if (!r.U16(p.curve) || !r.U16(kdf)) return std::nullopt;
    if (kdf != kTpmAlgNull && !r.Skip(2)) return std::nullopt;
    if (!r.Sized(p.ecc_x) || !r.Sized(p.ecc_y)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  return p;
}

// The credential key from the authenticator data must be the key pubArea describes.
bool SameKey(const TpmPublic& p, const cbor_item_t* cose) {
  auto kty = CborInt(MapFind(cose, int64_t{1}));
  if (!kty) return false;
  if (p.type == kTpmAlgRsa && *kty == 3) {
    auto n = CborBytes(MapFind(cose, int64_t{-1}));
    auto e = CborBytes(MapFind(cose, int64_t{-2}));
    if (!n || !e || e->size() > 4) return false;
    uint32_t ev = 0;
    for (uint8_t b : *e) ev = (ev << 8) | b;
    return ev == p.exponent && std::equal(n->begin(), n->end(), p.rsa_n.begin(), p.rsa_n.end());
  }
  if (p.type == kTpmAlgEcc && *kty == 2) {
    auto crv = CborInt(MapFind(cose, int64_t{-1}));
    auto x = CborBytes(MapFind(cose, int64_t{-2}));
    auto y = CborBytes(MapFind(cose, int64_t{-3}));
    // TPM_ECC_NIST_P256/P384/P521 are 3/4/5; COSE crv 1/2/3.
    return crv && x && y && p.curve == *crv + 2 && std::equal(x->begin(), x->end(), p.ecc_x.begin(), p.ecc_x.end()) &&
           std::equal(y->begin(), y->end(), p.ecc_y.begin(), p.ecc_y.end());
  }
  return false;
}

// §8.3.1 requirements of the AIK certificate.
Status CheckAikCertificate(X509* cert, ByteView aaguid) {
  if (X509_get_version(cert) != 2) return Invalid("TPM AIK certificate is not X.509 v3");
  if (X509_NAME_entry_count(X509_get_subject_name(cert)) != 0) return Invalid("TPM AIK certificate subject must be empty");
  auto san = FindExtension(cert, "2.5.29.17");
  if (!san || !san->critical) return Invalid("TPM AIK certificate needs a critical subject alternative name");
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool manufacturer = false, model = false, version = false;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_DIRNAME) continue;
    X509_NAME* dn = gn->d.directoryName;
    for (int j = 0; j < X509_NAME_entry_count(dn); ++j) {
      char oid[64] = {};
      OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(X509_NAME_get_entry(dn, j)), 1);
      std::string_view o(oid);
      manufacturer = manufacturer || o == "2.23.133.2.1";
      model = model || o == "2.23.133.2.2";
      version = version || o == "2.23.133.2.3";
    }
  }
  GENERAL_NAMES_free(names);
  if (!manufacturer || !model || !version) {
    return Invalid("TPM AIK certificate must name the TPM manufacturer, model and version");
  }
  EXTENDED_KEY_USAGE* eku = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr));
  bool aik = false;
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); ++i) {
    char oid[64] = {};
    OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 1);
    aik = aik || std::string_view(oid) == "2.23.133.8.3";  // tcg-kp-AIKCertificate
  }
  EXTENDED_KEY_USAGE_free(eku);
  if (!aik) return Invalid("TPM AIK certificate lacks the tcg-kp-AIKCertificate key purpose");
  if (X509_check_ca(cert) != 0) return Invalid("TPM AIK certificate must not be a CA");
  AUTHD_RETURN_IF_ERROR(CheckAaguidExtension(cert, aaguid));
  return Ok();
}

// §8.3 TPM: pubArea describes the credential key; certInfo, signed by the AIK, certifies pubArea
// (by name) and binds hash(authData || clientDataHash) in extraData.
Result<AttestationResult> VerifyTpm(const AttestationObject& obj, ByteView client_data_hash,
                                    const CosePublicKey& credential_key) {
  (void)credential_key;
  const cbor_item_t* stmt = obj.att_stmt.get();
  auto ver = CborText(MapFind(stmt, "ver"));
  auto alg = CborInt(MapFind(stmt, "alg"));
  auto sig = CborBytes(MapFind(stmt, "sig"));
  auto cert_info = CborBytes(MapFind(stmt, "certInfo"));
  auto pub_area = CborBytes(MapFind(stmt, "pubArea"));
  if (!ver || *ver != "2.0") return Invalid("tpm attStmt ver must be \"2.0\"");
  if (!alg || !sig || !cert_info || !pub_area) return Invalid("tpm attStmt needs alg, sig, x5c, certInfo and pubArea");
  auto pub = ParseTpmPublic(*pub_area);
  if (!pub) return Invalid("tpm pubArea is malformed");
  auto cose = DecodeCbor(obj.auth_data.attested->cose_key);
  if (!cose || !SameKey(*pub, cose->item.get())) return Invalid("tpm pubArea describes another key");
  const EVP_MD* name_md = TpmDigest(pub->name_alg);
  const EVP_MD* extra_md = *alg == cose::kES384 ? EVP_sha384() : *alg == cose::kES512 ? EVP_sha512() : EVP_sha256();
  if (!name_md) return Invalid("tpm nameAlg is not supported");

  TpmReader r(*cert_info);
  uint32_t magic = 0;
  uint16_t type = 0;
  ByteView signer, extra, name, qualified;
  if (!r.U32(magic) || !r.U16(type) || !r.Sized(signer) || !r.Sized(extra) || !r.Skip(17 + 8) || !r.Sized(name) ||
      !r.Sized(qualified) || !r.done()) {
    return Invalid("tpm certInfo is malformed");
  }
  if (magic != 0xff544347) return Invalid("tpm certInfo magic is not TPM_GENERATED_VALUE");
  if (type != 0x8017) return Invalid("tpm certInfo is not TPM_ST_ATTEST_CERTIFY");
  if (!SafeEquals(extra, Digest(extra_md, Concat(obj.auth_data.raw, client_data_hash)))) {
    return Invalid("tpm certInfo extraData does not bind this registration");
  }
  Bytes expected_name = {static_cast<uint8_t>(pub->name_alg >> 8), static_cast<uint8_t>(pub->name_alg)};
  Bytes pub_digest = Digest(name_md, *pub_area);
  expected_name.insert(expected_name.end(), pub_digest.begin(), pub_digest.end());
  if (!SafeEquals(name, expected_name)) return Invalid("tpm certInfo certifies another key");

  AttestationResult out;
  AUTHD_ASSIGN_OR_RETURN(out.chain, ParseX5c(MapFind(stmt, "x5c")));
  AUTHD_ASSIGN_OR_RETURN(CosePublicKey aik, CertKey(out.chain[0].get(), *alg));
  AUTHD_RETURN_IF_ERROR(VerifySignature(aik, *cert_info, *sig));
  AUTHD_RETURN_IF_ERROR(CheckAikCertificate(out.chain[0].get(), obj.auth_data.attested->aaguid));
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
  if (obj.fmt == "tpm") return VerifyTpm(obj, client_data_hash, credential_key);
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
