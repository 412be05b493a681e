// base64url (WebAuthn, JWS), base64 (HTTP Basic, ykval), hex and base32 decoders.
#include <cstddef>
#include <cstdint>

#include "authd/base/encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A decoder that accepts must round-trip: strict decoders admit one encoding per value.
  if (auto b = authd::Base64UrlDecode(text); b && authd::Base64UrlEncode(*b) != text) __builtin_trap();
  if (auto b = authd::Base64Decode(text); b && authd::Base64Encode(*b) != text) __builtin_trap();
  (void)authd::HexDecode(text);
  (void)authd::Base32Decode(text);
  return 0;
}
