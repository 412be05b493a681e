// Text encodings of binary values. Decoders are strict: they refuse characters outside the
// alphabet, padding where none belongs and non-canonical trailing bits, and return nullopt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "authd/base/bytes.h"

namespace authd {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsUtf8(ByteView in);

// RFC 4648 §5 base64url without padding (WebAuthn's JSON serialisation, JWS).
std::string Base64UrlEncode(ByteView in);
std::optional<Bytes> Base64UrlDecode(std::string_view in);

// RFC 4648 §4 base64 with padding (the Yubico validation protocol).
std::string Base64Encode(ByteView in);
std::optional<Bytes> Base64Decode(std::string_view in);

// Lower-case hex.
std::string HexEncode(ByteView in);
// 16 bytes as a UUID (8-4-4-4-12 lower-case hex, e.g. an AAGUID); plain hex for any other length.
std::string FormatUuid(ByteView in);
// Accepts upper and lower case; refuses odd lengths.
std::optional<Bytes> HexDecode(std::string_view in);

// RFC 4648 §6 base32, upper case, without padding (otpauth:// secrets).
std::string Base32Encode(ByteView in);
// Crockford's base32 (upper case, no padding), whose text sorts as the bytes do: its alphabet
// is in ASCII order.
inline constexpr char kCrockfordBase32Alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
std::string CrockfordBase32Encode(ByteView in);
// Accepts either case, ignores no characters, refuses padding in the middle.
std::optional<Bytes> Base32Decode(std::string_view in);

}  // namespace authd
