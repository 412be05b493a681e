#include "authd/webauthn/authenticator_data.h"

#include "authd/webauthn/cbor.h"

namespace authd::webauthn {

Result<AuthenticatorData> ParseAuthenticatorData(ByteView data) {
  auto bad = [](std::string why) { return Err(ErrorCode::kMalformedAuthData, std::move(why)); };
  constexpr size_t kFixed = 32 + 1 + 4;
  if (data.size() < kFixed) return bad("authenticator data is shorter than 37 bytes");
  if (data.size() > 64 * 1024) return bad("authenticator data is too large");
  AuthenticatorData ad;
  ad.raw.assign(data.begin(), data.end());
  ad.rp_id_hash.assign(data.begin(), data.begin() + 32);
  ad.flags = data[32];
  ad.sign_count = (uint32_t{data[33]} << 24) | (uint32_t{data[34]} << 16) | (uint32_t{data[35]} << 8) | data[36];
  size_t pos = kFixed;

  if (ad.flags & flags::kAttestedData) {
    if (data.size() - pos < 18) return bad("attested credential data is truncated");
    AttestedCredentialData acd;
    acd.aaguid.assign(data.begin() + static_cast<ptrdiff_t>(pos), data.begin() + static_cast<ptrdiff_t>(pos + 16));
    pos += 16;
    size_t id_len = (size_t{data[pos]} << 8) | data[pos + 1];
    pos += 2;
    if (id_len == 0) return bad("credential id is empty");
    if (id_len > data.size() - pos) return bad("credential id runs past the end");
    acd.credential_id.assign(data.begin() + static_cast<ptrdiff_t>(pos),
                             data.begin() + static_cast<ptrdiff_t>(pos + id_len));
    pos += id_len;
    if (pos >= data.size()) return bad("credential public key is missing");
    auto key = DecodeCbor(data.subspan(pos), true, CborLimits{data.size() - pos, 2, 64});
    if (!key) return bad("credential public key: " + key.error().detail);
    if (!cbor_isa_map(key->item.get())) return bad("credential public key is not a CBOR map");
    acd.cose_key.assign(data.begin() + static_cast<ptrdiff_t>(pos),
                        data.begin() + static_cast<ptrdiff_t>(pos + key->consumed));
    pos += key->consumed;
    ad.attested = std::move(acd);
  }

  if (ad.flags & flags::kExtensionData) {
    if (pos >= data.size()) return bad("ED is set but there are no extensions");
    auto ext = DecodeCbor(data.subspan(pos), false, CborLimits{data.size() - pos, 4, 256});
    if (!ext) return bad("extensions: " + ext.error().detail);
    if (!cbor_isa_map(ext->item.get())) return bad("extensions are not a CBOR map");
    ad.extensions.assign(data.begin() + static_cast<ptrdiff_t>(pos), data.end());
    pos = data.size();
  }

  if (pos != data.size()) {
    return bad((ad.flags & flags::kAttestedData) ? "bytes after the authenticator data"
                                                 : "data follows but neither AT nor ED is set");
  }
  return ad;
}

Status CheckBackupFlags(const AuthenticatorData& ad) {
  if (ad.backup_state() && !ad.backup_eligible()) {
    return Err(ErrorCode::kInvalidFlags, "backup state is set on a credential that is not backup eligible");
  }
  return Ok();
}

}  // namespace authd::webauthn
