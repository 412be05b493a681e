#include "authd/drivers/softkey.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/openssl_ptr.h"
#include "authd/webauthn/cbor.h"
#include "authd/webauthn/cose_key.h"

namespace authd::drivers {
namespace {

namespace cose = webauthn::cose;
using webauthn::CborBytes;
using webauthn::CborInt;
using webauthn::CborText;
using webauthn::MapFind;

// CTAPHID (CTAP 2.0 §8.1).
constexpr uint8_t kCmdPing = 0x01, kCmdMsg = 0x03, kCmdInit = 0x06, kCmdWink = 0x08, kCmdCbor = 0x10,
                  kCmdCancel = 0x11, kCmdError = 0x3F;
constexpr uint8_t kCapWink = 0x01, kCapCbor = 0x04, kCapNmsg = 0x08;
constexpr size_t kFrame = 64, kInitData = 57, kContData = 59;
constexpr size_t kMaxMessage = kInitData + 128 * kContData;
constexpr uint8_t kErrInvalidCmd = 0x01, kErrInvalidLen = 0x03, kErrInvalidSeq = 0x04, kErrChannelBusy = 0x06,
                  kErrInvalidChannel = 0x0B;

// CTAP2 status codes.
constexpr uint8_t kOk = 0x00, kCborUnexpectedType = 0x11, kInvalidCbor = 0x12, kMissingParameter = 0x14,
                  kCredentialExcluded = 0x19, kUnsupportedAlgorithm = 0x26, kUnsupportedOption = 0x2B,
                  kNoCredentials = 0x2E, kPinInvalid = 0x31, kPinBlocked = 0x32, kPinAuthInvalid = 0x33,
                  kPinNotSet = 0x35, kPinRequired = 0x36, kPinPolicyViolation = 0x37, kInvalidParameter = 0x02;

constexpr int kPinRetries = 8;

struct CborFree {
  void operator()(cbor_item_t* i) const { cbor_decref(&i); }
};
using Item = std::unique_ptr<cbor_item_t, CborFree>;

void Put(cbor_item_t* map, cbor_item_t* key, cbor_item_t* value) {
  (void)cbor_map_add(map, {cbor_move(key), cbor_move(value)});
}
// Integers in their shortest encoding, as CTAP2 canonical CBOR requires.
cbor_item_t* Int(int64_t v) {
  const bool negative = v < 0;
  const uint64_t u = negative ? static_cast<uint64_t>(-1 - v) : static_cast<uint64_t>(v);
  if (u <= 0xff) return negative ? cbor_build_negint8(static_cast<uint8_t>(u)) : cbor_build_uint8(static_cast<uint8_t>(u));
  if (u <= 0xffff) {
    return negative ? cbor_build_negint16(static_cast<uint16_t>(u)) : cbor_build_uint16(static_cast<uint16_t>(u));
  }
  if (u <= 0xffffffff) {
    return negative ? cbor_build_negint32(static_cast<uint32_t>(u)) : cbor_build_uint32(static_cast<uint32_t>(u));
  }
  return negative ? cbor_build_negint64(u) : cbor_build_uint64(u);
}
cbor_item_t* Bstr(ByteView b) { return cbor_build_bytestring(b.data(), b.size()); }

Bytes Serialize(uint8_t status, cbor_item_t* item) {
  Bytes out = {status};
  if (!item) return out;
  Item owned(item);
  const Bytes encoded = webauthn::EncodeCbor(item);
  out.insert(out.end(), encoded.begin(), encoded.end());
  return out;
}
Bytes Answer(uint8_t status) { return Bytes{status}; }

Bytes Cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

EvpPkeyPtr KeyFromDer(ByteView der) {
  const unsigned char* p = der.data();
  return EvpPkeyPtr(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
}
Bytes KeyToDer(EVP_PKEY* key) {
  unsigned char* buf = nullptr;
  const int len = i2d_PrivateKey(key, &buf);
  Bytes out(buf, buf + std::max(len, 0));
  OPENSSL_free(buf);
  return out;
}

// WebAuthn signatures: DER ECDSA for ES256, 64 raw bytes for EdDSA.
Bytes Sign(EVP_PKEY* key, int64_t alg, ByteView data) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, alg == cose::kEdDSA ? nullptr : EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return {};
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) return {};
  sig.resize(len);
  return sig;
}

Bytes HmacLeft16(ByteView key, ByteView data) {
  Bytes mac = HmacSha256(key, data);
  mac.resize(16);
  return mac;
}

// AES-256-CBC with a zero IV and no padding (CTAP 2.0 PIN protocol 1).
std::optional<Bytes> Aes256Cbc(ByteView key, ByteView data, bool encrypt) {
  if (key.size() != 32 || data.size() % 16 != 0 || data.empty()) return std::nullopt;
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  const unsigned char iv[16] = {};
  Bytes out(data.size() + 16);
  int n1 = 0, n2 = 0;
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv, encrypt ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &n1, data.data(), static_cast<int>(data.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + n1, &n2) != 1) {
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n1 + n2));
  return out;
}

