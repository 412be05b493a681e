// YubiKey OTP slots through libykpers, for the enrolment station: read the key's serial and
// firmware, and program slot 1 or 2 with Yubico OTP (fresh AES key and private id) or HMAC-SHA1
// challenge-response. The configuration is built and checked by libykpers' own code
// (ykp_configure_version, ykp_set_*); only the final write to USB sits behind YubiKeyPort.
// "soft:FILE" is a simulated key that records the exact configuration bytes it is sent and
// refuses what a real key refuses (a protected slot without its access code, a configured slot
// unless overwriting was asked for, a malformed configuration).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::drivers {

struct YubiKeyStatus {
  uint32_t serial = 0;
  int major = 0, minor = 0, build = 0;
  int pgm_seq = 0;
  int touch_level = 0;
  bool SlotConfigured(int slot) const { return touch_level & (slot == 1 ? 0x01 : 0x02); }
  std::string Firmware() const {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(build);
  }
};

// The one operation that reaches the device: write a 52-byte configuration (struct config_st as
// libykpers builds it, CRC filled in by the port) to `command`'s slot, presenting
// `access_code` (6 bytes, zeros when the slot is unprotected).
class YubiKeyPort {
 public:
  virtual ~YubiKeyPort() = default;
  virtual Result<YubiKeyStatus> ReadStatus() = 0;
  virtual Status WriteConfig(uint8_t command, ByteView config, ByteView access_code) = 0;
};

// A HID YubiKey through libykpers (the first attached one), or "soft:FILE".
Result<std::unique_ptr<YubiKeyPort>> OpenYubiKey(const std::string& device);

struct OtpSlotSecrets {
  std::string public_id;  // modhex, 12 characters: "vv" + modhex(0x00 || serial), or random
  Bytes private_id;       // 6 bytes
  SecretBytes aes_key;    // 16 bytes
};

struct ProgramOptions {
  int slot = 1;                  // 1 or 2
  bool force = false;            // overwrite a configured slot
  Bytes access_code;             // current access code of a protected slot (6 bytes), if any
  Bytes new_access_code;         // protect the slot with this code (6 bytes), if any
  bool public_id_from_serial = true;
};

// Programs Yubico OTP with fresh random secrets. kConflict when the slot is configured and
// `force` is not set; kForbidden when the key refuses the access code.
Result<OtpSlotSecrets> ProgramYubicoOtp(YubiKeyPort& key, const ProgramOptions& options);
// Programs HMAC-SHA1 challenge-response (variable-length challenges) with a fresh 20-byte secret.
Result<SecretBytes> ProgramChallengeResponse(YubiKeyPort& key, const ProgramOptions& options);

}  // namespace authd::drivers
