// One-time passwords, pure: HOTP/TOTP (RFC 4226, RFC 6238), YubiKey OTP (modhex, AES-128, CRC)
// and the Yubico validation protocol's signature. No clock, no storage: callers pass the time and
// keep the counters. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::domain::otp {

// ---- HOTP / TOTP ----

enum class HashAlg { kSha1, kSha256, kSha512 };
std::string_view HashAlgName(HashAlg alg);  // "SHA1", "SHA256", "SHA512" (otpauth spelling)
std::optional<HashAlg> ParseHashAlg(std::string_view name);

struct TotpParams {
  HashAlg alg = HashAlg::kSha1;
  int digits = 6;    // 6 or 8
  int period = 30;   // 30 or 60 seconds
};

// RFC 4226 §5.3: the code for `counter`, zero-padded to `digits`.
std::string Hotp(ByteView secret, uint64_t counter, HashAlg alg, int digits);

// RFC 6238 §4: T = floor(unix_time / period) (T0 = 0), 64-bit.
int64_t TimeStep(int64_t unix_time, int period);

// kOtpFormat unless `code` is exactly `digits` ASCII digits (T07: no spaces, signs or other
// scripts' digits).
Status CheckCodeFormat(std::string_view code, int digits);

// The time step in [now_step - window, now_step + window] whose code equals `code`, or nullopt:
// the earliest one after `after_step` (a credential's last accepted step) if there is one, else
// the earliest (which the caller refuses as a replay). Two steps of a secret share a code about
// once in a million pairs; such a code is the unused step's as much as the used one's. Every
// candidate is computed and compared in constant time, so the time taken does not say which
// one matched.
std::optional<int64_t> MatchTotp(ByteView secret, const TotpParams& p, std::string_view code, int64_t now_step,
                                 int window, int64_t after_step = -1);

// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=...&digits=...&period=...
std::string OtpauthUri(std::string_view issuer, std::string_view account, ByteView secret, const TotpParams& p);

// ---- YubiKey OTP ----

inline constexpr std::string_view kModhexAlphabet = "cbdefghijklnrtuv";
inline constexpr size_t kYubiOtpCipherChars = 32;
inline constexpr size_t kYubiOtpMaxChars = 48;  // public id of up to 16 modhex characters

// Lower-case modhex only; nullopt for anything else (odd length included).
std::optional<Bytes> ModhexDecode(std::string_view in);
std::string ModhexEncode(ByteView in);

struct YubiOtpParts {
  std::string public_id;  // modhex, 2-16 characters
  Bytes ciphertext;       // 16 bytes
};
// Y06: 34-48 lower-case modhex characters with an even-length public id of at least one byte;
// kOtpFormat for anything else, before any lookup.
Result<YubiOtpParts> SplitYubiOtp(std::string_view otp);

struct YubiOtpToken {
  std::array<uint8_t, 6> private_id{};
  uint16_t use_counter = 0;      // useCtr with the caps-lock bit (0x8000) masked off (Y10)
  bool caps_lock = false;
  uint32_t timestamp = 0;        // 24-bit, 8 Hz
  uint8_t session_counter = 0;   // sessionCtr ("use")
};
// AES-128 decryption with the key's AES key, CRC-16 residue 0xf0b8, private id comparison in
// constant time. kOtpInvalid (ykval BAD_OTP) for a wrong key, a bad CRC or another private id.
Result<YubiOtpToken> DecryptYubiOtp(ByteView ciphertext, ByteView aes_key, ByteView private_id);

// The inverse, for tests and the station: the 16-byte token encrypted under `aes_key`, modhex.
std::string EncryptYubiOtp(const YubiOtpToken& token, ByteView aes_key, uint16_t random);

// CRC-16 (ISO 13239, as YubiKeys compute it) over `data`.
uint16_t YubiCrc(ByteView data);

// (use, session) strictly after (stored_use, stored_session), lexicographically.
inline bool CountersAdvance(int64_t use, int64_t session, int64_t stored_use, int64_t stored_session) {
  return use > stored_use || (use == stored_use && session > stored_session);
}

// ---- Yubico validation protocol 2.0 ----

struct YkvalRequest {
  int64_t id = 0;
  std::string otp;
  std::string nonce;
  std::string h;
  bool timestamp = false;  // timestamp=1
  bool sl = false;         // sl given
};
// Y07: `id` of 1-10 digits, an `otp` of at most 64 characters, a `nonce` of 16-40 letters and
// digits; nullopt (MISSING_PARAMETER) otherwise. The OTP's own format is checked later (BAD_OTP).
std::optional<YkvalRequest> ParseYkvalRequest(const std::map<std::string, std::string>& params);

// The signature `h` over the parameters: sorted by key, key=value joined with '&', HMAC-SHA-1
// with the client's key, base64. `h` itself is never part of the signed pairs.
std::string YkvalSignature(const std::map<std::string, std::string>& params, ByteView key);

}  // namespace authd::domain::otp
