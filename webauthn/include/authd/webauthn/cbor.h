// Strict CBOR for WebAuthn (§2.4) and CTAP2: bytes in, an owned libcbor item out, or a precise
// error. Pure and thread-safe.
//
// libcbor 0.8 trusts declared lengths and counts, so every input is first walked by our own
// bounded scanner, which refuses before libcbor sees anything: declared lengths or counts beyond
// the remaining input, indefinite lengths, tags, floats and unknown simple values, invalid UTF-8
// in text, nesting deeper than the limit, duplicate map keys, and (as non-canonical) integers or
// lengths not in their shortest form and map keys out of CTAP2 canonical order.
#pragma once

#include <cbor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::webauthn {

struct CborItemDeleter {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborItemDeleter>;

struct CborLimits {
  size_t max_bytes = 64 * 1024;
  int max_depth = 4;       // CTAP2 §8: at most four levels of nesting
  size_t max_items = 4096;
};

struct CborDecoded {
  CborPtr item;
  size_t consumed = 0;  // bytes the item occupies
};

// Decodes one item at the start of `in`. With `allow_trailing` false, bytes after it are an
// error (kMalformedCbor); with true, `consumed` says where the item ended (a COSE key inside
// authenticator data is followed by the extensions map). Errors: kMalformedCbor,
// kNonCanonicalCbor.
Result<CborDecoded> DecodeCbor(ByteView in, bool allow_trailing = false, const CborLimits& limits = {});

// Serialises an item built with libcbor (for the CBOR we send: station and software key).
// Empty if libcbor cannot encode it.
Bytes EncodeCbor(const cbor_item_t* item);

// Map lookups on a decoded map; nullptr when `map` is not a map or the key is absent.
const cbor_item_t* MapFind(const cbor_item_t* map, std::string_view text_key);
const cbor_item_t* MapFind(const cbor_item_t* map, int64_t int_key);

// Typed reads; nullopt on a type mismatch.
std::optional<std::string> CborText(const cbor_item_t* item);
std::optional<Bytes> CborBytes(const cbor_item_t* item);
std::optional<int64_t> CborInt(const cbor_item_t* item);

}  // namespace authd::webauthn
