#include "authd/webauthn/client_data.h"

#include <algorithm>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/json.h"

namespace authd::webauthn {

Result<CollectedClientData> ParseClientData(ByteView raw) {
  auto bad = [](std::string why) { return Err(ErrorCode::kBadClientData, std::move(why)); };
  if (raw.empty() || raw.size() > kMaxClientDataBytes) return bad("clientDataJSON is empty or too large");
  CollectedClientData out;
  out.hash = Sha256(raw);  // step 12 / 20: over the raw bytes as received
  std::string_view text = AsChars(raw);
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);  // step 5: UTF-8 decode strips a BOM
  auto json = ParseJsonStrict(text, JsonLimits{kMaxClientDataBytes, 4, 4096});
  if (!json) return bad("clientDataJSON is not valid JSON: " + json.error().detail);
  if (!json->is_object()) return bad("clientDataJSON is not a JSON object");
  const Json& c = *json;
  auto str = [&](const char* key) -> const std::string* {
    auto it = c.find(key);
    return (it != c.end() && it->is_string()) ? &it->get_ref<const std::string&>() : nullptr;
  };
  const std::string* type = str("type");
  const std::string* challenge = str("challenge");
  const std::string* origin = str("origin");
  if (!type || !challenge || !origin) return bad("clientDataJSON needs string type, challenge and origin");
  auto decoded = Base64UrlDecode(*challenge);
  if (!decoded || decoded->empty()) return bad("clientDataJSON challenge is not base64url");
  out.type = *type;
  out.challenge = std::move(*decoded);
  out.origin = *origin;
  if (auto it = c.find("crossOrigin"); it != c.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("clientDataJSON crossOrigin is not a boolean");
    out.cross_origin = it->get<bool>();
  }
  if (auto it = c.find("topOrigin"); it != c.end() && !it->is_null()) {
    if (!it->is_string()) return bad("clientDataJSON topOrigin is not a string");
    out.top_origin = it->get<std::string>();
  }
  return out;
}

Status CheckType(const CollectedClientData& c, std::string_view expected) {
  if (c.type != expected) return Err(ErrorCode::kTypeMismatch, "client data type is not " + std::string(expected));
  return Ok();
}

Status CheckChallenge(const CollectedClientData& c, ByteView expected) {
  if (!SafeEquals(c.challenge, expected)) return Err(ErrorCode::kChallengeMismatch, "the challenge does not match");
  return Ok();
}

Status CheckOrigin(const CollectedClientData& c, const OriginPolicy& policy) {
  if (std::find(policy.origins.begin(), policy.origins.end(), c.origin) == policy.origins.end()) {
    return Err(ErrorCode::kOriginMismatch, "the origin is not allowed");
  }
  return Ok();
}

Status CheckCrossOrigin(const CollectedClientData& c, const OriginPolicy& policy) {
  if (c.cross_origin && !policy.allow_cross_origin) {
    return Err(ErrorCode::kCrossOriginUnexpected, "the ceremony ran in a cross-origin iframe");
  }
  if (c.top_origin) {
    // step 11 / 14: a topOrigin is acceptable only where iframes are expected and it is listed.
    if (!policy.allow_cross_origin ||
        std::find(policy.top_origins.begin(), policy.top_origins.end(), *c.top_origin) == policy.top_origins.end()) {
      return Err(ErrorCode::kTopOriginMismatch, "the top-level origin is not allowed");
    }
  }
  return Ok();
}

}  // namespace authd::webauthn
