#include "authd/drivers/yubikey.h"

#include <openssl/crypto.h>
#include <ykcore.h>
#include <ykdef.h>
#include <ykpers.h>
#include <ykstatus.h>

#include <cstring>
#include <mutex>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/json.h"
#include "authd/domain/otp.h"

namespace authd::drivers {
namespace {

constexpr size_t kConfigSize = sizeof(config_st);
static_assert(kConfigSize == 52, "struct config_st is 52 bytes on the wire");

// --- a YubiKey on USB, through libykpers -------------------------------------------------

class UsbYubiKey final : public YubiKeyPort {
 public:
  explicit UsbYubiKey(YK_KEY* key) : key_(key) {}
  ~UsbYubiKey() override { yk_close_key(key_); }

  Result<YubiKeyStatus> ReadStatus() override {
    YK_STATUS* st = ykds_alloc();
    YubiKeyStatus out;
    const bool ok = yk_get_status(key_, st);
    if (ok) {
      out.major = ykds_version_major(st);
      out.minor = ykds_version_minor(st);
      out.build = ykds_version_build(st);
      out.pgm_seq = ykds_pgm_seq(st);
      out.touch_level = ykds_touch_level(st);
    }
    ykds_free(st);
    if (!ok) return Err(ErrorCode::kInternal, std::string("could not read the YubiKey's status: ") + yk_strerror(yk_errno));
    unsigned int serial = 0;
    if (yk_get_serial(key_, 0, 0, &serial)) out.serial = serial;
    return out;
  }

  Status WriteConfig(uint8_t command, ByteView config, ByteView access_code) override {
    if (config.size() != kConfigSize || access_code.size() != ACC_CODE_SIZE) {
      return Err(ErrorCode::kInvalidArgument, "malformed configuration");
    }
    AUTHD_ASSIGN_OR_RETURN(YubiKeyStatus before, ReadStatus());
    config_st cfg;
    std::memcpy(&cfg, config.data(), kConfigSize);
    unsigned char acc[ACC_CODE_SIZE];
    std::memcpy(acc, access_code.data(), ACC_CODE_SIZE);
    const bool ok = yk_write_command(key_, reinterpret_cast<YK_CONFIG*>(&cfg), command, acc);
    OPENSSL_cleanse(&cfg, sizeof cfg);
    if (!ok) return Err(ErrorCode::kInternal, std::string("the YubiKey refused the write: ") + yk_strerror(yk_errno));
    // A key that rejects a configuration (a wrong access code, mostly) leaves its programming
    // sequence where it was.
    AUTHD_ASSIGN_OR_RETURN(YubiKeyStatus after, ReadStatus());
    if (after.pgm_seq == before.pgm_seq && before.pgm_seq != 0) {
      return Err(ErrorCode::kForbidden, "the YubiKey did not take the configuration: the slot is protected by an "
                                        "access code; pass it with --access-code");
    }
    return Ok();
  }

 private:
  YK_KEY* key_;
};

// --- a simulated YubiKey in a file ----------------------------------------------------------

class FileYubiKey final : public YubiKeyPort {
 public:
  FileYubiKey(std::string file, Json state) : file_(std::move(file)), state_(std::move(state)) {}

  Result<YubiKeyStatus> ReadStatus() override {
    YubiKeyStatus s;
    s.serial = state_["serial"].get<uint32_t>();
    s.major = state_["version"][0];
    s.minor = state_["version"][1];
    s.build = state_["version"][2];
    s.pgm_seq = state_["pgm_seq"];
    s.touch_level = state_["touch_level"];
    return s;
  }

