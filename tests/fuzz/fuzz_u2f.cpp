// Raw U2F registration and authentication responses as a CTAP1 key sends them. The first input
// byte picks the parser; a parsed registration is also turned into a fido-u2f attestation object,
// which must then parse.
#include <cstddef>
#include <cstdint>

#include "authd/base/crypto.h"
#include "authd/webauthn/attestation.h"
#include "authd/webauthn/u2f.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const authd::ByteView in(data + 1, size - 1);
  const authd::Bytes app = authd::Sha256(authd::AsBytes("https://example.org"));
  if (data[0] & 1) {
    auto reg = authd::webauthn::u2f::ParseRegistration(in);
    if (reg) {
      if (reg->public_key.size() != 65 || reg->key_handle.empty()) __builtin_trap();
      (void)authd::webauthn::u2f::VerifyRegistration(*reg, app, app);
      auto ao = authd::webauthn::u2f::ToAttestationObject(*reg, app);
      if (ao && !authd::webauthn::ParseAttestationObject(*ao) && reg->key_handle.size() <= 255) {
        // A key handle and a P-256 key always make a well-formed object.
        __builtin_trap();
      }
    }
  } else {
    auto auth = authd::webauthn::u2f::ParseAuthentication(in);
    if (auth) (void)authd::webauthn::u2f::VerifyAuthentication(*auth, app, app, app, 0);
  }
  return 0;
}
