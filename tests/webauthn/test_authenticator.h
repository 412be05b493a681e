// A software authenticator for tests: makes registration and assertion responses with real
// keys, in every attestation format authd verifies, and lets a test bend any field.
#pragma once

#include <cbor.h>
#include <openssl/x509v3.h>

#include "authd/webauthn/attestation.h"
#include "authd/webauthn/ceremony.h"
#include "webauthn/builders.h"

namespace authd::webauthn::testing {

inline Bytes Serialize(cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  size_t len = cbor_serialize_alloc(item, &buf, &cap);
  Bytes out(buf, buf + len);
  free(buf);
  cbor_decref(&item);
  return out;
}
inline cbor_item_t* BStr(ByteView b) { return cbor_build_bytestring(b.data(), b.size()); }
inline cbor_item_t* CInt(int64_t v) {
  return v >= 0 ? cbor_build_uint32(static_cast<uint32_t>(v))
                : (-1 - v < 24 ? cbor_build_negint8(static_cast<uint8_t>(-1 - v))
                               : cbor_build_negint16(static_cast<uint16_t>(-1 - v)));
}
inline void Put(cbor_item_t* map, const char* key, cbor_item_t* value) {
  cbor_map_add(map, {cbor_move(cbor_build_string(key)), cbor_move(value)});
}

// A CA and an attestation certificate below it, with the §8.2.1 subject.
struct AttestationCa {
  EvpPkeyPtr ca_key{EVP_EC_gen("P-256")};
  X509Ptr ca_cert;
  EvpPkeyPtr leaf_key{EVP_EC_gen("P-256")};
  X509Ptr leaf_cert;

