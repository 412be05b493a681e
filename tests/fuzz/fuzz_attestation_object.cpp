// Whole attestation objects through every statement format.
#include <cstddef>
#include <cstdint>

#include "authd/webauthn/attestation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto obj = authd::webauthn::ParseAttestationObject(authd::ByteView(data, size));
  if (!obj || !obj->auth_data.attested) return 0;
  auto key = authd::webauthn::ParseCoseKey(obj->auth_data.attested->cose_key);
  if (!key) return 0;
  authd::Bytes hash(32, 0x11);
  auto r = authd::webauthn::VerifyAttestationStatement(*obj, hash, *key);
  if (r) {
    authd::webauthn::TrustPolicy policy;
    (void)authd::webauthn::AssessTrust(*r, obj->auth_data.attested->aaguid, policy);
  }
  return 0;
}
