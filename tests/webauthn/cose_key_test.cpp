#include "authd/webauthn/cose_key.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "authd/webauthn/cbor.h"
#include "webauthn/builders.h"

namespace authd::webauthn {
namespace {

using testing::NewKey;
using testing::SignWith;

class CoseRoundTrip : public ::testing::TestWithParam<int64_t> {};

TEST_P(CoseRoundTrip, EncodesParsesAndVerifies) {
  int64_t alg = GetParam();
  auto key = NewKey(alg);
  auto encoded = EncodeCoseKey(key.get(), alg);
  ASSERT_TRUE(encoded) << encoded.error().detail;
  auto parsed = ParseCoseKey(*encoded);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed->alg, alg);
  Bytes msg = ToBytes("authenticatorData || clientDataHash");
  Bytes sig = SignWith(key.get(), alg, msg);
  EXPECT_TRUE(VerifySignature(*parsed, msg, sig));
  Bytes other = msg;
  other[0] ^= 1;
  EXPECT_EQ(VerifySignature(*parsed, other, sig).code(), ErrorCode::kSignatureInvalid);
  Bytes flipped = sig;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(VerifySignature(*parsed, msg, flipped).code(), ErrorCode::kSignatureInvalid);
  EXPECT_EQ(VerifySignature(*parsed, msg, Bytes{}).code(), ErrorCode::kSignatureInvalid);

