#include "authd/webauthn/u2f.h"

#include <openssl/x509.h>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "authd/webauthn/cbor.h"
#include "authd/webauthn/cose_key.h"
#include "authd/webauthn/der.h"

namespace authd::webauthn::u2f {
namespace {

Error Malformed(std::string detail) { return Err(ErrorCode::kMalformedU2f, std::move(detail)); }

// One DER SEQUENCE at `pos`, entirely inside `in`: returns its full encoding.
std::optional<ByteView> TakeSequence(ByteView in, size_t& pos) {
  const size_t start = pos;
  auto tlv = der::Read(in, pos);
  if (!tlv || tlv->tag_class != 0 || !tlv->constructed || tlv->tag != 0x10) return std::nullopt;
  return in.subspan(start, pos - start);
}

Result<CosePublicKey> CertificateKey(ByteView der) {
  const unsigned char* p = der.data();
  X509* raw = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  std::unique_ptr<X509, decltype(&X509_free)> cert(raw, &X509_free);
  if (!cert || p != der.data() + der.size()) {
    return Err(ErrorCode::kAttestationInvalid, "the U2F attestation certificate does not parse");
  }
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  char group[32] = {};
  size_t glen = 0;
  if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof(group), &glen) != 1 ||
      std::string_view(group, glen) != "prime256v1") {
    return Err(ErrorCode::kAttestationInvalid, "the U2F attestation certificate must hold an EC P-256 key");
  }
  CosePublicKey key;
  key.alg = cose::kES256;
  key.key.reset(X509_get_pubkey(cert.get()));
  return key;
}

Result<CosePublicKey> UserKey(ByteView public_key) {
  AUTHD_ASSIGN_OR_RETURN(Bytes cose, CoseKeyFromRaw(cose::kES256, public_key));
  return ParseCoseKey(cose);
}

struct CborFree {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};

}  // namespace

Result<Registration> ParseRegistration(ByteView message) {
  if (message.size() > kMaxMessageBytes) return Malformed("U2F registration response is too long");
  if (message.size() < 1 + kPublicKeyBytes + 1) return Malformed("U2F registration response is truncated");
  if (message[0] != 0x05) return Malformed("U2F registration response must start with the reserved byte 0x05");
  Registration reg;
  size_t pos = 1;
  reg.public_key.assign(message.begin() + 1, message.begin() + 1 + kPublicKeyBytes);
  pos += kPublicKeyBytes;
  const size_t handle_len = message[pos++];
  if (handle_len == 0 || handle_len > message.size() - pos) return Malformed("U2F key handle length runs past the message");
  reg.key_handle.assign(message.begin() + static_cast<ptrdiff_t>(pos),
                        message.begin() + static_cast<ptrdiff_t>(pos + handle_len));
  pos += handle_len;
  auto cert = TakeSequence(message, pos);
  if (!cert) return Malformed("U2F attestation certificate is not one DER structure inside the message");
  reg.attestation_cert.assign(cert->begin(), cert->end());
  auto sig = TakeSequence(message, pos);
  if (!sig) return Malformed("U2F registration signature is missing or not DER");
  if (pos != message.size()) return Malformed("bytes follow the U2F registration signature");
  reg.signature.assign(sig->begin(), sig->end());
  // U02: a point on P-256, uncompressed.
  if (reg.public_key[0] != 0x04) return Err(ErrorCode::kInvalidPublicKey, "U2F user key must be an uncompressed point");
  if (auto key = UserKey(reg.public_key); !key) return key.error();
  return reg;
}

Status VerifyRegistration(const Registration& reg, ByteView app_param, ByteView challenge_param) {
  AUTHD_ASSIGN_OR_RETURN(CosePublicKey cert_key, CertificateKey(reg.attestation_cert));
  Bytes data = {0x00};
  data.insert(data.end(), app_param.begin(), app_param.end());
  data.insert(data.end(), challenge_param.begin(), challenge_param.end());
  data.insert(data.end(), reg.key_handle.begin(), reg.key_handle.end());
  data.insert(data.end(), reg.public_key.begin(), reg.public_key.end());
  return VerifySignature(cert_key, data, reg.signature);
}