// The public point of a P-256 key as a COSE_Key for ECDH-ES+HKDF-256 (alg -25).
cbor_item_t* KeyAgreementCose(EVP_PKEY* key) {
  unsigned char pub[65];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", pub, sizeof pub, &len);
  cbor_item_t* m = cbor_new_definite_map(5);
  Put(m, Int(1), Int(2));
  Put(m, Int(3), Int(-25));
  Put(m, Int(-1), Int(1));
  Put(m, Int(-2), Bstr(ByteView(pub + 1, 32)));
  Put(m, Int(-3), Bstr(ByteView(pub + 33, 32)));
  return m;
}

// SHA-256 of the x coordinate of ECDH(our key, the platform's COSE key).
std::optional<Bytes> SharedSecret(EVP_PKEY* ours, const cbor_item_t* platform_cose) {
  auto x = CborBytes(MapFind(platform_cose, int64_t{-2}));
  auto y = CborBytes(MapFind(platform_cose, int64_t{-3}));
  if (!x || !y || x->size() != 32 || y->size() != 32) return std::nullopt;
  auto cose_key = webauthn::CoseKeyFromRaw(cose::kES256, Cat({Bytes{0x04}, *x, *y}));
  if (!cose_key) return std::nullopt;
  auto peer = webauthn::ParseCoseKey(*cose_key);
  if (!peer) return std::nullopt;
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(ours, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer->key.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return std::nullopt;
  }
  Bytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) return std::nullopt;
  return Sha256(ByteView(z.data(), len));
}

std::string Hex(ByteView b) { return HexEncode(b); }
Bytes Unhex(const Json& j) { return HexDecode(j.get<std::string>()).value_or(Bytes{}); }

SoftKey* Self(void* handle) { return static_cast<SoftKey*>(handle); }

}  // namespace

const Bytes& SoftKey::Aaguid() {
  static const Bytes kAaguid = *HexDecode("61757468642d736f66746b65792d7631");  // "authd-softkey-v1"
  return kAaguid;
}

// A self-signed P-256 attestation certificate for a U2F-only soft key: (key DER, cert DER).
std::pair<Bytes, Bytes> MakeU2fAttestation() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(RandomBytes(3)[0]) + 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("authd soft U2F key"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  unsigned char* buf = nullptr;
  const int len = i2d_X509(cert.get(), &buf);
  Bytes der(buf, buf + std::max(len, 0));
  OPENSSL_free(buf);
  return {KeyToDer(key.get()), der};
}

Result<std::unique_ptr<SoftKey>> SoftKey::Open(const std::string& file, bool u2f_only) {
  Json state;
  if (auto text = ReadWholeFile(file)) {
    auto parsed = ParseJsonStrict(*text, JsonLimits{.max_bytes = 16 * 1024 * 1024, .max_depth = 8, .max_string = 64 * 1024});
    if (!parsed || !parsed->is_object() || parsed->value("version", 0) != 1) {
      return Err(ErrorCode::kInvalidArgument, file + " is not a soft key state file");
    }
    state = std::move(*parsed);
  } else {
    state = {{"version", 1}, {"counter", 0}, {"pin_hash", ""}, {"pin_retries", kPinRetries},
             {"credentials", Json::array()}, {"protocol", u2f_only ? "u2f" : "ctap2"}};
    if (u2f_only) {
      auto [key, cert] = MakeU2fAttestation();
      state["attestation_key"] = Hex(key);
      state["attestation_cert"] = Hex(cert);
    }
  }
  std::unique_ptr<SoftKey> key(new SoftKey(file, std::move(state)));
  AUTHD_RETURN_IF_ERROR(key->Save());
  // A fresh key agreement key per power-up (CTAP 2.0 §5.5.4).
  EvpPkeyPtr ka(EVP_EC_gen("P-256"));
  key->key_agreement_private_ = KeyToDer(ka.get());
  return key;
}

Status SoftKey::Save() { return WriteFileDurably(file_, AsBytes(DumpJson(state_))); }

bool SoftKey::u2f_only() const { return state_.value("protocol", "ctap2") == "u2f"; }