  Status WriteConfig(uint8_t command, ByteView config, ByteView access_code) override {
    if (config.size() != kConfigSize || access_code.size() != ACC_CODE_SIZE) {
      return Err(ErrorCode::kInvalidArgument, "malformed configuration");
    }
    if (command != SLOT_CONFIG && command != SLOT_CONFIG2) {
      return Err(ErrorCode::kInvalidArgument, "the YubiKey has no such slot");
    }
    // What goes over USB: the configuration with its CRC, then the current access code.
    Bytes wire(config.begin(), config.end());
    const uint16_t crc = static_cast<uint16_t>(~domain::otp::YubiCrc(ByteView(wire.data(), kConfigSize - 2)));
    wire[kConfigSize - 2] = static_cast<uint8_t>(crc);
    wire[kConfigSize - 1] = static_cast<uint8_t>(crc >> 8);
    if (domain::otp::YubiCrc(wire) != YK_CRC_OK_RESIDUAL) return Err(ErrorCode::kInternal, "CRC mismatch");
    config_st cfg;
    std::memcpy(&cfg, wire.data(), kConfigSize);
    if (cfg.fixedSize > FIXED_SIZE) return Err(ErrorCode::kInvalidArgument, "the YubiKey refused the configuration");
    const std::string slot = command == SLOT_CONFIG ? "1" : "2";
    Json& slots = state_["slots"];
    if (slots.contains(slot)) {
      const Bytes stored = HexDecode(slots[slot]["access_code"].get<std::string>()).value_or(Bytes{});
      if (stored != Bytes(ACC_CODE_SIZE, 0) && !SafeEquals(stored, access_code)) {
        // A real key ignores the write; its programming sequence does not move.
        return Err(ErrorCode::kForbidden, "the YubiKey did not take the configuration: the slot is protected by an "
                                          "access code; pass it with --access-code");
      }
    }
    slots[slot] = {{"config", HexEncode(wire)},
                   {"access_code", HexEncode(ByteView(cfg.accCode, ACC_CODE_SIZE))},
                   {"presented_access_code", HexEncode(access_code)}};
    state_["pgm_seq"] = state_["pgm_seq"].get<int>() + 1;
    state_["touch_level"] = state_["touch_level"].get<int>() | (command == SLOT_CONFIG ? 0x01 : 0x02);
    OPENSSL_cleanse(&cfg, sizeof cfg);
    return WriteFileDurably(file_, AsBytes(DumpJson(state_)));
  }

