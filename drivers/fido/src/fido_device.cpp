#include "authd/drivers/fido_device.h"

#include <fido.h>
#include <fido/es256.h>

#include <cstdio>
#include <mutex>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/drivers/softkey.h"
#include "authd/webauthn/cbor.h"

namespace authd::drivers {
namespace {

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { fido_init(0); });
}

Error Fail(int r, const std::string& what) { return Err(ErrorCode::kInternal, what + ": " + FidoErrorSentence(r)); }


Result<Bytes> B64(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return Err(ErrorCode::kBadRequest, std::string("the options lack ") + key);
  auto b = Base64UrlDecode(it->get<std::string>());
  if (!b) return Err(ErrorCode::kBadRequest, std::string(key) + " in the options is not base64url");
  return std::move(*b);
}

// The client data a browser would send: WebAuthn L3 §5.8.1.1's serialisation.
std::string ClientData(const char* type, const std::string& challenge_b64, const std::string& origin) {
  return std::string("{\"type\":\"") + type + "\",\"challenge\":\"" + challenge_b64 + "\",\"origin\":\"" + origin +
         "\",\"crossOrigin\":false}";
}

struct CredFree {
  void operator()(fido_cred_t* c) const { fido_cred_free(&c); }
};
struct AssertFree {
  void operator()(fido_assert_t* a) const { fido_assert_free(&a); }
};
struct InfoFree {
  void operator()(fido_cbor_info_t* i) const { fido_cbor_info_free(&i); }
};

}  // namespace

std::string FidoErrorSentence(int code) {
  switch (code) {
    case FIDO_ERR_PIN_INVALID: return "the PIN is wrong; check it and try again (the key counts wrong PINs)";
    case FIDO_ERR_PIN_BLOCKED:
      return "the key is blocked after too many wrong PINs; it must be reset (which deletes its credentials)";
    case FIDO_ERR_PIN_AUTH_BLOCKED: return "too many wrong PINs in a row; unplug the key, plug it in again and retry";
    case FIDO_ERR_PIN_REQUIRED: return "the key needs its PIN for this; run the command in a terminal to type it";
    case FIDO_ERR_PIN_NOT_SET: return "the key has no PIN yet, but this needs one; set a PIN first";
    case FIDO_ERR_PIN_POLICY_VIOLATION: return "the key refused that PIN; use 4 to 63 characters";
    case FIDO_ERR_CREDENTIAL_EXCLUDED: return "this key is already registered for this user";
    case FIDO_ERR_NO_CREDENTIALS: return "this key holds no credential for this user here; enrol it first";
    case FIDO_ERR_ACTION_TIMEOUT:
    case FIDO_ERR_USER_ACTION_TIMEOUT: return "the key was not touched in time; run the command again and touch the key";
    case FIDO_ERR_KEEPALIVE_CANCEL: return "the operation was cancelled";
    case FIDO_ERR_OPERATION_DENIED: return "the key refused the operation";
    case FIDO_ERR_UNSUPPORTED_ALGORITHM: return "the key supports none of the algorithms authd accepts";
    case FIDO_ERR_UNSUPPORTED_OPTION: return "the key does not support an option this needs (resident keys or user verification)";
    case FIDO_ERR_UV_BLOCKED: return "the key's built-in user verification is blocked; use its PIN";
    case FIDO_ERR_TX:
    case FIDO_ERR_RX: return "the key stopped answering; unplug it, plug it in again and retry";
    case FIDO_ERR_RX_NOT_CBOR:
    case FIDO_ERR_RX_INVALID_CBOR: return "the key sent a malformed answer";
    case FIDO_ERR_NOTFOUND: return "no such key; run `authctl devices` to see the attached keys";
    case FIDO_ERR_INVALID_ARGUMENT: return "the key cannot do what was asked (an invalid argument)";
    default: return std::string(fido_strerr(code));
  }
}

Result<std::vector<DeviceInfo>> ListDevices() {
  InitOnce();
  constexpr size_t kMax = 64;
  fido_dev_info_t* list = fido_dev_info_new(kMax);
  size_t found = 0;
  int r = fido_dev_info_manifest(list, kMax, &found);
  std::vector<DeviceInfo> out;
  if (r != FIDO_OK) {
    fido_dev_info_free(&list, kMax);
    return Fail(r, "could not list the attached keys");
  }
  for (size_t i = 0; i < found; ++i) {
    const fido_dev_info_t* di = fido_dev_info_ptr(list, i);
    auto dev = FidoDevice::Open(fido_dev_info_path(di));
    DeviceInfo info;
    if (dev) {
      auto full = (*dev)->Info();
      if (full) info = std::move(*full);
    }
    info.path = fido_dev_info_path(di);
    info.manufacturer = fido_dev_info_manufacturer_string(di) ? fido_dev_info_manufacturer_string(di) : "";
    info.product = fido_dev_info_product_string(di) ? fido_dev_info_product_string(di) : "";
    info.vendor_id = static_cast<uint16_t>(fido_dev_info_vendor(di));
    info.product_id = static_cast<uint16_t>(fido_dev_info_product(di));
    out.push_back(std::move(info));
  }
  fido_dev_info_free(&list, kMax);
  return out;
}

