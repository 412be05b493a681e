// Byte buffers, secrets that wipe themselves, and the only comparison allowed on secrets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace authd {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsChars(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Holds key material. The memory is wiped when the object is destroyed or reassigned.
// Not copyable by accident: use Clone(). Not thread-safe (a value type).
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(ByteView b) : data_(b.begin(), b.end()) {}
  explicit SecretBytes(Bytes&& b) : data_(std::move(b)) {}
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const { return SecretBytes(view()); }
  ByteView view() const { return ByteView(data_.data(), data_.size()); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

 private:
  void Wipe();
  Bytes data_;
};

// Constant-time equality (CRYPTO_memcmp). Different lengths compare unequal; the length itself
// is not treated as secret.
bool SafeEquals(ByteView a, ByteView b);
inline bool SafeEquals(std::string_view a, std::string_view b) {
  return SafeEquals(AsBytes(a), AsBytes(b));
}

}  // namespace authd
