#include "authd/domain/otp.h"

#include <openssl/evp.h>

#include <algorithm>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/openssl_ptr.h"

namespace authd::domain::otp {
namespace {

Bytes Hmac(HashAlg alg, ByteView key, ByteView data) {
  switch (alg) {
    case HashAlg::kSha256: return HmacSha256(key, data);
    case HashAlg::kSha512: return HmacSha512(key, data);
    case HashAlg::kSha1: break;
  }
  return HmacSha1(key, data);
}

// Characters safe in an otpauth label or query value; everything else percent-encoded.
std::string UriEscape(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// One AES-128-ECB block, no padding (the YubiKey OTP token is exactly one block).
bool AesBlock(ByteView key, ByteView in, uint8_t* out, bool encrypt) {
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  return ctx && key.size() == 16 && in.size() == 16 &&
         EVP_CipherInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr, encrypt ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 && EVP_CipherUpdate(ctx.get(), out, &len, in.data(), 16) == 1 &&
         len == 16;
}

}  // namespace

std::string_view HashAlgName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256: return "SHA256";
    case HashAlg::kSha512: return "SHA512";
    case HashAlg::kSha1: break;
  }
  return "SHA1";
}

std::optional<HashAlg> ParseHashAlg(std::string_view name) {
  if (name == "SHA1") return HashAlg::kSha1;
  if (name == "SHA256") return HashAlg::kSha256;
  if (name == "SHA512") return HashAlg::kSha512;
  return std::nullopt;
}

std::string Hotp(ByteView secret, uint64_t counter, HashAlg alg, int digits) {
  uint8_t msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<uint8_t>(counter & 0xff);
    counter >>= 8;
  }
  const Bytes mac = Hmac(alg, secret, ByteView(msg, sizeof msg));
  // §5.3 dynamic truncation: the low nibble of the last byte picks four bytes.
  const unsigned offset = mac.back() & 0x0f;
  const uint32_t bin = (uint32_t{mac[offset] & 0x7fu} << 24) | (uint32_t{mac[offset + 1]} << 16) |
                       (uint32_t{mac[offset + 2]} << 8) | uint32_t{mac[offset + 3]};
  uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

int64_t TimeStep(int64_t unix_time, int period) {
  if (unix_time < 0) return -1;
  return unix_time / period;
}

Status CheckCodeFormat(std::string_view code, int digits) {
  if (code.size() != static_cast<size_t>(digits)) {
    return Err(ErrorCode::kOtpFormat, "the code must be " + std::to_string(digits) + " digits");
  }
  for (char c : code) {
    if (c < '0' || c > '9') return Err(ErrorCode::kOtpFormat, "the code must be digits only");
  }
  return Ok();
}

std::optional<int64_t> MatchTotp(ByteView secret, const TotpParams& p, std::string_view code, int64_t now_step,
                                 int window, int64_t after_step) {
  std::optional<int64_t> first, fresh;
  for (int64_t step = now_step - window; step <= now_step + window; ++step) {
    if (step < 0) continue;
    const std::string candidate = Hotp(secret, static_cast<uint64_t>(step), p.alg, p.digits);
    // Every candidate is compared in full, whatever matched before.
    const bool equal = SafeEquals(AsBytes(candidate), AsBytes(code));
    if (equal && !first) first = step;
    if (equal && step > after_step && !fresh) fresh = step;
  }
  return fresh ? fresh : first;
}

std::string OtpauthUri(std::string_view issuer, std::string_view account, ByteView secret, const TotpParams& p) {
  std::string b32 = Base32Encode(secret);
  while (!b32.empty() && b32.back() == '=') b32.pop_back();
  return "otpauth://totp/" + UriEscape(issuer) + ":" + UriEscape(account) + "?secret=" + b32 +
         "&issuer=" + UriEscape(issuer) + "&algorithm=" + std::string(HashAlgName(p.alg)) +
         "&digits=" + std::to_string(p.digits) + "&period=" + std::to_string(p.period);
}

std::optional<Bytes> ModhexDecode(std::string_view in) {
  if (in.size() % 2 != 0) return std::nullopt;
  Bytes out;
  out.reserve(in.size() / 2);
  for (size_t i = 0; i < in.size(); i += 2) {
    const size_t hi = kModhexAlphabet.find(in[i]);
    const size_t lo = kModhexAlphabet.find(in[i + 1]);
    if (hi == std::string_view::npos || lo == std::string_view::npos) return std::nullopt;
    out.push_back(static_cast<uint8_t>((hi << 4) | lo));
  }
  return out;
}

std::string ModhexEncode(ByteView in) {
  std::string out;
  out.reserve(in.size() * 2);
  for (uint8_t b : in) {
    out.push_back(kModhexAlphabet[b >> 4]);
    out.push_back(kModhexAlphabet[b & 15]);
  }
  return out;
}