bool SoftKey::has_pin() const { return !state_.value("pin_hash", "").empty(); }
int SoftKey::pin_retries() const { return state_.value("pin_retries", kPinRetries); }
size_t SoftKey::credential_count() const { return state_["credentials"].size(); }

// --- CTAPHID -------------------------------------------------------------------------------

void SoftKey::Reply(const uint8_t cid[4], uint8_t cmd, ByteView payload) {
  size_t pos = 0;
  uint8_t seq = 0;
  bool first = true;
  do {
    Bytes frame(kFrame, 0);
    std::memcpy(frame.data(), cid, 4);
    size_t room;
    size_t at;
    if (first) {
      frame[4] = static_cast<uint8_t>(0x80 | cmd);
      frame[5] = static_cast<uint8_t>(payload.size() >> 8);
      frame[6] = static_cast<uint8_t>(payload.size());
      room = kInitData;
      at = 7;
      first = false;
    } else {
      frame[4] = seq++;
      room = kContData;
      at = 5;
    }
    const size_t n = std::min(room, payload.size() - pos);
    if (n > 0) std::memcpy(frame.data() + at, payload.data() + pos, n);  // an empty payload may have no data()
    pos += n;
    outbox_.push_back(std::move(frame));
  } while (pos < payload.size());
}

void SoftKey::ReplyError(const uint8_t cid[4], uint8_t code) { Reply(cid, kCmdError, Bytes{code}); }

int SoftKey::Write(ByteView report) {
  const int given = static_cast<int>(report.size());
  if (report.size() == kFrame + 1) {
    if (report[0] != 0) return -1;  // report id 0 only
    report = report.subspan(1);
  }
  if (report.size() != kFrame) return -1;
  const uint8_t* cid = report.data();
  uint32_t cid_value = 0;
  std::memcpy(&cid_value, cid, 4);
  const bool broadcast = cid_value == 0xffffffff;
  if (report[4] & 0x80) {
    const uint8_t cmd = report[4] & 0x7f;
    const size_t bcnt = (size_t{report[5]} << 8) | report[6];
    if (in_.active && std::memcmp(in_.cid, cid, 4) != 0 && cmd != kCmdInit) {
      ReplyError(cid, kErrChannelBusy);
      return given;
    }
    if (cmd == kCmdInit) in_.active = false;  // INIT aborts whatever was in progress
    if (bcnt > kMaxMessage) {
      ReplyError(cid, kErrInvalidLen);
      return given;
    }
    if (cid_value == 0 || (broadcast && cmd != kCmdInit) || (!broadcast && cid_value >= next_cid_)) {
      ReplyError(cid, kErrInvalidChannel);
      return given;
    }
    std::memcpy(in_.cid, cid, 4);
    in_.cmd = cmd;
    in_.expected = bcnt;
    in_.next_seq = 0;
    in_.data.assign(report.begin() + 7, report.begin() + 7 + static_cast<ptrdiff_t>(std::min(bcnt, kInitData)));
    in_.active = true;
  } else {
    if (!in_.active) return given;  // a stray continuation frame is ignored
    if (std::memcmp(in_.cid, cid, 4) != 0) {
      ReplyError(cid, kErrChannelBusy);
      return given;
    }
    if (report[4] != in_.next_seq) {
      in_.active = false;
      ReplyError(cid, kErrInvalidSeq);
      return given;
    }
    ++in_.next_seq;
    const size_t n = std::min(kContData, in_.expected - in_.data.size());
    in_.data.insert(in_.data.end(), report.begin() + 5, report.begin() + 5 + static_cast<ptrdiff_t>(n));
  }
  if (in_.active && in_.data.size() == in_.expected) {
    in_.active = false;
    Dispatch(in_.cid, in_.cmd, in_.data);
  }
  return given;
}

int SoftKey::Read(unsigned char* out, size_t len) {
  if (outbox_.empty() || len < kFrame) return -1;
  std::memcpy(out, outbox_.front().data(), kFrame);
  outbox_.pop_front();
  return static_cast<int>(kFrame);
}