 private:
  std::string file_;
  Json state_;
};

YK_STATUS* StatusFor(const YubiKeyStatus& s) {
  YK_STATUS* st = ykds_alloc();
  auto* raw = reinterpret_cast<status_st*>(st);
  raw->versionMajor = static_cast<unsigned char>(s.major);
  raw->versionMinor = static_cast<unsigned char>(s.minor);
  raw->versionBuild = static_cast<unsigned char>(s.build);
  raw->pgmSeq = static_cast<unsigned char>(s.pgm_seq);
  raw->touchLevel = static_cast<unsigned short>(s.touch_level);
  return st;
}

struct Config {
  YKP_CONFIG* cfg = ykp_alloc();
  ~Config() { ykp_free_config(cfg); }
};

Error Refused(const char* what) {
  return Err(ErrorCode::kInvalidArgument, std::string(what) + ": " + ykp_strerror(ykp_errno));
}

// The shared start of both programs: the slot, the firmware the key reports, the protection.
Result<YubiKeyStatus> Prepare(YubiKeyPort& key, const ProgramOptions& o, Config& c) {
  if (o.slot != 1 && o.slot != 2) return Err(ErrorCode::kInvalidArgument, "the slot is 1 or 2");
  if (!o.access_code.empty() && o.access_code.size() != ACC_CODE_SIZE) {
    return Err(ErrorCode::kInvalidArgument, "an access code is 6 bytes (12 hex digits)");
  }
  if (!o.new_access_code.empty() && o.new_access_code.size() != ACC_CODE_SIZE) {
    return Err(ErrorCode::kInvalidArgument, "an access code is 6 bytes (12 hex digits)");
  }
  AUTHD_ASSIGN_OR_RETURN(YubiKeyStatus st, key.ReadStatus());
  if (st.SlotConfigured(o.slot) && !o.force) {
    return Err(ErrorCode::kConflict, "slot " + std::to_string(o.slot) +
                                         " is already configured; use --force to overwrite it (its old secret "
                                         "stops working)");
  }
  YK_STATUS* yst = StatusFor(st);
  ykp_configure_version(c.cfg, yst);
  ykds_free(yst);
  if (!ykp_configure_command(c.cfg, o.slot == 1 ? SLOT_CONFIG : SLOT_CONFIG2)) return Refused("slot");
  if (!o.new_access_code.empty()) {
    Bytes code = o.new_access_code;
    if (!ykp_set_access_code(c.cfg, code.data(), code.size())) return Refused("access code");
  }
  return st;
}

Status Write(YubiKeyPort& key, const ProgramOptions& o, Config& c) {
  YK_CONFIG* core = ykp_core_config(c.cfg);
  const ByteView bytes(reinterpret_cast<const uint8_t*>(core), kConfigSize);
  const Bytes access = o.access_code.empty() ? Bytes(ACC_CODE_SIZE, 0) : o.access_code;
  Status s = key.WriteConfig(static_cast<uint8_t>(ykp_command(c.cfg)), bytes, access);
  OPENSSL_cleanse(core, kConfigSize);
  return s;
}

}  // namespace

Result<std::unique_ptr<YubiKeyPort>> OpenYubiKey(const std::string& device) {
  if (device.starts_with("soft:")) {
    const std::string file = device.substr(5);
    if (file.empty()) return Err(ErrorCode::kInvalidArgument, "soft: needs a file, e.g. soft:yubikey.json");
    Json state;
    if (auto text = ReadWholeFile(file)) {
      auto parsed = ParseJsonStrict(*text);
      if (!parsed || !parsed->is_object() || !parsed->contains("serial")) {
        return Err(ErrorCode::kInvalidArgument, file + " is not a simulated YubiKey");
      }
      state = std::move(*parsed);
    } else {
      const Bytes r = RandomBytes(3);
      state = {{"serial", 10'000'000 + ((r[0] << 16 | r[1] << 8 | r[2]) % 9'000'000)},
               {"version", {5, 4, 3}}, {"pgm_seq", 0}, {"touch_level", 0}, {"slots", Json::object()}};
      AUTHD_RETURN_IF_ERROR(WriteFileDurably(file, AsBytes(DumpJson(state))));
    }
    return std::unique_ptr<YubiKeyPort>(new FileYubiKey(file, std::move(state)));
  }
  if (!device.empty()) {
    return Err(ErrorCode::kInvalidArgument, "a YubiKey is chosen as the first attached one, or soft:FILE");
  }
  static std::once_flag once;
  std::call_once(once, [] { yk_init(); });
  YK_KEY* key = yk_open_first_key();
  if (!key) {
    return Err(ErrorCode::kNotFound, std::string("no YubiKey found (") + yk_strerror(yk_errno) +
                                         "); plug one in, and check that you are in the authd-enrol group");
  }
  return std::unique_ptr<YubiKeyPort>(new UsbYubiKey(key));
}

Result<OtpSlotSecrets> ProgramYubicoOtp(YubiKeyPort& key, const ProgramOptions& o) {
  Config c;
  AUTHD_ASSIGN_OR_RETURN(YubiKeyStatus st, Prepare(key, o, c));
  OtpSlotSecrets out;
  Bytes fixed;
  if (o.public_id_from_serial && st.serial != 0) {
    fixed = {0xff, 0x00, static_cast<uint8_t>(st.serial >> 24), static_cast<uint8_t>(st.serial >> 16),
             static_cast<uint8_t>(st.serial >> 8), static_cast<uint8_t>(st.serial)};
  } else {
    fixed = RandomBytes(6);
    fixed[0] = 0xff;  // "vv..." marks a key programmed in the field, as Yubico recommends
    fixed[1] = 0x01;
  }
  out.public_id = domain::otp::ModhexEncode(fixed);
  out.private_id = RandomBytes(6);
  out.aes_key = RandomSecret(16);
  if (!ykp_set_fixed(c.cfg, fixed.data(), fixed.size())) return Refused("public id");
  if (!ykp_set_uid(c.cfg, out.private_id.data(), out.private_id.size())) return Refused("private id");
  if (ykp_AES_key_from_raw(c.cfg, reinterpret_cast<const char*>(out.aes_key.view().data())) != 0) {
    return Refused("AES key");
  }
  if (!ykp_set_tktflag_APPEND_CR(c.cfg, true)) return Refused("Enter after the OTP");
  AUTHD_RETURN_IF_ERROR(Write(key, o, c));
  return out;
}

Result<SecretBytes> ProgramChallengeResponse(YubiKeyPort& key, const ProgramOptions& o) {
  Config c;
  AUTHD_ASSIGN_OR_RETURN(YubiKeyStatus st, Prepare(key, o, c));
  (void)st;
  SecretBytes secret = RandomSecret(20);
  if (!ykp_set_tktflag_CHAL_RESP(c.cfg, true) || !ykp_set_cfgflag_CHAL_HMAC(c.cfg, true) ||
      !ykp_set_cfgflag_HMAC_LT64(c.cfg, true)) {
    return Refused("challenge-response needs firmware 2.2 or later");
  }
  if (ykp_HMAC_key_from_raw(c.cfg, reinterpret_cast<const char*>(secret.view().data())) != 0) {
    return Refused("HMAC key");
  }
  AUTHD_RETURN_IF_ERROR(Write(key, o, c));
  return secret;
}

}  // namespace authd::drivers
