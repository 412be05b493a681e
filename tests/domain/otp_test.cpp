// HOTP/TOTP against the RFC 4226 and RFC 6238 vectors and against liboath; YubiKey OTP against
// libyubikey (the code the YubiKey personalisation tools use) in both directions.

#include "authd/domain/otp.h"

#include <liboath/oath.h>
#include <yubikey.h>

#include <gtest/gtest.h>

#include <cstring>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "util/yubikey_otp.h"

namespace authd::domain::otp {
namespace {

const std::string kSeed20 = "12345678901234567890";
const std::string kSeed32 = "12345678901234567890123456789012";
const std::string kSeed64 = "1234567890123456789012345678901234567890123456789012345678901234";

TEST(Hotp, Rfc4226AppendixD) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t c = 0; c < 10; ++c) EXPECT_EQ(Hotp(AsBytes(kSeed20), c, HashAlg::kSha1, 6), expected[c]) << c;
}

TEST(Totp, Rfc6238AppendixB) {
  struct V {
    int64_t t;
    const char* sha1;
    const char* sha256;
    const char* sha512;
  };
  const V vectors[] = {{59, "94287082", "46119246", "90693936"},
                       {1111111109, "07081804", "68084774", "25091201"},
                       {1111111111, "14050471", "67062674", "99943326"},
                       {1234567890, "89005924", "91819424", "93441116"},
                       {2000000000, "69279037", "90698825", "38618901"},
                       {20000000000, "65353130", "77737706", "47863826"}};  // past 2038: 64-bit T
  for (const auto& v : vectors) {
    const auto step = static_cast<uint64_t>(TimeStep(v.t, 30));
    EXPECT_EQ(Hotp(AsBytes(kSeed20), step, HashAlg::kSha1, 8), v.sha1) << v.t;
    EXPECT_EQ(Hotp(AsBytes(kSeed32), step, HashAlg::kSha256, 8), v.sha256) << v.t;
    EXPECT_EQ(Hotp(AsBytes(kSeed64), step, HashAlg::kSha512, 8), v.sha512) << v.t;
  }
}

TEST(Totp, AgreesWithLiboathForRandomSecretsAndParameters) {
  ASSERT_EQ(oath_init(), OATH_OK);
  for (int i = 0; i < 200; ++i) {
    const Bytes secret = RandomBytes(20 + static_cast<size_t>(i % 3) * 12);
    const HashAlg alg = i % 3 == 0 ? HashAlg::kSha1 : i % 3 == 1 ? HashAlg::kSha256 : HashAlg::kSha512;
    const int flags = i % 3 == 0 ? 0 : i % 3 == 1 ? OATH_TOTP_HMAC_SHA256 : OATH_TOTP_HMAC_SHA512;
    const int digits = i % 2 ? 8 : 6;
    const int period = i % 4 < 2 ? 30 : 60;
    const int64_t now = 1'700'000'000 + i * 7919;
    char theirs[10] = {};
    ASSERT_EQ(oath_totp_generate2(reinterpret_cast<const char*>(secret.data()), secret.size(), now,
                                  static_cast<unsigned>(period), 0, static_cast<unsigned>(digits), flags, theirs),
              OATH_OK);
    EXPECT_EQ(Hotp(secret, static_cast<uint64_t>(TimeStep(now, period)), alg, digits), theirs) << i;
  }
}

TEST(Totp, T07_CodeFormat) {
  EXPECT_TRUE(CheckCodeFormat("123456", 6));
  EXPECT_TRUE(CheckCodeFormat("00000000", 8));
  for (const char* bad : {"12345", "1234567", " 123456", "12345a", "+12345", "", "123 456", "１２３４５６"}) {
    EXPECT_EQ(CheckCodeFormat(bad, 6).code(), ErrorCode::kOtpFormat) << bad;
  }
  EXPECT_EQ(CheckCodeFormat(std::string_view("12345\0", 6), 6).code(), ErrorCode::kOtpFormat);
}

