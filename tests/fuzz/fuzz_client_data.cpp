// clientDataJSON as a browser sends it.
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/client_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = authd::webauthn::ParseClientData(authd::ByteView(data, size));
  if (c) {
    authd::webauthn::OriginPolicy policy{{"https://login.example.org"}, false, {}};
    (void)authd::webauthn::CheckOrigin(*c, policy);
    (void)authd::webauthn::CheckCrossOrigin(*c, policy);
    if (c->hash.size() != 32) __builtin_trap();
  }
  return 0;
}
