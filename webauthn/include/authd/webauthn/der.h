// A strict, bounds-checked DER reader for the few ASN.1 structures WebAuthn attestation needs
// (Android's KeyDescription). Definite lengths only, in their shortest form. Pure and
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "authd/base/bytes.h"

namespace authd::webauthn::der {

struct Tlv {
  uint8_t tag_class = 0;  // 0 universal, 1 application, 2 context-specific, 3 private
  bool constructed = false;
  uint32_t tag = 0;       // the tag number (high-tag-number form decoded)
  ByteView value;
};

// Reads one TLV at `pos` within `in`, advancing `pos`. nullopt if anything runs past the end,
// a length is indefinite or not minimal, or a tag number is absurd.
std::optional<Tlv> Read(ByteView in, size_t& pos);

// A non-negative INTEGER or ENUMERATED of at most 8 bytes.
std::optional<uint64_t> Unsigned(const Tlv& t);

}  // namespace authd::webauthn::der