  // A kept key's prepared verifier gives the same verdicts.
  ASSERT_TRUE(PrepareVerifier(*parsed));
  ASSERT_NE(parsed->verifier, nullptr);
  EXPECT_TRUE(VerifySignature(*parsed, msg, sig));
  EXPECT_EQ(VerifySignature(*parsed, other, sig).code(), ErrorCode::kSignatureInvalid);
  EXPECT_EQ(VerifySignature(*parsed, msg, flipped).code(), ErrorCode::kSignatureInvalid);
  EXPECT_TRUE(VerifySignature(*parsed, msg, sig));  // a refusal leaves the prepared context unharmed
}

// The prepared verifier carries its algorithm's parameters: a PS256 key refuses a PKCS#1 v1.5
// signature made with the same RSA key, and an RS256 key refuses a PSS one.
TEST(PreparedVerifier, KeepsTheRsaPaddingOfItsAlgorithm) {
  auto key = NewKey(cose::kRS256);
  Bytes msg = ToBytes("authenticatorData || clientDataHash");
  for (int64_t alg : {cose::kRS256, cose::kPS256}) {
    auto parsed = ParseCoseKey(*EncodeCoseKey(key.get(), alg));
    ASSERT_TRUE(parsed) << parsed.error().detail;
    ASSERT_TRUE(PrepareVerifier(*parsed));
    const int64_t other = alg == cose::kRS256 ? cose::kPS256 : cose::kRS256;
    EXPECT_TRUE(VerifySignature(*parsed, msg, SignWith(key.get(), alg, msg))) << alg;
    EXPECT_EQ(VerifySignature(*parsed, msg, SignWith(key.get(), other, msg)).code(), ErrorCode::kSignatureInvalid)
        << alg;
  }
}

// One prepared verifier serves every request thread at once.
TEST(PreparedVerifier, ThreadsVerifyingAtOnceGetEveryVerdictRight) {
  auto key = NewKey(cose::kES256);
  auto parsed = ParseCoseKey(*EncodeCoseKey(key.get(), cose::kES256));
  ASSERT_TRUE(parsed);
  ASSERT_TRUE(PrepareVerifier(*parsed));
  std::vector<Bytes> msgs, sigs;
  for (int i = 0; i < 20; ++i) {
    msgs.push_back(ToBytes("message " + std::to_string(i)));
    sigs.push_back(SignWith(key.get(), cose::kES256, msgs.back()));
  }
  std::vector<int> right(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const size_t m = static_cast<size_t>(i % 20), s = (static_cast<size_t>(i) + t) % 20;
        const bool ok = VerifySignature(*parsed, msgs[m], sigs[s]).ok();
        if (ok == (m == s)) ++right[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < 4; ++t) EXPECT_EQ(right[t], 100) << t;
}

// EC keys are loaded by copying one key per curve and setting the point: each loaded key checks its
// own signatures only, on every curve, including keys loaded on many threads at once.
TEST(CoseKey, EcKeysLoadedInTurnEachVerifyOnlyTheirOwnSignatures) {
  Bytes msg = ToBytes("authenticatorData || clientDataHash");
  for (int64_t alg : {cose::kES256, cose::kES384, cose::kES512}) {
    std::vector<EvpPkeyPtr> keys;
    std::vector<Bytes> sigs;
    for (int i = 0; i < 3; ++i) {
      keys.push_back(NewKey(alg));
      sigs.push_back(SignWith(keys.back().get(), alg, msg));
    }
    std::vector<std::vector<int>> verdicts(4, std::vector<int>(9, -1));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < verdicts.size(); ++t) {
      threads.emplace_back([&, t] {
        for (size_t k = 0; k < 3; ++k) {
          auto parsed = ParseCoseKey(*EncodeCoseKey(keys[k].get(), alg));
          if (!parsed) continue;
          for (size_t s = 0; s < 3; ++s) verdicts[t][k * 3 + s] = VerifySignature(*parsed, msg, sigs[s]).ok() ? 1 : 0;
        }
      });
    }
    for (auto& th : threads) th.join();
    for (size_t t = 0; t < verdicts.size(); ++t) {
      for (size_t i = 0; i < 9; ++i) EXPECT_EQ(verdicts[t][i], i / 3 == i % 3 ? 1 : 0) << alg << " thread " << t << " " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Algs, CoseRoundTrip,
                         ::testing::Values(cose::kES256, cose::kES384, cose::kES512, cose::kEdDSA, cose::kRS256,
                                           cose::kPS256));

Bytes Hex(std::string_view h) { return HexDecode(h).value_or(Bytes{}); }

// Builds a COSE EC2 map {1:2, 3:alg, -1:crv, -2:x, -3:y} by hand.
Bytes Ec2(int64_t alg, int crv, const Bytes& x, const Bytes& y) {
  Bytes out = {0xa5, 0x01, 0x02, 0x03};
  if (alg == -7) out.push_back(0x26);
  else if (alg == -35) out.insert(out.end(), {0x38, 0x22});
  else if (alg == -257) out.insert(out.end(), {0x39, 0x01, 0x00});
  out.push_back(0x20);
  out.push_back(static_cast<uint8_t>(crv));
  out.push_back(0x21);
  out.push_back(0x58);
  out.push_back(static_cast<uint8_t>(x.size()));
  out.insert(out.end(), x.begin(), x.end());
  out.push_back(0x22);
  out.push_back(0x58);
  out.push_back(static_cast<uint8_t>(y.size()));
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

TEST(CoseKey, WR12_BadEcKeysAreInvalid) {
  auto key = NewKey(cose::kES256);
  Bytes good = *EncodeCoseKey(key.get(), cose::kES256);
  auto decoded = DecodeCbor(good);
  Bytes x = *CborBytes(MapFind(decoded->item.get(), int64_t{-2}));
  Bytes y = *CborBytes(MapFind(decoded->item.get(), int64_t{-3}));
  ASSERT_TRUE(ParseCoseKey(Ec2(-7, 1, x, y)));
  EXPECT_EQ(ParseCoseKey(Ec2(-7, 2, x, y)).code(), ErrorCode::kInvalidPublicKey);  // P-384 under ES256
  EXPECT_EQ(ParseCoseKey(Ec2(-7, 1, Bytes(x.begin() + 1, x.end()), y)).code(), ErrorCode::kInvalidPublicKey);
  Bytes x33 = x;
  x33.push_back(0);
  EXPECT_EQ(ParseCoseKey(Ec2(-7, 1, x33, y)).code(), ErrorCode::kInvalidPublicKey);
  Bytes y_off = y;
  y_off.back() ^= 1;  // no longer on the curve
  EXPECT_EQ(ParseCoseKey(Ec2(-7, 1, x, y_off)).code(), ErrorCode::kInvalidPublicKey);
  EXPECT_EQ(ParseCoseKey(Ec2(-7, 1, Bytes(32, 0), Bytes(32, 0))).code(), ErrorCode::kInvalidPublicKey);
}

TEST(CoseKey, WR11_MissingOrForeignAlgIsNotAllowed) {
  // {1: 2, -1: 1, -2: x, -3: y} without alg.
  auto key = NewKey(cose::kES256);
  auto decoded = DecodeCbor(*EncodeCoseKey(key.get(), cose::kES256));
  Bytes x = *CborBytes(MapFind(decoded->item.get(), int64_t{-2}));
  Bytes y = *CborBytes(MapFind(decoded->item.get(), int64_t{-3}));
  Bytes no_alg = {0xa4, 0x01, 0x02, 0x20, 0x01, 0x21, 0x58, 0x20};
  no_alg.insert(no_alg.end(), x.begin(), x.end());
  no_alg.insert(no_alg.end(), {0x22, 0x58, 0x20});
  no_alg.insert(no_alg.end(), y.begin(), y.end());
  EXPECT_EQ(ParseCoseKey(no_alg).code(), ErrorCode::kAlgNotAllowed);
  EXPECT_EQ(ParseCoseKey(Ec2(-257, 1, x, y)).code(), ErrorCode::kAlgNotAllowed);  // RS256 on an EC2 key
}

TEST(CoseKey, OkpKeyWithEs256AndRs1AreRefused) {
  auto ed = NewKey(cose::kEdDSA);
  Bytes wrong = *EncodeCoseKey(ed.get(), cose::kES256);
  EXPECT_EQ(ParseCoseKey(wrong).code(), ErrorCode::kInvalidPublicKey);
  auto rsa = NewKey(cose::kRS256);
  EXPECT_EQ(ParseCoseKey(*EncodeCoseKey(rsa.get(), cose::kRS1)).code(), ErrorCode::kAlgNotAllowed);
}

TEST(CoseKey, SmallRsaModulusIsRefused) {
  EvpPkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  EXPECT_EQ(ParseCoseKey(*EncodeCoseKey(small.get(), cose::kRS256)).code(), ErrorCode::kInvalidPublicKey);
}

TEST(CoseKey, PrivateParametersAreRefused) {
  auto ed = NewKey(cose::kEdDSA);
  Bytes enc = *EncodeCoseKey(ed.get(), cose::kEdDSA);
  enc[0] = 0xa5;                                     // one more pair:
  enc.insert(enc.end(), {0x23, 0x41, 0x00});         // -4 (d): h'00'
  EXPECT_EQ(ParseCoseKey(enc).code(), ErrorCode::kInvalidPublicKey);
}

TEST(Signature, WR16_WA13_EcdsaMustBeStrictDerInRange) {
  auto key = NewKey(cose::kES256);
  auto parsed = ParseCoseKey(*EncodeCoseKey(key.get(), cose::kES256));
  Bytes msg = ToBytes("message");
  Bytes sig = SignWith(key.get(), cose::kES256, msg);
  ASSERT_TRUE(VerifySignature(*parsed, msg, sig));
  Bytes trailing = sig;
  trailing.push_back(0);
  EXPECT_FALSE(VerifySignature(*parsed, msg, trailing));
  EXPECT_FALSE(VerifySignature(*parsed, msg, Hex("3006020100020100")));  // r = s = 0
  EXPECT_FALSE(VerifySignature(*parsed, msg, Bytes(64, 1)));             // raw r||s where DER belongs
  // A BER long-form length for the sequence is not DER.
  Bytes ber = {0x30, 0x81, static_cast<uint8_t>(sig[1])};
  ber.insert(ber.end(), sig.begin() + 2, sig.end());
  EXPECT_FALSE(VerifySignature(*parsed, msg, ber));
}

TEST(Signature, EdDsaNeedsExactly64Bytes) {
  auto key = NewKey(cose::kEdDSA);
  auto parsed = ParseCoseKey(*EncodeCoseKey(key.get(), cose::kEdDSA));
  Bytes msg = ToBytes("m");
  Bytes sig = SignWith(key.get(), cose::kEdDSA, msg);
  ASSERT_TRUE(VerifySignature(*parsed, msg, sig));
  Bytes longer = sig;
  longer.push_back(0);
  EXPECT_FALSE(VerifySignature(*parsed, msg, longer));
}

TEST(CoseKey, EveryTruncationIsRefused) {
  auto key = NewKey(cose::kES256);
  Bytes enc = *EncodeCoseKey(key.get(), cose::kES256);
  for (size_t n = 0; n < enc.size(); ++n) EXPECT_FALSE(ParseCoseKey(ByteView(enc).first(n))) << n;
}

}  // namespace
}  // namespace authd::webauthn