void SoftKey::Dispatch(const uint8_t cid[4], uint8_t cmd, ByteView payload) {
  switch (cmd) {
    case kCmdInit: {
      if (payload.size() != 8) return ReplyError(cid, kErrInvalidLen);
      Bytes reply(payload.begin(), payload.end());
      const uint32_t new_cid = next_cid_++;
      uint8_t c[4];
      std::memcpy(c, &new_cid, 4);
      reply.insert(reply.end(), c, c + 4);
      const uint8_t caps = u2f_only() ? kCapWink : static_cast<uint8_t>(kCapWink | kCapCbor | kCapNmsg);
      reply.insert(reply.end(), {2, 1, 0, 0, caps});
      return Reply(cid, kCmdInit, reply);
    }
    case kCmdPing: return Reply(cid, kCmdPing, payload);
    case kCmdWink: return Reply(cid, kCmdWink, {});
    case kCmdCancel: return;  // nothing is pending: every operation completes at once
    case kCmdCbor: {
      if (u2f_only()) return ReplyError(cid, kErrInvalidCmd);
      if (payload.empty()) return ReplyError(cid, kErrInvalidLen);
      Bytes response = HandleCbor(payload);
      return Reply(cid, kCmdCbor, response);
    }
    case kCmdMsg:
      if (!u2f_only()) return ReplyError(cid, kErrInvalidCmd);  // CTAP1 is not offered (NMSG)
      return Reply(cid, kCmdMsg, HandleApdu(payload));
    default: return ReplyError(cid, kErrInvalidCmd);
  }
}

const fido_dev_io_t& SoftKey::IoFunctions() {
  static const fido_dev_io_t kIo = {
      [](const char* path) -> void* {
        std::string p(path ? path : "");
        const bool u2f = p.starts_with("soft-u2f:");
        if (!p.starts_with("soft:") && !u2f) return nullptr;
        auto key = SoftKey::Open(p.substr(u2f ? 9 : 5), u2f);
        return key ? key.value().release() : nullptr;
      },
      [](void* handle) { delete Self(handle); },
      [](void* handle, unsigned char* buf, size_t len, int) -> int { return Self(handle)->Read(buf, len); },
      [](void* handle, const unsigned char* buf, size_t len) -> int {
        return Self(handle)->Write(ByteView(buf, len));
      },
  };
  return kIo;
}

// --- CTAP2 -----------------------------------------------------------------------------------

Bytes SoftKey::HandleCbor(ByteView request) {
  const uint8_t command = request[0];
  ByteView params = request.subspan(1);
  switch (command) {
    case 0x01: return MakeCredential(params);
    case 0x02: return GetAssertion(params);
    case 0x04: return GetInfo();
    case 0x06: return ClientPin(params);
    case 0x07: return Reset();
    default: return Answer(kErrInvalidCmd);
  }
}

Bytes SoftKey::GetInfo() {
  cbor_item_t* m = cbor_new_definite_map(6);
  cbor_item_t* versions = cbor_new_definite_array(1);
  (void)cbor_array_push(versions, cbor_move(cbor_build_string("FIDO_2_0")));
  Put(m, Int(1), versions);
  Put(m, Int(3), Bstr(Aaguid()));
  cbor_item_t* options = cbor_new_definite_map(3);
  Put(options, cbor_build_string("rk"), cbor_build_bool(true));
  Put(options, cbor_build_string("up"), cbor_build_bool(true));
  Put(options, cbor_build_string("clientPin"), cbor_build_bool(has_pin()));
  Put(m, Int(4), options);
  Put(m, Int(5), Int(1200));
  cbor_item_t* protocols = cbor_new_definite_array(1);
  (void)cbor_array_push(protocols, cbor_move(Int(1)));
  Put(m, Int(6), protocols);
  cbor_item_t* algs = cbor_new_definite_array(2);
  for (int64_t alg : {cose::kES256, cose::kEdDSA}) {
    cbor_item_t* a = cbor_new_definite_map(2);
    Put(a, cbor_build_string("alg"), Int(alg));
    Put(a, cbor_build_string("type"), cbor_build_string("public-key"));
    (void)cbor_array_push(algs, cbor_move(a));
  }
  Put(m, Int(10), algs);
  return Serialize(kOk, m);
}

uint8_t SoftKey::CheckPinAuth(const Bytes& param, int64_t protocol, ByteView client_data_hash) {
  if (!has_pin()) return kPinNotSet;
  if (protocol != 1) return kPinAuthInvalid;
  if (pin_token_.empty() || !SafeEquals(HmacLeft16(pin_token_, client_data_hash), param)) return kPinAuthInvalid;
  return kOk;
}

uint8_t SoftKey::CheckPinHash(ByteView shared_secret, ByteView pin_hash_enc) {
  // The try is counted before the comparison, and a wrong PIN renews the key agreement key
  // (CTAP 2.0 §5.5.5), as a device does.
  state_["pin_retries"] = pin_retries() - 1;
  auto hash = Aes256Cbc(shared_secret, pin_hash_enc, false);
  if (!hash || !SafeEquals(*hash, Unhex(state_["pin_hash"]))) {
    (void)Save();
    key_agreement_private_ = KeyToDer(EvpPkeyPtr(EVP_EC_gen("P-256")).get());
    return pin_retries() <= 0 ? kPinBlocked : kPinInvalid;
  }
  return kOk;
}

