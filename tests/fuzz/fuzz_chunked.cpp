// Chunked request bodies: the input is fed to the decoder the way the server feeds it (content
// in runs of at most what the current chunk holds, framing a byte at a time). Whatever the
// bytes, the decoder never asks for more content than the input's chunk sizes declare, never
// takes bytes past the end of the body, and says why it refused.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authd/http/chunked.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  authd::http::ChunkedDecoder d;
  size_t at = 0;
  uint64_t content = 0;
  while (!d.done() && at < wire.size()) {
    if (const uint64_t want = d.DataWanted(); want > 0) {
      const uint64_t n = want < wire.size() - at ? want : wire.size() - at;
      d.Data(n);
      at += n;
      content += n;
      continue;
    }
    if (!d.Framing(wire[at++])) {
      if (d.error().empty() || d.done()) __builtin_trap();
      return 0;
    }
  }
  if (content > wire.size()) __builtin_trap();
  if (d.done() && d.DataWanted() != 0) __builtin_trap();
  return 0;
}