TEST(Totp, T03_WindowAcceptsOneStepEitherSideOnly) {
  const Bytes secret = RandomBytes(20);
  TotpParams p;
  const int64_t now_step = TimeStep(1'800'000'000, 30);
  for (int64_t delta = -3; delta <= 3; ++delta) {
    const std::string code = Hotp(secret, static_cast<uint64_t>(now_step + delta), p.alg, p.digits);
    auto m = MatchTotp(secret, p, code, now_step, 1);
    if (delta >= -1 && delta <= 1) {
      ASSERT_TRUE(m) << delta;
      // A code may collide with a neighbour's by chance; the matched step then is the earlier one.
      EXPECT_LE(*m, now_step + delta);
    } else if (m) {
      // Only a chance collision with a code inside the window can match.
      EXPECT_EQ(Hotp(secret, static_cast<uint64_t>(*m), p.alg, p.digits), code);
    }
  }
  EXPECT_FALSE(MatchTotp(secret, p, "abcdef", now_step, 1));
}

TEST(Totp, ACodeTwoStepsShareIsTheUnusedStepsWhenOneIsUsed) {
  // RFC 6238's SHA-1 secret gives steps 59061240 and 59061241 the same code (found by search).
  const std::string rfc = "12345678901234567890";
  const Bytes secret(rfc.begin(), rfc.end());
  TotpParams p;
  const int64_t s = 59061241;
  const std::string code = Hotp(secret, static_cast<uint64_t>(s), p.alg, p.digits);
  ASSERT_EQ(code, "963181");
  ASSERT_EQ(Hotp(secret, static_cast<uint64_t>(s - 1), p.alg, p.digits), code);
  EXPECT_EQ(MatchTotp(secret, p, code, s, 1), s - 1);         // nothing used: the earliest
  EXPECT_EQ(MatchTotp(secret, p, code, s, 1, s - 2), s - 1);  // both unused: the earliest
  EXPECT_EQ(MatchTotp(secret, p, code, s, 1, s - 1), s);      // the earlier used: the later
  EXPECT_EQ(MatchTotp(secret, p, code, s, 1, s), s - 1);      // both used: the earliest (a replay)
  EXPECT_EQ(MatchTotp(secret, p, code, s + 1, 1, s - 1), s);  // from the next step's window too
}

TEST(Totp, OtpauthUriCarriesEveryParameter) {
  TotpParams p{HashAlg::kSha256, 8, 60};
  const Bytes secret(20, 0xAB);
  const std::string uri = OtpauthUri("ACME authd", "alice@example.org", secret, p);
  EXPECT_EQ(uri, "otpauth://totp/ACME%20authd:alice@example.org?secret=VOV2XK5LVOV2XK5LVOV2XK5LVOV2XK5L"
                 "&issuer=ACME%20authd&algorithm=SHA256&digits=8&period=60");
}

TEST(Modhex, RoundTripAndRefusals) {
  const Bytes b = {0x00, 0x12, 0xab, 0xff};
  EXPECT_EQ(ModhexEncode(b), "ccbdlnvv");
  EXPECT_EQ(ModhexDecode("ccbdlnvv"), b);
  for (const char* bad : {"cbdnlnv", "CBDNLNVV", "cbdnlnva", "cb%00", "' OR 1=1"}) {
    EXPECT_FALSE(ModhexDecode(bad)) << bad;
  }
}

TEST(YubiOtp, Y06_FormatIsCheckedBeforeAnything) {
  const std::string good = "cccccccccccb" + std::string(32, 'c');
  EXPECT_TRUE(SplitYubiOtp(good));
  EXPECT_EQ(SplitYubiOtp(good)->public_id, "cccccccccccb");
  for (const std::string& bad : {std::string(31, 'c'), std::string(32, 'c'), std::string(33, 'c'), std::string(49, 'c'),
                                 std::string(35, 'c'), "CCCCCCCCCCCB" + std::string(32, 'c'),
                                 "cccccccccccx" + std::string(32, 'c'), "' OR 1=1 --" + std::string(32, 'c'),
                                 std::string("cccccccccc\0b", 12) + std::string(32, 'c')}) {
    EXPECT_EQ(SplitYubiOtp(bad).code(), ErrorCode::kOtpFormat) << bad;
  }
}

using testing::GenerateWithLibyubikey;

TEST(YubiOtp, DecryptsWhatLibyubikeyGenerates) {
  const Bytes key = RandomBytes(16), uid = RandomBytes(6);
  const std::string cipher = GenerateWithLibyubikey(key, uid, 0x8007, 3);  // caps lock on, useCtr 7
  auto parts = SplitYubiOtp("vvccccdddddd" + cipher);
  ASSERT_TRUE(parts);
  auto tok = DecryptYubiOtp(parts->ciphertext, key, uid);
  ASSERT_TRUE(tok) << tok.error().detail;
  EXPECT_EQ(tok->use_counter, 7);  // Y10: the caps-lock bit is not part of the counter
  EXPECT_TRUE(tok->caps_lock);
  EXPECT_EQ(tok->session_counter, 3);
  EXPECT_EQ(tok->timestamp, 0x561234u);
}

TEST(YubiOtp, Y05_WrongKeyWrongUidOrTamperedCiphertextIsBadOtp) {
  const Bytes key = RandomBytes(16), uid = RandomBytes(6);
  auto cipher = *ModhexDecode(GenerateWithLibyubikey(key, uid, 1, 0));
  EXPECT_EQ(DecryptYubiOtp(cipher, RandomBytes(16), uid).code(), ErrorCode::kOtpInvalid);
  EXPECT_EQ(DecryptYubiOtp(cipher, key, RandomBytes(6)).code(), ErrorCode::kOtpInvalid);
  for (size_t i = 0; i < cipher.size(); ++i) {
    Bytes t = cipher;
    t[i] ^= 0x01;
    EXPECT_EQ(DecryptYubiOtp(t, key, uid).code(), ErrorCode::kOtpInvalid) << i;
  }
}

TEST(YubiOtp, EncryptProducesWhatLibyubikeyAccepts) {
  const Bytes key = RandomBytes(16), uid = RandomBytes(6);
  YubiOtpToken t;
  std::copy(uid.begin(), uid.end(), t.private_id.begin());
  t.use_counter = 300;
  t.session_counter = 9;
  t.timestamp = 0xabcdef;
  const std::string otp = EncryptYubiOtp(t, key, 0x4242);
  ASSERT_EQ(otp.size(), 32u);
  Bytes raw = *ModhexDecode(otp);
  yubikey_aes_decrypt(raw.data(), key.data());
  yubikey_token_st parsed{};
  std::memcpy(&parsed, raw.data(), sizeof parsed);
  EXPECT_TRUE(yubikey_crc_ok_p(reinterpret_cast<uint8_t*>(&parsed)));
  EXPECT_EQ(yubikey_counter(parsed.ctr), 300);
  EXPECT_EQ(parsed.use, 9);
  EXPECT_EQ(0, std::memcmp(parsed.uid, uid.data(), 6));
}

TEST(YubiOtp, CountersCompareLexicographically) {
  EXPECT_TRUE(CountersAdvance(5, 0, 4, 200));
  EXPECT_TRUE(CountersAdvance(5, 3, 5, 2));
  EXPECT_FALSE(CountersAdvance(5, 2, 5, 2));  // Y01: the same OTP again
  EXPECT_FALSE(CountersAdvance(5, 1, 5, 2));  // Y03: older session use
  EXPECT_FALSE(CountersAdvance(4, 9, 5, 0));  // Y03: older power-up
  EXPECT_TRUE(CountersAdvance(0, 0, -1, -1));  // first use of a fresh key
}

TEST(Ykval, SignatureSortsPairsAndLeavesOutH) {
  // A client key in the base64 form ykval hands out.
  const Bytes key = *Base64Decode("mG5be6ZJU1qBGz24yPh/ESM3UdU=");
  std::map<std::string, std::string> params = {{"id", "1"}, {"otp", "vvungrrdhvtklknvrtvuvbbkeidikkvgglrvdgrfcdft"},
                                               {"nonce", "jrFwbaYFhn0HoxZIsd9LQ6w2ceU"}};
  const std::string h = YkvalSignature(params, key);
  params["h"] = "anything";
  EXPECT_EQ(YkvalSignature(params, key), h);
  // The signature is HMAC-SHA-1 over the sorted pairs.
  EXPECT_EQ(h, Base64Encode(HmacSha1(key, AsBytes("id=1&nonce=jrFwbaYFhn0HoxZIsd9LQ6w2ceU&otp="
                                                   "vvungrrdhvtklknvrtvuvbbkeidikkvgglrvdgrfcdft"))));
  params["nonce"] = "other";
  EXPECT_NE(YkvalSignature(params, key), h);
}

}  // namespace
}  // namespace authd::domain::otp
