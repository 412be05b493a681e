// CollectedClientData (WebAuthn L3 §5.8.1): parsed from the exact bytes the client sent, never
// re-serialised. Pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::webauthn {

inline constexpr size_t kMaxClientDataBytes = 8 * 1024;

struct CollectedClientData {
  std::string type;
  Bytes challenge;  // decoded from its base64url form
  std::string origin;
  bool cross_origin = false;
  std::optional<std::string> top_origin;
  Bytes hash;  // SHA-256 of the raw bytes (§7.1 step 12, §7.2 step 20)
};

// §7.1 steps 5-6 / §7.2 steps 7-9: UTF-8 decode (a leading BOM is stripped), strict JSON
// (bounded, no duplicate members, so no parser differential on "challenge"), required members
// of the right types. kBadClientData on any failure.
Result<CollectedClientData> ParseClientData(ByteView raw);

// The relying party's rules for where a ceremony may come from (§13.4.9 "Validating the origin").
struct OriginPolicy {
  std::vector<std::string> origins;  // exact, case-sensitive matches
  bool allow_cross_origin = false;   // iframes embedded in another origin
  std::vector<std::string> top_origins;
};

// §7.1 step 7 / §7.2 step 10: kTypeMismatch.
Status CheckType(const CollectedClientData& c, std::string_view expected);
// §7.1 step 8 / §7.2 step 11: constant-time comparison; kChallengeMismatch.
Status CheckChallenge(const CollectedClientData& c, ByteView expected);
// §7.1 step 9 / §7.2 step 12: kOriginMismatch.
Status CheckOrigin(const CollectedClientData& c, const OriginPolicy& policy);
// §7.1 steps 10-11 / §7.2 steps 13-14: kCrossOriginUnexpected, kTopOriginMismatch.
Status CheckCrossOrigin(const CollectedClientData& c, const OriginPolicy& policy);

}  // namespace authd::webauthn
