#include "authd/domain/ceremony_handle.h"

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"

namespace authd::domain {
namespace {

constexpr std::string_view kContext = "webauthn.ceremony v1";
constexpr size_t kIdSize = 16;
constexpr size_t kDigestSize = 16;

// Plaintext layout: id (16) | kind (1: 'r' or 'a') | created_at, expires_at (8 each, big endian)
// | user_id, client_id, user_verification, actor, appid (u16 length + bytes each) | challenge,
// enrollment_code_hash (u16 length + bytes each) | allowed count (u16) + 16 bytes each.
class Writer {
 public:
  void Raw(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(size_t v) {
    out_.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
    out_.push_back(static_cast<uint8_t>(v & 0xff));
  }
  void I64(int64_t v) {
    const auto u = static_cast<uint64_t>(v);
    for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(static_cast<uint8_t>((u >> shift) & 0xff));
  }
  void Field(ByteView b) {
    U16(b.size());
    Raw(b);
  }
  Bytes Take() { return std::move(out_); }

 private:
  Bytes out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool Raw(size_t n, Bytes& out) {
    if (in_.size() - pos_ < n) return false;
    out.assign(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return true;
  }
  bool U8(uint8_t& v) {
    if (pos_ >= in_.size()) return false;
    v = in_[pos_++];
    return true;
  }
  bool U16(size_t& v) {
    if (in_.size() - pos_ < 2) return false;
    v = static_cast<size_t>(in_[pos_]) << 8 | in_[pos_ + 1];
    pos_ += 2;
    return true;
  }
  bool I64(int64_t& v) {
    if (in_.size() - pos_ < 8) return false;
    uint64_t u = 0;
    for (size_t i = 0; i < 8; ++i) u = u << 8 | in_[pos_ + i];
    pos_ += 8;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool Field(Bytes& out) {
    size_t n = 0;
    return U16(n) && Raw(n, out);
  }
  bool Field(std::string& out) {
    Bytes b;
    if (!Field(b)) return false;
    out.assign(b.begin(), b.end());
    return true;
  }
  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  ByteView in_;
  size_t pos_ = 0;
};

Error Unknown() { return Err(ErrorCode::kChallengeUnknown, "unknown or already used ceremony; start again"); }

}  // namespace

Bytes AllowedCredentialDigest(std::string_view credential_id) {
  Bytes d = Sha256(AsBytes(credential_id));
  d.resize(kDigestSize);
  return d;
}

Bytes NewCeremonyId() { return RandomBytes(kIdSize); }

std::string SealCeremony(const Keyring& keyring, const Ceremony& c) {
  Writer w;
  w.Raw(c.id);
  w.U8(c.kind == "registration" ? 'r' : 'a');
  w.I64(c.created_at);
  w.I64(c.expires_at);
  for (const std::string* s : {&c.user_id, &c.client_id, &c.user_verification, &c.actor, &c.appid}) w.Field(AsBytes(*s));
  w.Field(c.challenge);
  w.Field(c.enrollment_code_hash);
  w.U16(c.allowed.size());
  for (const Bytes& d : c.allowed) w.Raw(d);
  return Base64UrlEncode(keyring.Seal(w.Take(), kContext));
}

Result<Ceremony> OpenCeremony(const Keyring& keyring, std::string_view handle) {
  if (handle.empty() || handle.size() > kMaxCeremonyHandle) return Unknown();
  auto sealed = Base64UrlDecode(handle);
  if (!sealed) return Unknown();
  auto plain = keyring.Open(*sealed, kContext);
  if (!plain) return Unknown();
  Reader r(plain->view());
  Ceremony c;
  uint8_t kind = 0;
  size_t allowed = 0;
  bool ok = r.Raw(kIdSize, c.id) && r.U8(kind) && r.I64(c.created_at) && r.I64(c.expires_at) && r.Field(c.user_id) &&
            r.Field(c.client_id) && r.Field(c.user_verification) && r.Field(c.actor) && r.Field(c.appid) &&
            r.Field(c.challenge) && r.Field(c.enrollment_code_hash) && r.U16(allowed) &&
            allowed <= kMaxCeremonyAllowed;
  for (size_t i = 0; ok && i < allowed; ++i) {
    Bytes d;
    ok = r.Raw(kDigestSize, d);
    c.allowed.push_back(std::move(d));
  }
  if (!ok || !r.AtEnd() || (kind != 'r' && kind != 'a')) return Unknown();
  c.kind = kind == 'r' ? "registration" : "authentication";
  return c;
}

}  // namespace authd::domain
