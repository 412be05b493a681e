// What every presented token goes through before the store is asked: the structural check, and
// reading the jti claim out of the payload to look the token up by.
#include <cstddef>
#include <cstdint>

#include "authd/domain/tokens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bool ok = authd::domain::LooksLikeJws(text);
  if (ok && (text.size() > 8192 || text.find('.') == std::string_view::npos)) __builtin_trap();
  auto jti = authd::domain::JtiOf(text);
  if (jti) {
    if (jti->empty() || jti->size() > authd::domain::kMaxJtiLength) __builtin_trap();
    for (char c : *jti) {
      const bool url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!url) __builtin_trap();
    }
  }
  return 0;
}
