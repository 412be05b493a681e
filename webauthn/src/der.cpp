#include "authd/webauthn/der.h"

namespace authd::webauthn::der {

std::optional<Tlv> Read(ByteView in, size_t& pos) {
  if (pos >= in.size()) return std::nullopt;
  Tlv t;
  uint8_t first = in[pos++];
  t.tag_class = static_cast<uint8_t>(first >> 6);
  t.constructed = (first & 0x20) != 0;
  t.tag = first & 0x1F;
  if (t.tag == 0x1F) {  // high tag number form: base-128, at most 4 bytes, no leading 0x80
    t.tag = 0;
    for (int i = 0;; ++i) {
      if (pos >= in.size() || i == 4) return std::nullopt;
      uint8_t b = in[pos++];
      if (i == 0 && b == 0x80) return std::nullopt;
      t.tag = (t.tag << 7) | (b & 0x7F);
      if (!(b & 0x80)) break;
    }
    if (t.tag < 0x1F) return std::nullopt;
  }
  if (pos >= in.size()) return std::nullopt;
  uint8_t l = in[pos++];
  size_t len = 0;
  if (l < 0x80) {
    len = l;
  } else {
    size_t n = l & 0x7F;
    if (n == 0 || n > 4 || in.size() - pos < n) return std::nullopt;  // indefinite or too long
    for (size_t i = 0; i < n; ++i) len = (len << 8) | in[pos++];
    if (len < 0x80 || (n > 1 && (len >> (8 * (n - 1))) == 0)) return std::nullopt;  // not minimal
  }
  if (len > in.size() - pos) return std::nullopt;
  t.value = in.subspan(pos, len);
  pos += len;
  return t;
}

std::optional<uint64_t> Unsigned(const Tlv& t) {
  if (t.value.empty() || t.value.size() > 9 || (t.value[0] & 0x80)) return std::nullopt;
  if (t.value.size() > 1 && t.value[0] == 0 && !(t.value[1] & 0x80)) return std::nullopt;  // not minimal
  if (t.value.size() == 9 && t.value[0] != 0) return std::nullopt;
  uint64_t v = 0;
  for (uint8_t b : t.value) v = (v << 8) | b;
  return v;
}

}  // namespace authd::webauthn::der
