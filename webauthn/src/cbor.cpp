#include "authd/webauthn/cbor.h"

#include <cstring>
#include <vector>

#include "authd/base/encoding.h"

namespace authd::webauthn {
namespace {

struct Range {
  size_t begin;
  size_t end;
};

// CTAP2 canonical key order (CTAP2 §8 "Ctap2 canonical CBOR encoding form"): shorter encoded
// keys first, equal lengths by byte-wise lexical order.
int CompareKeys(ByteView in, Range a, Range b) {
  size_t la = a.end - a.begin, lb = b.end - b.begin;
  if (la != lb) return la < lb ? -1 : 1;
  return std::memcmp(in.data() + a.begin, in.data() + b.begin, la);
}

class Scanner {
 public:
  Scanner(ByteView in, const CborLimits& limits) : in_(in), limits_(limits) {}

  Status Item(int depth) {
    if (++items_ > limits_.max_items) return Err(ErrorCode::kMalformedCbor, "too many CBOR items");
    if (pos_ >= in_.size()) return Err(ErrorCode::kMalformedCbor, "CBOR ends early");
    uint8_t initial = in_[pos_++];
    uint8_t major = initial >> 5;
    uint8_t ai = initial & 0x1F;
    if (major == 6) return Err(ErrorCode::kMalformedCbor, "CBOR tags are not allowed");
    if (major == 7) {
      // Only false, true and null; no floats, no undefined, no other simple values.
      if (ai == 20 || ai == 21 || ai == 22) return Ok();
      return Err(ErrorCode::kMalformedCbor, "CBOR floats and simple values are not allowed");
    }
    if (ai == 31) return Err(ErrorCode::kMalformedCbor, "indefinite-length CBOR is not allowed");
    uint64_t value = 0;
    AUTHD_RETURN_IF_ERROR(Argument(ai, value));
    switch (major) {
      case 0:
      case 1:
        return Ok();
      case 2:
      case 3: {
        if (value > in_.size() - pos_) return Err(ErrorCode::kMalformedCbor, "CBOR string longer than its input");
        if (major == 3 && !IsUtf8(ByteView(in_.data() + pos_, static_cast<size_t>(value)))) {
          return Err(ErrorCode::kMalformedCbor, "CBOR text is not valid UTF-8");
        }
        pos_ += static_cast<size_t>(value);
        return Ok();
      }
      case 4: {
        if (depth >= limits_.max_depth) return Err(ErrorCode::kMalformedCbor, "CBOR nested too deeply");
        if (value > in_.size() - pos_) return Err(ErrorCode::kMalformedCbor, "CBOR array longer than its input");
        for (uint64_t i = 0; i < value; ++i) AUTHD_RETURN_IF_ERROR(Item(depth + 1));
        return Ok();
      }
      case 5: {
        if (depth >= limits_.max_depth) return Err(ErrorCode::kMalformedCbor, "CBOR nested too deeply");
        if (value > (in_.size() - pos_) / 2) return Err(ErrorCode::kMalformedCbor, "CBOR map longer than its input");
        std::optional<Range> previous;
        for (uint64_t i = 0; i < value; ++i) {
          Range key{pos_, 0};
          AUTHD_RETURN_IF_ERROR(Item(depth + 1));
          key.end = pos_;
          if (previous) {
            int cmp = CompareKeys(in_, *previous, key);
            if (cmp == 0) return Err(ErrorCode::kMalformedCbor, "CBOR map has a duplicate key");
            if (cmp > 0) order_error_ = true;  // reported after duplicates, which are worse
          }
          previous = key;
          AUTHD_RETURN_IF_ERROR(Item(depth + 1));
        }
        return Ok();
      }
    }
    return Err(ErrorCode::kMalformedCbor, "unknown CBOR type");
  }

  size_t pos() const { return pos_; }
  bool non_canonical() const { return order_error_ || width_error_; }
  bool order_error() const { return order_error_; }

