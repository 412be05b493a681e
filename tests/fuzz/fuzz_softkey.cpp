// What a host sends the software key: CTAPHID reports, CTAP2 CBOR commands and U2F APDUs. The
// first byte picks the entry point; the key must answer or refuse, never crash or read past
// its input.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "authd/drivers/softkey.h"

namespace {
authd::drivers::SoftKey* Key(bool u2f) {
  static auto ctap2 = authd::drivers::SoftKey::Open("/tmp/fuzz-softkey-" + std::to_string(getpid()) + ".json").value();
  static auto ctap1 =
      authd::drivers::SoftKey::Open("/tmp/fuzz-softkey-u2f-" + std::to_string(getpid()) + ".json", true).value();
  return u2f ? ctap1.get() : ctap2.get();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const authd::ByteView in(data + 1, size - 1);
  unsigned char out[64];
  switch (data[0] % 4) {
    case 0:
    case 1: {
      auto* key = Key(data[0] % 4 == 1);
      for (size_t pos = 0; pos + 64 <= in.size(); pos += 64) (void)key->Write(in.subspan(pos, 64));
      while (key->Read(out, sizeof out) == 64) {
      }
      break;
    }
    case 2: {
      authd::Bytes r = Key(false)->HandleCbor(in);
      if (r.empty()) __builtin_trap();
      break;
    }
    default: {
      authd::Bytes r = Key(true)->HandleApdu(in);
      if (r.size() < 2) __builtin_trap();
      break;
    }
  }
  return 0;
}
