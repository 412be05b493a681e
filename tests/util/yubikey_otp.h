// YubiKey OTPs as a key's button makes them, through libyubikey (an implementation independent
// of authd's), for the tests of the OTP check.
#pragma once

#include <yubikey.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "authd/base/bytes.h"

namespace authd::testing {

// The 32 modhex characters after the public id.
inline std::string GenerateWithLibyubikey(const Bytes& aes_key, const Bytes& uid, uint16_t ctr, uint8_t use) {
  yubikey_token_st tok{};
  std::memcpy(tok.uid, uid.data(), 6);
  tok.ctr = ctr;
  tok.tstpl = 0x1234;
  tok.tstph = 0x56;
  tok.use = use;
  tok.rnd = 0xbeef;
  // libyubikey leaves the CRC to the caller, as the key's firmware computes it; then it encrypts
  // the token in place and modhex-encodes it.
  tok.crc = static_cast<uint16_t>(~yubikey_crc16(reinterpret_cast<uint8_t*>(&tok), YUBIKEY_BLOCK_SIZE - 2));
  char out[YUBIKEY_OTP_SIZE + 1] = {};
  yubikey_generate(&tok, aes_key.data(), out);
  return std::string(out, YUBIKEY_OTP_SIZE);
}

}  // namespace authd::testing