 private:
  Status Argument(uint8_t ai, uint64_t& value) {
    if (ai < 24) {
      value = ai;
      return Ok();
    }
    if (ai > 27) return Err(ErrorCode::kMalformedCbor, "reserved CBOR header");
    size_t n = size_t{1} << (ai - 24);
    if (in_.size() - pos_ < n) return Err(ErrorCode::kMalformedCbor, "CBOR ends inside a header");
    value = 0;
    for (size_t i = 0; i < n; ++i) value = (value << 8) | in_[pos_ + i];
    pos_ += n;
    // Shortest form (CTAP2 canonical): each width only for values that need it.
    uint64_t min = ai == 24 ? 24 : ai == 25 ? 0x100 : ai == 26 ? 0x10000 : 0x100000000ULL;
    if (value < min) width_error_ = true;
    return Ok();
  }

  ByteView in_;
  const CborLimits& limits_;
  size_t pos_ = 0;
  size_t items_ = 0;
  bool order_error_ = false;
  bool width_error_ = false;
};

}  // namespace

Result<CborDecoded> DecodeCbor(ByteView in, bool allow_trailing, const CborLimits& limits) {
  if (in.empty()) return Err(ErrorCode::kMalformedCbor, "empty CBOR");
  if (in.size() > limits.max_bytes) return Err(ErrorCode::kMalformedCbor, "CBOR input too large");
  Scanner scanner(in, limits);
  AUTHD_RETURN_IF_ERROR(scanner.Item(0));
  if (!allow_trailing && scanner.pos() != in.size()) {
    return Err(ErrorCode::kMalformedCbor, "bytes after the CBOR item");
  }
  if (scanner.non_canonical()) {
    return Err(ErrorCode::kNonCanonicalCbor,
               scanner.order_error() ? "CBOR map keys are not in canonical order" : "CBOR value not in shortest form");
  }
  // The scan proved every length and count fits the input, so libcbor's allocations are bounded.
  cbor_load_result result{};
  cbor_item_t* raw = cbor_load(in.data(), scanner.pos(), &result);
  CborDecoded out;
  out.item.reset(raw);
  if (!raw || result.error.code != CBOR_ERR_NONE || result.read != scanner.pos()) {
    return Err(ErrorCode::kMalformedCbor, "CBOR could not be decoded");
  }
  out.consumed = scanner.pos();
  return out;
}

const cbor_item_t* MapFind(const cbor_item_t* map, std::string_view text_key) {
  if (!map || !cbor_isa_map(map)) return nullptr;
  size_t n = cbor_map_size(map);
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    auto k = CborText(pairs[i].key);
    if (k && *k == text_key) return pairs[i].value;
  }
  return nullptr;
}

const cbor_item_t* MapFind(const cbor_item_t* map, int64_t int_key) {
  if (!map || !cbor_isa_map(map)) return nullptr;
  size_t n = cbor_map_size(map);
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    auto k = CborInt(pairs[i].key);
    if (k && *k == int_key) return pairs[i].value;
  }
  return nullptr;
}

std::optional<std::string> CborText(const cbor_item_t* item) {
  if (!item || !cbor_isa_string(item) || !cbor_string_is_definite(item)) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item));
}

std::optional<Bytes> CborBytes(const cbor_item_t* item) {
  if (!item || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) return std::nullopt;
  const uint8_t* p = cbor_bytestring_handle(item);
  size_t n = cbor_bytestring_length(item);
  return n ? Bytes(p, p + n) : Bytes();
}

std::optional<int64_t> CborInt(const cbor_item_t* item) {
  if (!item || !cbor_is_int(item)) return std::nullopt;
  uint64_t v = cbor_get_int(item);
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  if (cbor_isa_uint(item)) return static_cast<int64_t>(v);
  return -1 - static_cast<int64_t>(v);  // negative integer: -1 - v
}

Bytes EncodeCbor(const cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  const size_t len = cbor_serialize_alloc(item, &buf, &cap);
  Bytes out(buf, buf + len);
  free(buf);  // NOLINT(cppcoreguidelines-no-malloc): libcbor's allocation
  return out;
}

}  // namespace authd::webauthn
