// Ceremony handles as clients send them back: any string must be refused cleanly unless it is a
// handle this keyring sealed. Inputs starting with 0x00 are sealed first (to reach the layout
// parser with well-sealed but arbitrary plaintext).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authd/base/encoding.h"
#include "authd/domain/ceremony_handle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const authd::domain::Keyring keyring{authd::SecretBytes(authd::Bytes(32, 7))};
  if (size > 0 && data[0] == 0) {
    const authd::Bytes plain(data + 1, data + size);
    auto c = authd::domain::OpenCeremony(keyring, authd::Base64UrlEncode(keyring.Seal(plain, "webauthn.ceremony v1")));
    if (c && c->id.size() != 16) __builtin_trap();
    if (c && c->allowed.size() > authd::domain::kMaxCeremonyAllowed) __builtin_trap();
    return 0;
  }
  auto c = authd::domain::OpenCeremony(keyring, std::string_view(reinterpret_cast<const char*>(data), size));
  if (c) __builtin_trap();  // nothing but a sealed handle opens
  return 0;
}
