// The Yubico validation protocol's query string, as /wsapi/2.0/verify receives it: decoded, then
// checked for shape (Y07), then its OTP split; the signature is computed over whatever arrived.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>

#include "authd/domain/otp.h"
#include "authd/http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  auto pairs = authd::http::ParseUrlEncoded(query);
  if (!pairs) return 0;
  std::map<std::string, std::string> params(pairs->begin(), pairs->end());
  const authd::Bytes key(20, 0x42);
  (void)authd::domain::otp::YkvalSignature(params, key);
  auto req = authd::domain::otp::ParseYkvalRequest(params);
  if (!req) return 0;
  if (req->nonce.size() < 16 || req->nonce.size() > 40 || req->otp.empty() || req->id < 0) __builtin_trap();
  (void)authd::domain::otp::SplitYubiOtp(req->otp);
  return 0;
}
