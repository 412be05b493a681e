// Strict JSON parser (every request body, later clientDataJSON); and the direct string writer of
// hot answers, which must write any bytes exactly as DumpJson does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "authd/base/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = authd::ParseJsonStrict(text);
  if (j) {
    // Whatever parses must serialise and parse again to the same value.
    std::string again = authd::DumpJson(*j);
    auto k = authd::ParseJsonStrict(again, authd::JsonLimits{1 << 20, 64, 1 << 20});
    if (!k || *k != *j) __builtin_trap();
  }
  std::string written;
  authd::AppendJsonString(written, text);
  if (written != authd::DumpJson(authd::Json(std::string(text)))) __builtin_trap();
  return 0;
}
