#include "authd/domain/keyring.h"

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"

namespace authd::domain {

Keyring::Keyring(const SecretBytes& master)
    : seal_key_(HkdfSha256(master.view(), AsBytes("authd"), AsBytes("seal v1"), 32)),
      audit_key_(HkdfSha256(master.view(), AsBytes("authd"), AsBytes("audit chain v1"), 32)),
      pseudonym_key_(HkdfSha256(master.view(), AsBytes("authd"), AsBytes("audit pseudonym v1"), 32)),
      decoy_key_(HkdfSha256(master.view(), AsBytes("authd"), AsBytes("decoy v1"), 32)) {}

Bytes Keyring::DecoyMac(ByteView data) const { return HmacSha256(decoy_key_.view(), data); }

Bytes Keyring::Seal(ByteView plaintext, std::string_view context) const {
  return SealAesGcm(seal_key_.view(), plaintext, AsBytes(context));
}

Result<SecretBytes> Keyring::Open(ByteView sealed, std::string_view context) const {
  return OpenAesGcm(seal_key_.view(), sealed, AsBytes(context));
}

Bytes Keyring::AuditMac(ByteView data) const { return HmacSha256(audit_key_.view(), data); }

std::string Keyring::Pseudonym(std::string_view value) const {
  Bytes mac = HmacSha256(pseudonym_key_.view(), AsBytes(value));
  mac.resize(8);
  return "ps:" + HexEncode(mac);
}

}  // namespace authd::domain