Result<YubiOtpParts> SplitYubiOtp(std::string_view otp) {
  if (otp.size() < kYubiOtpCipherChars + 2 || otp.size() > kYubiOtpMaxChars) {
    return Err(ErrorCode::kOtpFormat, "a YubiKey OTP is 34 to 48 modhex characters");
  }
  const size_t id_len = otp.size() - kYubiOtpCipherChars;
  auto id = ModhexDecode(otp.substr(0, id_len));
  auto cipher = ModhexDecode(otp.substr(id_len));
  if (!id || !cipher) return Err(ErrorCode::kOtpFormat, "a YubiKey OTP is lower-case modhex (cbdefghijklnrtuv)");
  return YubiOtpParts{std::string(otp.substr(0, id_len)), std::move(*cipher)};
}

uint16_t YubiCrc(ByteView data) {
  uint16_t crc = 0xffff;
  for (uint8_t b : data) {
    crc = static_cast<uint16_t>(crc ^ b);
    for (int i = 0; i < 8; ++i) {
      const bool carry = crc & 1;
      crc = static_cast<uint16_t>(crc >> 1);
      if (carry) crc = static_cast<uint16_t>(crc ^ 0x8408);
    }
  }
  return crc;
}

Result<YubiOtpToken> DecryptYubiOtp(ByteView ciphertext, ByteView aes_key, ByteView private_id) {
  uint8_t plain[16];
  if (!AesBlock(aes_key, ciphertext, plain, false)) return Err(ErrorCode::kOtpInvalid, "the OTP does not decrypt");
  bool ok = YubiCrc(ByteView(plain, 16)) == 0xf0b8;
  // The private id is compared even when the CRC failed, so both take the same time.
  ok = SafeEquals(ByteView(plain, 6), private_id) && ok;
  if (!ok) {
    OPENSSL_cleanse(plain, sizeof plain);
    return Err(ErrorCode::kOtpInvalid, "the OTP was not made by this key");
  }
  YubiOtpToken t;
  std::copy(plain, plain + 6, t.private_id.begin());
  const uint16_t ctr = static_cast<uint16_t>(plain[6] | (plain[7] << 8));
  t.caps_lock = (ctr & 0x8000) != 0;
  t.use_counter = static_cast<uint16_t>(ctr & 0x7fff);
  t.timestamp = uint32_t{plain[8]} | (uint32_t{plain[9]} << 8) | (uint32_t{plain[10]} << 16);
  t.session_counter = plain[11];
  OPENSSL_cleanse(plain, sizeof plain);
  return t;
}

std::string EncryptYubiOtp(const YubiOtpToken& token, ByteView aes_key, uint16_t random) {
  uint8_t plain[16];
  std::copy(token.private_id.begin(), token.private_id.end(), plain);
  const uint16_t ctr = static_cast<uint16_t>(token.use_counter | (token.caps_lock ? 0x8000 : 0));
  plain[6] = static_cast<uint8_t>(ctr);
  plain[7] = static_cast<uint8_t>(ctr >> 8);
  plain[8] = static_cast<uint8_t>(token.timestamp);
  plain[9] = static_cast<uint8_t>(token.timestamp >> 8);
  plain[10] = static_cast<uint8_t>(token.timestamp >> 16);
  plain[11] = token.session_counter;
  plain[12] = static_cast<uint8_t>(random);
  plain[13] = static_cast<uint8_t>(random >> 8);
  const uint16_t crc = static_cast<uint16_t>(~YubiCrc(ByteView(plain, 14)));
  plain[14] = static_cast<uint8_t>(crc);
  plain[15] = static_cast<uint8_t>(crc >> 8);
  uint8_t cipher[16];
  const bool ok = AesBlock(aes_key, ByteView(plain, 16), cipher, true);
  OPENSSL_cleanse(plain, sizeof plain);
  return ok ? ModhexEncode(ByteView(cipher, 16)) : std::string();
}

std::optional<YkvalRequest> ParseYkvalRequest(const std::map<std::string, std::string>& params) {
  auto get = [&](const char* k) -> std::string {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  };
  YkvalRequest r;
  const std::string id = get("id");
  if (id.empty() || id.size() > 10 || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  r.id = std::stoll(id);
  r.otp = get("otp");
  r.nonce = get("nonce");
  if (r.otp.empty() || r.otp.size() > 64) return std::nullopt;
  if (r.nonce.size() < 16 || r.nonce.size() > 40 ||
      !std::all_of(r.nonce.begin(), r.nonce.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      })) {
    return std::nullopt;
  }
  r.h = get("h");
  r.timestamp = get("timestamp") == "1";
  r.sl = params.count("sl") != 0;
  return r;
}

std::string YkvalSignature(const std::map<std::string, std::string>& params, ByteView key) {
  std::string joined;
  joined.reserve(256);
  for (const auto& [k, v] : params) {
    if (k == "h") continue;
    if (!joined.empty()) joined.push_back('&');
    joined.append(k).append(1, '=').append(v);
  }
  return Base64Encode(HmacSha1(key, AsBytes(joined)));
}

}  // namespace authd::domain::otp