FidoDevice::~FidoDevice() {
  if (dev_) {
    fido_dev_close(dev_);
    fido_dev_free(&dev_);
  }
}

Result<std::unique_ptr<FidoDevice>> FidoDevice::Open(const std::string& path) {
  InitOnce();
  fido_dev_t* dev = fido_dev_new();
  if (!dev) return Err(ErrorCode::kInternal, "out of memory");
  if (path.starts_with("soft:") || path.starts_with("soft-u2f:")) {
    if (path.size() == 5 || path == "soft-u2f:") {
      fido_dev_free(&dev);
      return Err(ErrorCode::kInvalidArgument, "soft: needs a file, e.g. soft:alice.key");
    }
    fido_dev_set_io_functions(dev, &SoftKey::IoFunctions());
  }
  int r = fido_dev_open(dev, path.c_str());
  if (r != FIDO_OK) {
    fido_dev_free(&dev);
    return Err(ErrorCode::kNotFound, "could not open the key at " + path + ": " + FidoErrorSentence(r));
  }
  return std::unique_ptr<FidoDevice>(new FidoDevice(dev, path));
}

Result<std::unique_ptr<FidoDevice>> FidoDevice::OpenOnly() {
  AUTHD_ASSIGN_OR_RETURN(auto devices, ListDevices());
  if (devices.empty()) {
    return Err(ErrorCode::kNotFound, "no security key is attached; plug one in (or use --device soft:FILE)");
  }
  if (devices.size() > 1) {
    return Err(ErrorCode::kInvalidArgument,
               "several keys are attached; pick one with --device PATH (see `authctl devices`)");
  }
  return Open(devices[0].path);
}

Result<DeviceInfo> FidoDevice::Info() {
  DeviceInfo info;
  info.path = path_;
  if (path_.starts_with("soft:") || path_.starts_with("soft-u2f:")) {
    info.manufacturer = "authd";
    info.product = "software key " + path_.substr(path_.find(':') + 1);
  }
  info.fido2 = fido_dev_is_fido2(dev_);
  info.firmware = std::to_string(fido_dev_major(dev_)) + "." + std::to_string(fido_dev_minor(dev_)) + "." +
                  std::to_string(fido_dev_build(dev_));
  if (!info.fido2) {
    info.versions = {"U2F_V2"};
    return info;
  }
  std::unique_ptr<fido_cbor_info_t, InfoFree> ci(fido_cbor_info_new());
  int r = fido_dev_get_cbor_info(dev_, ci.get());
  if (r != FIDO_OK) return Fail(r, "could not read the key's information");
  info.aaguid = fido_cbor_info_aaguid_len(ci.get()) == 16
                    ? FormatUuid(ByteView(fido_cbor_info_aaguid_ptr(ci.get()), 16))
                    : std::string();
  char** versions = fido_cbor_info_versions_ptr(ci.get());
  for (size_t i = 0; i < fido_cbor_info_versions_len(ci.get()); ++i) info.versions.emplace_back(versions[i]);
  char** names = fido_cbor_info_options_name_ptr(ci.get());
  const bool* values = fido_cbor_info_options_value_ptr(ci.get());
  for (size_t i = 0; i < fido_cbor_info_options_len(ci.get()); ++i) {
    info.options.push_back(std::string(names[i]) + "=" + (values[i] ? "true" : "false"));
    if (std::string_view(names[i]) == "clientPin") info.pin_set = values[i];
  }
  for (size_t i = 0; i < fido_cbor_info_algorithm_count(ci.get()); ++i) {
    info.algorithms.push_back(fido_cbor_info_algorithm_cose(ci.get(), i));
  }
  if (info.pin_set) {
    int retries = 0;
    if (fido_dev_get_retry_count(dev_, &retries) == FIDO_OK) info.pin_retries = retries;
  }
  return info;
}

bool FidoDevice::pin_set() {
  auto info = Info();
  return info && info->pin_set;
}

void FidoDevice::Cancel() { (void)fido_dev_cancel(dev_); }

void FidoDevice::SetTimeout(int seconds) { (void)fido_dev_set_timeout(dev_, seconds * 1000); }

