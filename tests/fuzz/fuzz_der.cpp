// The strict DER reader (Android KeyDescription and similar certificate extensions).
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/der.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  authd::ByteView in(data, size);
  size_t pos = 0;
  while (auto t = authd::webauthn::der::Read(in, pos)) {
    if (pos > size || t->value.size() > size) __builtin_trap();
    (void)authd::webauthn::der::Unsigned(*t);
    size_t inner = 0;
    while (authd::webauthn::der::Read(t->value, inner)) {
    }
  }
  return 0;
}
