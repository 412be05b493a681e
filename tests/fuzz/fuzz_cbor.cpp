// The strict CBOR layer itself; whatever it accepts, libcbor must have decoded completely.
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/cbor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = authd::webauthn::DecodeCbor(authd::ByteView(data, size), true);
  if (r && (!r->item || r->consumed == 0 || r->consumed > size)) __builtin_trap();
  return 0;
}