Status FidoDevice::SetPin(const std::string& pin) {
  int r = fido_dev_set_pin(dev_, pin.c_str(), nullptr);
  if (r != FIDO_OK) return Fail(r, "could not set the PIN");
  return Ok();
}

Result<CeremonyOutput> FidoDevice::MakeCredential(const Json& pk, const std::string& origin,
                                                  const std::optional<std::string>& pin, const TouchPrompt& prompt) {
  if (!pk.is_object() || !pk.contains("rp") || !pk.contains("user")) {
    return Err(ErrorCode::kBadRequest, "the registration options lack rp or user");
  }
  AUTHD_ASSIGN_OR_RETURN(Bytes user_id, B64(pk["user"], "id"));
  const std::string challenge = pk.value("challenge", "");
  if (!Base64UrlDecode(challenge)) return Err(ErrorCode::kBadRequest, "the challenge is not base64url");
  const std::string cdj = ClientData("webauthn.create", challenge, origin);
  std::unique_ptr<fido_cred_t, CredFree> cred(fido_cred_new());
  int type = 0;
  for (const auto& p : pk.value("pubKeyCredParams", Json::array())) {
    const int64_t alg = p.value("alg", 0);
    if (type == 0 && (alg == COSE_ES256 || alg == COSE_EDDSA)) type = static_cast<int>(alg);
  }
  if (type == 0) return Err(ErrorCode::kInvalidArgument, "authd asked for no algorithm a security key offers");
  const Json& rp = pk["rp"];
  const Json& user = pk["user"];
  int r = fido_cred_set_type(cred.get(), type);
  if (r == FIDO_OK) r = fido_cred_set_clientdata(cred.get(), reinterpret_cast<const unsigned char*>(cdj.data()), cdj.size());
  if (r == FIDO_OK) r = fido_cred_set_rp(cred.get(), rp.value("id", "").c_str(), rp.value("name", "").c_str());
  if (r == FIDO_OK) {
    r = fido_cred_set_user(cred.get(), user_id.data(), user_id.size(), user.value("name", "").c_str(),
                           user.value("displayName", "").c_str(), nullptr);
  }
  for (const auto& ex : pk.value("excludeCredentials", Json::array())) {
    auto id = Base64UrlDecode(ex.value("id", ""));
    if (r == FIDO_OK && id) r = fido_cred_exclude(cred.get(), id->data(), id->size());
  }
  const Json selection = pk.value("authenticatorSelection", Json::object());
  if (r == FIDO_OK && selection.value("residentKey", "discouraged") == "required") {
    r = fido_cred_set_rk(cred.get(), FIDO_OPT_TRUE);
  }
  if (r != FIDO_OK) return Fail(r, "could not prepare the registration");
  if (!pin && selection.value("userVerification", "") == "required") {
    return Err(ErrorCode::kUserVerificationRequired, "authd requires user verification: this key needs its PIN");
  }
  if (prompt) prompt();
  r = fido_dev_make_cred(dev_, cred.get(), pin ? pin->c_str() : nullptr);
  if (r != FIDO_OK) return Fail(r, "the key did not register");

  // The attestation object: {"fmt", "attStmt", "authData"} in CTAP2 canonical order. A U2F key
  // answered over CTAP1; libfido2 then holds the statement's parts, not its CBOR.
  Bytes stmt_cbor(fido_cred_attstmt_ptr(cred.get()), fido_cred_attstmt_ptr(cred.get()) + fido_cred_attstmt_len(cred.get()));
  if (stmt_cbor.empty()) {
    cbor_item_t* m = cbor_new_definite_map(2);
    const ByteView sig(fido_cred_sig_ptr(cred.get()), fido_cred_sig_len(cred.get()));
    const ByteView x5c(fido_cred_x5c_ptr(cred.get()), fido_cred_x5c_len(cred.get()));
    cbor_item_t* certs = cbor_new_definite_array(1);
    (void)cbor_array_push(certs, cbor_move(cbor_build_bytestring(x5c.data(), x5c.size())));
    (void)cbor_map_add(m, {cbor_move(cbor_build_string("sig")), cbor_move(cbor_build_bytestring(sig.data(), sig.size()))});
    (void)cbor_map_add(m, {cbor_move(cbor_build_string("x5c")), cbor_move(certs)});
    stmt_cbor = webauthn::EncodeCbor(m);
    cbor_decref(&m);
  }
  auto stmt = webauthn::DecodeCbor(stmt_cbor);
  if (!stmt) return Err(ErrorCode::kInternal, "the key's attestation statement does not decode");
  const ByteView auth_data(fido_cred_authdata_raw_ptr(cred.get()), fido_cred_authdata_raw_len(cred.get()));
  cbor_item_t* root = cbor_new_definite_map(3);
  (void)cbor_map_add(root, {cbor_move(cbor_build_string("fmt")), cbor_move(cbor_build_string(fido_cred_fmt(cred.get())))});
  (void)cbor_map_add(root, {cbor_move(cbor_build_string("attStmt")), stmt->item.get()});
  (void)cbor_map_add(root, {cbor_move(cbor_build_string("authData")),
                            cbor_move(cbor_build_bytestring(auth_data.data(), auth_data.size()))});
  Bytes attestation = webauthn::EncodeCbor(root);
  cbor_decref(&root);

  const std::string id = Base64UrlEncode(ByteView(fido_cred_id_ptr(cred.get()), fido_cred_id_len(cred.get())));
  CeremonyOutput out;
  out.credential = {{"id", id},
                    {"rawId", id},
                    {"type", "public-key"},
                    {"response",
                     {{"clientDataJSON", Base64UrlEncode(AsBytes(cdj))},
                      {"attestationObject", Base64UrlEncode(attestation)},
                      {"transports", Json::array({"usb"})}}},
                    {"clientExtensionResults",
                     {{"credProps", {{"rk", selection.value("residentKey", "") == "required"}}}}}};
  return out;
}

