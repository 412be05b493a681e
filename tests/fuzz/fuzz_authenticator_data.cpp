// Authenticator data with attested credential data and extensions.
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/authenticator_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto ad = authd::webauthn::ParseAuthenticatorData(authd::ByteView(data, size));
  if (ad && (ad->raw.size() != size || ad->rp_id_hash.size() != 32)) __builtin_trap();
  return 0;
}
