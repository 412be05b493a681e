// COSE_Key credential public keys, and a signature check with whatever parses.
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/cose_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key = authd::webauthn::ParseCoseKey(authd::ByteView(data, size));
  if (key) {
    authd::ByteView tail(data, size > 72 ? 72 : size);
    if (authd::webauthn::VerifySignature(*key, authd::ByteView(data, size), tail)) __builtin_trap();
  }
  return 0;
}