Result<CeremonyOutput> FidoDevice::GetAssertion(const Json& pk, const std::string& origin,
                                                const std::optional<std::string>& pin, const TouchPrompt& prompt) {
  const std::string challenge = pk.value("challenge", "");
  if (!Base64UrlDecode(challenge)) return Err(ErrorCode::kBadRequest, "the challenge is not base64url");
  const std::string rp_id = pk.value("rpId", "");
  if (rp_id.empty()) return Err(ErrorCode::kBadRequest, "the authentication options lack rpId");
  const std::string cdj = ClientData("webauthn.get", challenge, origin);
  std::unique_ptr<fido_assert_t, AssertFree> a(fido_assert_new());
  int r = fido_assert_set_clientdata(a.get(), reinterpret_cast<const unsigned char*>(cdj.data()), cdj.size());
  if (r == FIDO_OK) r = fido_assert_set_rp(a.get(), rp_id.c_str());
  for (const auto& c : pk.value("allowCredentials", Json::array())) {
    auto id = Base64UrlDecode(c.value("id", ""));
    if (r == FIDO_OK && id) r = fido_assert_allow_cred(a.get(), id->data(), id->size());
  }
  if (r == FIDO_OK) r = fido_assert_set_up(a.get(), FIDO_OPT_TRUE);
  if (r != FIDO_OK) return Fail(r, "could not prepare the sign-in");
  if (!pin && pk.value("userVerification", "") == "required") {
    return Err(ErrorCode::kUserVerificationRequired, "authd requires user verification: this key needs its PIN");
  }
  if (prompt) prompt();
  r = fido_dev_get_assert(dev_, a.get(), pin ? pin->c_str() : nullptr);
  if (r != FIDO_OK) return Fail(r, "the key did not sign in");
  if (fido_assert_count(a.get()) < 1) return Err(ErrorCode::kInternal, "the key returned no assertion");
  // libfido2 hands the authenticator data out CBOR-wrapped; authd wants the raw bytes.
  auto wrapped = webauthn::DecodeCbor(ByteView(fido_assert_authdata_ptr(a.get(), 0), fido_assert_authdata_len(a.get(), 0)));
  auto auth_data = wrapped ? webauthn::CborBytes(wrapped->item.get()) : std::nullopt;
  if (!auth_data) return Err(ErrorCode::kInternal, "the key's authenticator data does not decode");
  const std::string id = Base64UrlEncode(ByteView(fido_assert_id_ptr(a.get(), 0), fido_assert_id_len(a.get(), 0)));
  Json response = {{"clientDataJSON", Base64UrlEncode(AsBytes(cdj))},
                   {"authenticatorData", Base64UrlEncode(*auth_data)},
                   {"signature", Base64UrlEncode(ByteView(fido_assert_sig_ptr(a.get(), 0), fido_assert_sig_len(a.get(), 0)))}};
  if (fido_assert_user_id_len(a.get(), 0) > 0) {
    response["userHandle"] =
        Base64UrlEncode(ByteView(fido_assert_user_id_ptr(a.get(), 0), fido_assert_user_id_len(a.get(), 0)));
  }
  CeremonyOutput out;
  out.credential = {{"id", id}, {"rawId", id}, {"type", "public-key"}, {"response", response},
                    {"clientExtensionResults", Json::object()}};
  return out;
}

}  // namespace authd::drivers
