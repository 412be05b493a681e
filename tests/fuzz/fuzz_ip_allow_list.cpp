// CIDR lists from the admin API and the caller's address.
#include <cstddef>
#include <cstdint>

#include "authd/domain/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t nl = text.find('\n');
  auto list = authd::domain::IpAllowList::Parse(authd::domain::SplitList(text.substr(0, nl)));
  if (list && nl != std::string::npos) (void)list->Allows(text.substr(nl + 1));
  (void)authd::domain::NormalizeUsername(text);
  return 0;
}