Bytes SoftKey::MakeCredential(ByteView cbor) {
  auto decoded = webauthn::DecodeCbor(cbor);
  if (!decoded) return Answer(kInvalidCbor);
  const cbor_item_t* req = decoded->item.get();
  if (!cbor_isa_map(req)) return Answer(kCborUnexpectedType);
  auto cdh = CborBytes(MapFind(req, int64_t{1}));
  const cbor_item_t* rp = MapFind(req, int64_t{2});
  const cbor_item_t* user = MapFind(req, int64_t{3});
  const cbor_item_t* params = MapFind(req, int64_t{4});
  if (!cdh || !rp || !user || !params) return Answer(kMissingParameter);
  auto rp_id = CborText(MapFind(rp, "id"));
  auto user_id = CborBytes(MapFind(user, "id"));
  if (!rp_id || !user_id || cdh->size() != 32 || !cbor_isa_array(params)) return Answer(kCborUnexpectedType);
  int64_t alg = 0;
  for (size_t i = 0; i < cbor_array_size(params) && alg == 0; ++i) {
    cbor_item_t* p = cbor_array_get(params, i);
    auto a = CborInt(MapFind(p, "alg"));
    auto t = CborText(MapFind(p, "type"));
    if (a && t && *t == "public-key" && (*a == cose::kES256 || *a == cose::kEdDSA)) alg = *a;
    cbor_decref(&p);
  }
  if (alg == 0) return Answer(kUnsupportedAlgorithm);
  // excludeList: a credential of ours for this RP refuses the registration.
  if (const cbor_item_t* exclude = MapFind(req, int64_t{5}); exclude && cbor_isa_array(exclude)) {
    for (size_t i = 0; i < cbor_array_size(exclude); ++i) {
      cbor_item_t* d = cbor_array_get(exclude, i);
      auto id = CborBytes(MapFind(d, "id"));
      cbor_decref(&d);
      if (!id) continue;
      for (const auto& c : state_["credentials"]) {
        if (c["rp_id"] == *rp_id && Unhex(c["id"]) == *id) return Answer(kCredentialExcluded);
      }
    }
  }
  bool rk = false;
  if (const cbor_item_t* options = MapFind(req, int64_t{7})) {
    if (const cbor_item_t* v = MapFind(options, "rk"); v && cbor_is_bool(v)) rk = cbor_get_bool(v);
    if (const cbor_item_t* v = MapFind(options, "uv"); v && cbor_is_bool(v) && cbor_get_bool(v)) {
      return Answer(kUnsupportedOption);  // no built-in UV: a PIN proves the user
    }
  }
  bool uv = false;
  if (auto pin_auth = CborBytes(MapFind(req, int64_t{8}))) {
    const uint8_t st = CheckPinAuth(*pin_auth, CborInt(MapFind(req, int64_t{9})).value_or(0), *cdh);
    if (st != kOk) return Answer(st);
    uv = true;
  } else if (has_pin()) {
    return Answer(kPinRequired);
  }

  EvpPkeyPtr key(alg == cose::kEdDSA ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519") : EVP_EC_gen("P-256"));
  auto cose_key = webauthn::EncodeCoseKey(key.get(), alg);
  if (!key || !cose_key) return Answer(kInvalidParameter);
  const Bytes id = RandomBytes(32);
  const int64_t counter = state_["counter"].get<int64_t>() + 1;
  state_["counter"] = counter;
  Bytes auth_data = Sha256(AsBytes(*rp_id));
  auth_data.push_back(static_cast<uint8_t>(0x41 | (uv ? 0x04 : 0)));
  for (int s = 24; s >= 0; s -= 8) auth_data.push_back(static_cast<uint8_t>(counter >> s));
  auth_data.insert(auth_data.end(), Aaguid().begin(), Aaguid().end());
  auth_data.push_back(0);
  auth_data.push_back(static_cast<uint8_t>(id.size()));
  auth_data.insert(auth_data.end(), id.begin(), id.end());
  auth_data.insert(auth_data.end(), cose_key->begin(), cose_key->end());
  const Bytes sig = Sign(key.get(), alg, Cat({auth_data, *cdh}));

  Json cred = {{"id", Hex(id)},           {"rp_id", *rp_id},
               {"user_id", Hex(*user_id)}, {"user_name", CborText(MapFind(user, "name")).value_or("")},
               {"alg", alg},               {"key", Hex(KeyToDer(key.get()))},
               {"resident", rk}};
  state_["credentials"].push_back(cred);
  if (!Save()) return Answer(kInvalidParameter);

  cbor_item_t* stmt = cbor_new_definite_map(2);
  Put(stmt, cbor_build_string("alg"), Int(alg));
  Put(stmt, cbor_build_string("sig"), Bstr(sig));
  cbor_item_t* m = cbor_new_definite_map(3);
  Put(m, Int(1), cbor_build_string("packed"));
  Put(m, Int(2), Bstr(auth_data));
  Put(m, Int(3), stmt);
  return Serialize(kOk, m);
}

Bytes SoftKey::GetAssertion(ByteView cbor) {
  auto decoded = webauthn::DecodeCbor(cbor);
  if (!decoded) return Answer(kInvalidCbor);
  const cbor_item_t* req = decoded->item.get();
  if (!cbor_isa_map(req)) return Answer(kCborUnexpectedType);
  auto rp_id = CborText(MapFind(req, int64_t{1}));
  auto cdh = CborBytes(MapFind(req, int64_t{2}));
  if (!rp_id || !cdh) return Answer(kMissingParameter);
  if (cdh->size() != 32) return Answer(kCborUnexpectedType);
  std::vector<size_t> matches;
  const cbor_item_t* allow = MapFind(req, int64_t{3});
  const bool listed = allow && cbor_isa_array(allow) && cbor_array_size(allow) > 0;
  const Json& creds = state_["credentials"];
  for (size_t i = creds.size(); i-- > 0;) {  // newest first
    const Json& c = creds[i];
    if (c["rp_id"] != *rp_id) continue;
    if (listed) {
      for (size_t j = 0; j < cbor_array_size(allow); ++j) {
        cbor_item_t* d = cbor_array_get(allow, j);
        auto id = CborBytes(MapFind(d, "id"));
        cbor_decref(&d);
        if (id && Unhex(c["id"]) == *id) {
          matches.push_back(i);
          break;
        }
      }
    } else if (c.value("resident", false)) {
      matches.push_back(i);
    }
  }
  bool up = true;
  if (const cbor_item_t* options = MapFind(req, int64_t{5})) {
    if (const cbor_item_t* v = MapFind(options, "up"); v && cbor_is_bool(v)) up = cbor_get_bool(v);
    if (const cbor_item_t* v = MapFind(options, "uv"); v && cbor_is_bool(v) && cbor_get_bool(v)) {
      return Answer(kUnsupportedOption);
    }
  }
  bool uv = false;
  if (auto pin_auth = CborBytes(MapFind(req, int64_t{6}))) {
    const uint8_t st = CheckPinAuth(*pin_auth, CborInt(MapFind(req, int64_t{7})).value_or(0), *cdh);
    if (st != kOk) return Answer(st);
    uv = true;
  }
  if (matches.empty()) return Answer(kNoCredentials);
  const Json& c = creds[matches.front()];
  EvpPkeyPtr key = KeyFromDer(Unhex(c["key"]));
  if (!key) return Answer(kInvalidParameter);
  const int64_t counter = state_["counter"].get<int64_t>() + 1;
  state_["counter"] = counter;
  if (!Save()) return Answer(kInvalidParameter);
  Bytes auth_data = Sha256(AsBytes(*rp_id));
  auth_data.push_back(static_cast<uint8_t>((up ? 0x01 : 0) | (uv ? 0x04 : 0)));
  for (int s = 24; s >= 0; s -= 8) auth_data.push_back(static_cast<uint8_t>(counter >> s));
  const Bytes sig = Sign(key.get(), c["alg"].get<int64_t>(), Cat({auth_data, *cdh}));

  const bool resident = c.value("resident", false);
  cbor_item_t* m = cbor_new_definite_map(listed || !resident ? 3 : (matches.size() > 1 ? 5 : 4));
  cbor_item_t* descriptor = cbor_new_definite_map(2);
  Put(descriptor, cbor_build_string("id"), Bstr(Unhex(c["id"])));
  Put(descriptor, cbor_build_string("type"), cbor_build_string("public-key"));
  Put(m, Int(1), descriptor);
  Put(m, Int(2), Bstr(auth_data));
  Put(m, Int(3), Bstr(sig));
  if (!listed && resident) {
    cbor_item_t* u = cbor_new_definite_map(1);
    Put(u, cbor_build_string("id"), Bstr(Unhex(c["user_id"])));
    Put(m, Int(4), u);
    if (matches.size() > 1) Put(m, Int(5), Int(static_cast<int64_t>(matches.size())));
  }
  return Serialize(kOk, m);
}

Bytes SoftKey::ClientPin(ByteView cbor) {
  auto decoded = webauthn::DecodeCbor(cbor);
  if (!decoded) return Answer(kInvalidCbor);
  const cbor_item_t* req = decoded->item.get();
  auto protocol = CborInt(MapFind(req, int64_t{1}));
  auto sub = CborInt(MapFind(req, int64_t{2}));
  if (!protocol || !sub) return Answer(kMissingParameter);
  if (*protocol != 1) return Answer(kInvalidParameter);
  EvpPkeyPtr ka = KeyFromDer(key_agreement_private_);
  switch (*sub) {
    case 1: {  // getRetries
      cbor_item_t* m = cbor_new_definite_map(1);
      Put(m, Int(3), Int(pin_retries()));
      return Serialize(kOk, m);
    }
    case 2: {  // getKeyAgreement
      cbor_item_t* m = cbor_new_definite_map(1);
      Put(m, Int(1), KeyAgreementCose(ka.get()));
      return Serialize(kOk, m);
    }
    case 3:    // setPIN
    case 4: {  // changePIN
      const cbor_item_t* platform = MapFind(req, int64_t{3});
      auto pin_auth = CborBytes(MapFind(req, int64_t{4}));
      auto new_pin_enc = CborBytes(MapFind(req, int64_t{5}));
      auto pin_hash_enc = CborBytes(MapFind(req, int64_t{6}));
      if (!platform || !pin_auth || !new_pin_enc || (*sub == 4 && !pin_hash_enc)) return Answer(kMissingParameter);
      if (*sub == 3 && has_pin()) return Answer(kPinAuthInvalid);  // setPIN only once
      if (*sub == 4 && !has_pin()) return Answer(kPinNotSet);
      if (pin_retries() <= 0) return Answer(kPinBlocked);
      auto ss = SharedSecret(ka.get(), platform);
      if (!ss) return Answer(kInvalidParameter);
      const Bytes signed_part = *sub == 3 ? *new_pin_enc : Cat({*new_pin_enc, *pin_hash_enc});
      if (!SafeEquals(HmacLeft16(*ss, signed_part), *pin_auth)) return Answer(kPinAuthInvalid);
      if (*sub == 4) {
        if (const uint8_t st = CheckPinHash(*ss, *pin_hash_enc); st != kOk) return Answer(st);
      }
      auto padded = Aes256Cbc(*ss, *new_pin_enc, false);
      if (!padded || padded->size() < 64) return Answer(kPinPolicyViolation);
      const auto end = std::find(padded->begin(), padded->end(), 0);
      const size_t pin_len = static_cast<size_t>(end - padded->begin());
      if (pin_len < 4 || pin_len > 63) return Answer(kPinPolicyViolation);
      Bytes hash = Sha256(ByteView(padded->data(), pin_len));
      hash.resize(16);
      state_["pin_hash"] = Hex(hash);
      state_["pin_retries"] = kPinRetries;
      pin_token_.clear();
      if (!Save()) return Answer(kInvalidParameter);
      return Answer(kOk);
    }
    case 5: {  // getPINToken
      const cbor_item_t* platform = MapFind(req, int64_t{3});
      auto pin_hash_enc = CborBytes(MapFind(req, int64_t{6}));
      if (!platform || !pin_hash_enc) return Answer(kMissingParameter);
      if (!has_pin()) return Answer(kPinNotSet);
      if (pin_retries() <= 0) return Answer(kPinBlocked);
      auto ss = SharedSecret(ka.get(), platform);
      if (!ss) return Answer(kInvalidParameter);
      if (const uint8_t st = CheckPinHash(*ss, *pin_hash_enc); st != kOk) return Answer(st);
      state_["pin_retries"] = kPinRetries;
      if (!Save()) return Answer(kInvalidParameter);
      pin_token_ = RandomBytes(32);
      auto enc = Aes256Cbc(*ss, pin_token_, true);
      if (!enc) return Answer(kInvalidParameter);
      cbor_item_t* m = cbor_new_definite_map(1);
      Put(m, Int(2), Bstr(*enc));
      return Serialize(kOk, m);
    }
    default: return Answer(kInvalidParameter);
  }
}

Bytes SoftKey::Reset() {
  state_["credentials"] = Json::array();
  state_["pin_hash"] = "";
  state_["pin_retries"] = kPinRetries;
  pin_token_.clear();
  if (!Save()) return Answer(kInvalidParameter);
  return Answer(kOk);
}

// --- CTAP1 / U2F ----------------------------------------------------------------------------

Bytes SoftKey::HandleApdu(ByteView apdu) {
  constexpr uint16_t kSwOk = 0x9000, kSwConditions = 0x6985, kSwWrongData = 0x6A80, kSwWrongLength = 0x6700,
                     kSwInsNotSupported = 0x6D00, kSwClaNotSupported = 0x6E00;
  auto sw = [](Bytes data, uint16_t word) {
    data.push_back(static_cast<uint8_t>(word >> 8));
    data.push_back(static_cast<uint8_t>(word));
    return data;
  };
  if (apdu.size() < 4) return sw({}, kSwWrongLength);
  if (apdu[0] != 0) return sw({}, kSwClaNotSupported);
  const uint8_t ins = apdu[1], p1 = apdu[2];
  // Extended length (00 Lc1 Lc2) as libfido2 sends it, or short (Lc).
  ByteView data;
  if (apdu.size() > 4) {
    if (apdu[4] == 0 && apdu.size() >= 7) {
      const size_t lc = (size_t{apdu[5]} << 8) | apdu[6];
      if (apdu.size() < 7 + lc) return sw({}, kSwWrongLength);
      data = apdu.subspan(7, lc);
    } else {
      const size_t lc = apdu[4];
      if (apdu.size() < 5 + lc) return sw({}, kSwWrongLength);
      data = apdu.subspan(5, lc);
    }
  }
  Json& creds = state_["credentials"];
  switch (ins) {
    case 0x03: {  // VERSION
      const std::string v = "U2F_V2";
      return sw(Bytes(v.begin(), v.end()), kSwOk);
    }
    case 0x01: {  // REGISTER: challenge parameter || application parameter
      if (data.size() != 64) return sw({}, kSwWrongLength);
      EvpPkeyPtr key(EVP_EC_gen("P-256"));
      unsigned char pub[65];
      size_t len = 0;
      EVP_PKEY_get_octet_string_param(key.get(), "encoded-pub-key", pub, sizeof pub, &len);
      const Bytes handle = RandomBytes(64);
      const ByteView chal = data.subspan(0, 32), app = data.subspan(32, 32);
      EvpPkeyPtr att = KeyFromDer(Unhex(state_["attestation_key"]));
      const Bytes cert = Unhex(state_["attestation_cert"]);
      const Bytes sig = Sign(att.get(), cose::kES256, Cat({Bytes{0x00}, app, chal, handle, ByteView(pub, 65)}));
      creds.push_back({{"id", Hex(handle)}, {"app_param", Hex(app)}, {"alg", cose::kES256},
                       {"key", Hex(KeyToDer(key.get()))}, {"resident", false}, {"rp_id", ""}});
      if (!Save()) return sw({}, kSwConditions);
      Bytes out = {0x05};
      out.insert(out.end(), pub, pub + 65);
      out.push_back(static_cast<uint8_t>(handle.size()));
      out.insert(out.end(), handle.begin(), handle.end());
      out.insert(out.end(), cert.begin(), cert.end());
      out.insert(out.end(), sig.begin(), sig.end());
      return sw(out, kSwOk);
    }
    case 0x02: {  // AUTHENTICATE: challenge || application || L || key handle
      if (data.size() < 65 || data.size() != 65 + size_t{data[64]}) return sw({}, kSwWrongLength);
      const ByteView chal = data.subspan(0, 32), app = data.subspan(32, 32), handle = data.subspan(65);
      const Json* found = nullptr;
      for (const auto& c : creds) {
        if (c.value("app_param", "") == Hex(app) && Unhex(c["id"]) == Bytes(handle.begin(), handle.end())) found = &c;
      }
      if (!found) return sw({}, kSwWrongData);
      if (p1 == 0x07) return sw({}, kSwConditions);  // check-only: the handle is ours
      if (p1 != 0x03 && p1 != 0x08) return sw({}, kSwWrongData);
      EvpPkeyPtr key = KeyFromDer(Unhex((*found)["key"]));
      const int64_t counter = state_["counter"].get<int64_t>() + 1;
      state_["counter"] = counter;
      if (!Save()) return sw({}, kSwConditions);
      Bytes prefix = {0x01};
      for (int s = 24; s >= 0; s -= 8) prefix.push_back(static_cast<uint8_t>(counter >> s));
      const Bytes sig = Sign(key.get(), cose::kES256, Cat({app, prefix, chal}));
      return sw(Cat({prefix, sig}), kSwOk);
    }
    default: return sw({}, kSwInsNotSupported);
  }
}

}  // namespace authd::drivers