  static X509Ptr Make(EVP_PKEY* subject_key, EVP_PKEY* issuer_key, X509* issuer, const char* ou, bool ca,
                      long not_after_days = 365) {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after_days * 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("SE"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Test Keys"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(ou), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(ca ? "Test Root" : "Test Key"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(cert.get(), subject_key);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(cert.get(), bc, -1);
    X509_EXTENSION_free(bc);
    if (ca) {
      X509_EXTENSION* ku = X509V3_EXT_conf_nid(nullptr, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
      X509_add_ext(cert.get(), ku, -1);
      X509_EXTENSION_free(ku);
    }
    X509_sign(cert.get(), issuer_key, EVP_sha256());
    return cert;
  }

  AttestationCa() {
    ca_cert = Make(ca_key.get(), ca_key.get(), nullptr, "Root", true);
    leaf_cert = Make(leaf_key.get(), ca_key.get(), ca_cert.get(), "Authenticator Attestation", false);
  }
  static Bytes Der(X509* cert) {
    unsigned char* buf = nullptr;
    int len = i2d_X509(cert, &buf);
    Bytes out(buf, buf + len);
    OPENSSL_free(buf);
    return out;
  }
  // A certificate for `subject_key`, issued by this CA, carrying extension `oid` = `der`.
  X509Ptr IssueWithExtension(EVP_PKEY* subject_key, const char* ou, const char* oid_text, const Bytes& der) const {
    X509Ptr cert = Make(subject_key, ca_key.get(), ca_cert.get(), ou, false);
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, der.data(), static_cast<int>(der.size()));
    ASN1_OBJECT* oid = OBJ_txt2obj(oid_text, 1);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, os);
    X509_add_ext(cert.get(), ext, -1);
    X509_sign(cert.get(), ca_key.get(), EVP_sha256());
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
    return cert;
  }
  X509StorePtr Store() const {
    X509StorePtr store(X509_STORE_new(), X509StoreDeleter{});
    X509_STORE_add_cert(store.get(), ca_cert.get());
    return store;
  }
};

// DER for tests: tag bytes, minimal length, content.
inline Bytes Der(Bytes tag, const Bytes& content) {
  Bytes out = std::move(tag);
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else if (n < 0x100) {
    out.insert(out.end(), {0x81, static_cast<uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x82, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
inline Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline void Be16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
inline void Tpm2b(Bytes& out, const Bytes& b) {
  Be16(out, static_cast<uint16_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

// An AIK certificate as §8.3.1 wants it: empty subject, critical SAN naming the TPM, AIK purpose.
inline X509Ptr MakeAikCert(EVP_PKEY* aik_key, EVP_PKEY* ca_key, X509* ca_cert, bool with_subject) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  if (with_subject) {
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("tpm"), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert));
  X509_set_pubkey(cert.get(), aik_key);
  GENERAL_NAMES* names = GENERAL_NAMES_new();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  X509_NAME* dn = X509_NAME_new();
  for (const auto& [oid, value] : {std::pair{"2.23.133.2.1", "id:FFFFF1D0"}, std::pair{"2.23.133.2.2", "FIDO2-TEST"},
                                   std::pair{"2.23.133.2.3", "id:F1D00002"}}) {
    ASN1_OBJECT* o = OBJ_txt2obj(oid, 1);
    X509_NAME_add_entry_by_OBJ(dn, o, MBSTRING_ASC, reinterpret_cast<const unsigned char*>(value), -1, -1, 0);
    ASN1_OBJECT_free(o);
  }
  GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
  sk_GENERAL_NAME_push(names, gn);
  X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names, 1, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  EXTENDED_KEY_USAGE* eku = sk_ASN1_OBJECT_new_null();
  sk_ASN1_OBJECT_push(eku, OBJ_txt2obj("2.23.133.8.3", 1));
  X509_add1_ext_i2d(cert.get(), NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT);
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  BASIC_CONSTRAINTS* bc = BASIC_CONSTRAINTS_new();
  X509_add1_ext_i2d(cert.get(), NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT);
  BASIC_CONSTRAINTS_free(bc);
  X509_sign(cert.get(), ca_key, EVP_sha256());
  return cert;
}

// Android KeyDescription with the given challenge (§8.4).
inline Bytes KeyDescription(const Bytes& challenge, bool all_applications, bool tee_generated) {
  Bytes software = all_applications ? Der({0xBF, 0x84, 0x58}, Der({0x05}, {})) : Bytes{};  // [600] NULL
  Bytes tee = Cat({Der({0xA1}, Der({0x31}, Der({0x02}, {0x02}))),                           // [1] purpose {SIGN}
                   Der({0xBF, 0x85, 0x3E}, Der({0x02}, {static_cast<uint8_t>(tee_generated ? 0 : 1)}))});  // [702]
  return Der({0x30}, Cat({Der({0x02}, {0x03}), Der({0x0A}, {0x01}), Der({0x02}, {0x04}), Der({0x0A}, {0x01}),
                          Der({0x04}, challenge), Der({0x04}, {}), Der({0x30}, software), Der({0x30}, tee)}));
}

struct TestAuthenticator {
  int64_t alg = cose::kES256;
  EvpPkeyPtr key = NewKey(cose::kES256);
  Bytes credential_id = RandomBytes(32);
  std::string rp_id = "localhost";
  std::string origin = "http://localhost:8080";
  uint32_t counter = 0;

  explicit TestAuthenticator(int64_t a = cose::kES256) : alg(a), key(NewKey(a)) {}

  Bytes CoseKey() const { return *EncodeCoseKey(key.get(), alg); }

  struct Registration {
    AuthDataSpec auth;
    std::string type = "webauthn.create";
    std::string fmt = "none";
    std::string origin;
    std::string client_data_extra;
    const AttestationCa* ca = nullptr;  // packed with x5c, or fido-u2f
    bool corrupt_signature = false;
    bool extra_cert = false;
    bool apple_other_key = false;
    bool android_all_applications = false;
    bool android_software_origin = false;
    bool tpm_other_key = false;
    bool tpm_aik_subject = false;
  };

  Registration NewRegistration() const {
    Registration r;
    r.auth.rp_id = rp_id;
    r.auth.flags = flags::kUserPresent;
    r.auth.credential_id = credential_id;
    r.auth.cose_key = CoseKey();
    r.origin = origin;
    return r;
  }

  RegistrationResponse Register(ByteView challenge, const Registration& r) const {
    RegistrationResponse out;
    std::string cdj = ClientDataJson(r.type, challenge, r.origin, r.client_data_extra);
    out.client_data_json = ToBytes(cdj);
    Bytes auth = MakeAuthData(r.auth);
    Bytes hash = Sha256(out.client_data_json);
    cbor_item_t* stmt = nullptr;
    if (r.fmt == "tpm") {
      // pubArea: a TPMT_PUBLIC holding this credential's key, ECC P-256 or RSA.
      auto d = DecodeCbor(r.auth.cose_key);
      const bool rsa = alg == cose::kRS256 || alg == cose::kPS256;
      Bytes x = *CborBytes(MapFind(d->item.get(), int64_t{rsa ? -1 : -2}));  // RSA: n
      if (r.tpm_other_key) x[x.size() / 2] ^= 1;
      Bytes pub;
      Be16(pub, rsa ? 0x0001 : 0x0023);              // TPM_ALG_RSA / TPM_ALG_ECC
      Be16(pub, 0x000B);                             // nameAlg SHA-256
      pub.insert(pub.end(), {0x00, 0x06, 0x04, 0x72});  // objectAttributes
      Tpm2b(pub, {});                                // authPolicy
      Be16(pub, 0x0010);                             // symmetric NULL
      Be16(pub, 0x0010);                             // scheme NULL
      if (rsa) {
        Be16(pub, static_cast<uint16_t>(x.size() * 8));  // keyBits
        pub.insert(pub.end(), {0, 0, 0, 0});         // exponent 0: the default, 65537
        Tpm2b(pub, x);                               // unique: n
      } else {
        Be16(pub, 0x0003);                           // TPM_ECC_NIST_P256
        Be16(pub, 0x0010);                           // kdf NULL
        Tpm2b(pub, x);
        Tpm2b(pub, *CborBytes(MapFind(d->item.get(), int64_t{-3})));
      }
      Bytes data = auth;
      data.insert(data.end(), hash.begin(), hash.end());
      Bytes info = {0xff, 0x54, 0x43, 0x47, 0x80, 0x17};  // TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY
      Tpm2b(info, {});                                   // qualifiedSigner
      Tpm2b(info, Sha256(data));                         // extraData
      info.insert(info.end(), 17 + 8, 0);                // clockInfo, firmwareVersion
      Bytes name = {0x00, 0x0B};
      Bytes pub_hash = Sha256(pub);
      name.insert(name.end(), pub_hash.begin(), pub_hash.end());
      Tpm2b(info, name);
      Tpm2b(info, {});                                   // qualifiedName
      Bytes sig = SignWith(r.ca->leaf_key.get(), cose::kES256, info);
      if (r.corrupt_signature) sig[sig.size() / 2] ^= 1;
      X509Ptr aik = MakeAikCert(r.ca->leaf_key.get(), r.ca->ca_key.get(), r.ca->ca_cert.get(), r.tpm_aik_subject);
      stmt = cbor_new_definite_map(6);
      // CTAP2 canonical key order: shorter encodings first ("alg" "sig" "ver" "x5c", then
      // "pubArea", then "certInfo").
      Put(stmt, "alg", CInt(cose::kES256));
      Put(stmt, "sig", BStr(sig));
      Put(stmt, "ver", cbor_build_string("2.0"));
      cbor_item_t* x5c = cbor_new_definite_array(1);
      cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(aik.get()))));
      Put(stmt, "x5c", x5c);
      Put(stmt, "pubArea", BStr(pub));
      Put(stmt, "certInfo", BStr(info));
    } else if (r.fmt == "android-key") {
      Bytes data = auth;
      data.insert(data.end(), hash.begin(), hash.end());
      Bytes bound = hash;
      if (r.corrupt_signature) bound[0] ^= 1;
      X509Ptr cert = r.ca->IssueWithExtension(
          key.get(), "Android", "1.3.6.1.4.1.11129.2.1.17",
          KeyDescription(bound, r.android_all_applications, !r.android_software_origin));
      stmt = cbor_new_definite_map(3);
      Put(stmt, "alg", CInt(alg));
      Put(stmt, "sig", BStr(SignWith(key.get(), alg, data)));
      cbor_item_t* x5c = cbor_new_definite_array(1);
      cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(cert.get()))));
      Put(stmt, "x5c", x5c);
    } else if (r.fmt == "apple") {
      // A credential certificate for this key with the nonce extension (§8.8).
      Bytes data = auth;
      data.insert(data.end(), hash.begin(), hash.end());
      Bytes nonce = Sha256(data);
      if (r.corrupt_signature) nonce[0] ^= 1;
      Bytes der = {0x30, 0x24, 0xA1, 0x22, 0x04, 0x20};
      der.insert(der.end(), nonce.begin(), nonce.end());
      EVP_PKEY* subject = r.apple_other_key ? r.ca->leaf_key.get() : key.get();
      X509Ptr cert = r.ca->IssueWithExtension(subject, "Apple", "1.2.840.113635.100.8.2", der);
      stmt = cbor_new_definite_map(1);
      cbor_item_t* x5c = cbor_new_definite_array(2);
      cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(cert.get()))));
      cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(r.ca->ca_cert.get()))));
      Put(stmt, "x5c", x5c);
    } else if (r.fmt == "none" || (r.fmt != "packed" && r.fmt != "fido-u2f")) {
      stmt = cbor_new_definite_map(0);
    } else if (r.fmt == "packed") {
      Bytes data = auth;
      data.insert(data.end(), hash.begin(), hash.end());
      int64_t sig_alg = r.ca ? cose::kES256 : alg;
      Bytes sig = SignWith(r.ca ? r.ca->leaf_key.get() : key.get(), sig_alg, data);
      if (r.corrupt_signature) sig[sig.size() / 2] ^= 1;
      stmt = cbor_new_definite_map(r.ca ? 3 : 2);
      Put(stmt, "alg", CInt(sig_alg));
      Put(stmt, "sig", BStr(sig));
      if (r.ca) {
        cbor_item_t* x5c = cbor_new_definite_array(r.extra_cert ? 2 : 1);
        cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(r.ca->leaf_cert.get()))));
        if (r.extra_cert) cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(r.ca->ca_cert.get()))));
        Put(stmt, "x5c", x5c);
      }
    } else {  // fido-u2f
      Bytes xy = [&] {
        auto d = DecodeCbor(r.auth.cose_key);
        Bytes v = {0x04};
        auto x = *CborBytes(MapFind(d->item.get(), int64_t{-2}));
        auto y = *CborBytes(MapFind(d->item.get(), int64_t{-3}));
        v.insert(v.end(), x.begin(), x.end());
        v.insert(v.end(), y.begin(), y.end());
        return v;
      }();
      Bytes data = {0x00};
      Bytes rp = Sha256(AsBytes(r.auth.rp_id));
      data.insert(data.end(), rp.begin(), rp.end());
      data.insert(data.end(), hash.begin(), hash.end());
      data.insert(data.end(), r.auth.credential_id->begin(), r.auth.credential_id->end());
      data.insert(data.end(), xy.begin(), xy.end());
      Bytes sig = SignWith(r.ca->leaf_key.get(), cose::kES256, data);
      if (r.corrupt_signature) sig[sig.size() / 2] ^= 1;
      stmt = cbor_new_definite_map(2);
      Put(stmt, "sig", BStr(sig));
      cbor_item_t* x5c = cbor_new_definite_array(r.extra_cert ? 2 : 1);
      cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(r.ca->leaf_cert.get()))));
      if (r.extra_cert) cbor_array_push(x5c, cbor_move(BStr(AttestationCa::Der(r.ca->ca_cert.get()))));
      Put(stmt, "x5c", x5c);
    }
    cbor_item_t* obj = cbor_new_definite_map(3);
    Put(obj, "fmt", cbor_build_string(r.fmt.c_str()));
    Put(obj, "attStmt", stmt);
    Put(obj, "authData", BStr(auth));
    out.attestation_object = Serialize(obj);
    return out;
  }

  struct Assertion {
    AuthDataSpec auth;
    std::string type = "webauthn.get";
    std::string origin;
    std::optional<std::string> sign_other_client_data;
  };

  Assertion NewAssertion() {
    Assertion a;
    a.auth.rp_id = rp_id;
    a.auth.flags = flags::kUserPresent;
    a.auth.sign_count = ++counter;
    a.origin = origin;
    return a;
  }

  AssertionResponse Assert(ByteView challenge, const Assertion& a) const {
    AssertionResponse out;
    out.client_data_json = ToBytes(ClientDataJson(a.type, challenge, a.origin));
    out.authenticator_data = MakeAuthData(a.auth);
    Bytes data = out.authenticator_data;
    Bytes hash = Sha256(a.sign_other_client_data ? AsBytes(*a.sign_other_client_data) : ByteView(out.client_data_json));
    data.insert(data.end(), hash.begin(), hash.end());
    out.signature = SignWith(key.get(), alg, data);
    return out;
  }
};

}  // namespace authd::webauthn::testing