Result<Bytes> ToAttestationObject(const Registration& reg, ByteView app_param) {
  if (app_param.size() != 32) return Err(ErrorCode::kInvalidArgument, "the application parameter is a SHA-256 hash");
  AUTHD_ASSIGN_OR_RETURN(Bytes cose, CoseKeyFromRaw(cose::kES256, reg.public_key));
  Bytes auth_data(app_param.begin(), app_param.end());
  auth_data.push_back(0x41);  // UP | AT
  auth_data.insert(auth_data.end(), 4 + 16, 0);  // counter 0, zero AAGUID
  auth_data.push_back(static_cast<uint8_t>(reg.key_handle.size() >> 8));
  auth_data.push_back(static_cast<uint8_t>(reg.key_handle.size()));
  auth_data.insert(auth_data.end(), reg.key_handle.begin(), reg.key_handle.end());
  auth_data.insert(auth_data.end(), cose.begin(), cose.end());

  std::unique_ptr<cbor_item_t, CborFree> root(cbor_new_definite_map(3));
  cbor_item_t* stmt = cbor_new_definite_map(2);
  cbor_item_t* x5c = cbor_new_definite_array(1);
  bool ok = cbor_array_push(x5c, cbor_move(cbor_build_bytestring(reg.attestation_cert.data(),
                                                                  reg.attestation_cert.size())));
  ok = ok && cbor_map_add(stmt, {cbor_move(cbor_build_string("sig")),
                                 cbor_move(cbor_build_bytestring(reg.signature.data(), reg.signature.size()))});
  ok = ok && cbor_map_add(stmt, {cbor_move(cbor_build_string("x5c")), cbor_move(x5c)});
  ok = ok && cbor_map_add(root.get(), {cbor_move(cbor_build_string("fmt")), cbor_move(cbor_build_string("fido-u2f"))});
  ok = ok && cbor_map_add(root.get(), {cbor_move(cbor_build_string("attStmt")), cbor_move(stmt)});
  ok = ok && cbor_map_add(root.get(), {cbor_move(cbor_build_string("authData")),
                                       cbor_move(cbor_build_bytestring(auth_data.data(), auth_data.size()))});
  Bytes out = ok ? EncodeCbor(root.get()) : Bytes{};
  if (out.empty()) return Err(ErrorCode::kInternal, "could not encode the attestation object");
  return out;
}

Result<Authentication> ParseAuthentication(ByteView message) {
  if (message.size() > kMaxMessageBytes) return Malformed("U2F authentication response is too long");
  if (message.size() < 5) return Malformed("U2F authentication response is truncated");
  Authentication auth;
  auth.user_presence = message[0];
  auth.counter = (uint32_t{message[1]} << 24) | (uint32_t{message[2]} << 16) | (uint32_t{message[3]} << 8) |
                 uint32_t{message[4]};
  auth.signed_prefix.assign(message.begin(), message.begin() + 5);
  size_t pos = 5;
  auto sig = TakeSequence(message, pos);
  if (!sig || pos != message.size()) return Malformed("U2F authentication signature is missing or not one DER structure");
  auth.signature.assign(sig->begin(), sig->end());
  return auth;
}

Result<uint32_t> VerifyAuthentication(const Authentication& auth, ByteView public_key, ByteView app_param,
                                      ByteView challenge_param, uint32_t stored_counter) {
  if ((auth.user_presence & 0x01) == 0) {
    return Err(ErrorCode::kUserPresenceRequired, "the key did not confirm user presence");
  }
  AUTHD_ASSIGN_OR_RETURN(CosePublicKey key, UserKey(public_key));
  Bytes data(app_param.begin(), app_param.end());
  data.insert(data.end(), auth.signed_prefix.begin(), auth.signed_prefix.end());
  data.insert(data.end(), challenge_param.begin(), challenge_param.end());
  AUTHD_RETURN_IF_ERROR(VerifySignature(key, data, auth.signature));
  if (auth.counter <= stored_counter) {
    return Err(ErrorCode::kCounterRegression, "the U2F counter did not advance: the key may be cloned");
  }
  return auth.counter;
}

Status CheckClientData(ByteView client_data, std::string_view expected_typ, ByteView challenge,
                       const std::vector<std::string>& facets) {
  auto parsed = ParseJsonStrict(std::string_view(reinterpret_cast<const char*>(client_data.data()), client_data.size()),
                                JsonLimits{.max_bytes = 8 * 1024, .max_depth = 4, .max_string = 2048});
  if (!parsed || !parsed->is_object()) return Err(ErrorCode::kBadClientData, "U2F client data is not a JSON object");
  auto typ = RequiredString(*parsed, "typ", 64);
  auto chal = RequiredString(*parsed, "challenge", 256);
  auto origin = RequiredString(*parsed, "origin", 2048);
  if (!typ || !chal || !origin) return Err(ErrorCode::kBadClientData, "U2F client data needs typ, challenge and origin");
  if (*typ != expected_typ) return Err(ErrorCode::kTypeMismatch, "U2F client data has the wrong typ");
  auto decoded = Base64UrlDecode(*chal);
  if (!decoded || !SafeEquals(*decoded, challenge)) {
    return Err(ErrorCode::kChallengeMismatch, "U2F client data carries another challenge");
  }
  for (const auto& facet : facets) {
    if (*origin == facet) return Ok();
  }
  return Err(ErrorCode::kOriginMismatch, "the origin is not one of the AppID's trusted facets");
}

}  // namespace authd::webauthn::u2f
