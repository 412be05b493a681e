#include "authd/base/bytes.h"

#include <openssl/crypto.h>

namespace authd {

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) {
  other.data_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
  data_.clear();
}

bool SafeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace authd
