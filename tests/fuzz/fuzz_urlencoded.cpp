// Query strings, form bodies and path segments.
#include <cstddef>
#include <cstdint>

#include "authd/http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)authd::http::ParseUrlEncoded(text);
  auto d = authd::http::PercentDecode(text, true);
  if (d && d->size() > text.size()) __builtin_trap();
  authd::http::Request req;
  req.headers["content-type"] = "application/x-www-form-urlencoded";
  req.body = std::string(text);
  (void)authd::http::FormBody(req);
  return 0;
}
