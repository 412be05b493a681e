// A YubiKey OTP as typed by the key (or by an attacker): format, modhex and decryption. The first
// 22 input bytes are the AES key and private id; the rest is the OTP text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authd/domain/otp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 22) return 0;
  const authd::ByteView key(data, 16), uid(data + 16, 6);
  const std::string_view otp(reinterpret_cast<const char*>(data + 22), size - 22);
  auto parts = authd::domain::otp::SplitYubiOtp(otp);
  if (!parts) return 0;
  if (parts->ciphertext.size() != 16 || parts->public_id.size() < 2 || parts->public_id.size() > 16) __builtin_trap();
  if (authd::domain::otp::ModhexEncode(*authd::domain::otp::ModhexDecode(parts->public_id)) != parts->public_id) {
    __builtin_trap();
  }
  auto tok = authd::domain::otp::DecryptYubiOtp(parts->ciphertext, key, uid);
  if (tok && tok->use_counter > 0x7fff) __builtin_trap();
  return 0;
}
