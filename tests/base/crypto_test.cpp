#include "authd/base/crypto.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

#include "authd/base/encoding.h"

namespace authd {
namespace {

TEST(RandomBytes, SizesAndNoRepeats) {
  for (size_t n : {0UL, 1UL, 16UL, 63UL, 64UL, 65UL, 256UL, 1000UL}) EXPECT_EQ(RandomBytes(n).size(), n);
  std::set<Bytes> seen;
  for (int i = 0; i < 5000; ++i) EXPECT_TRUE(seen.insert(RandomBytes(16)).second);
  // Threads draw from blocks of their own: still nothing repeats.
  std::vector<Bytes> a, b;
  std::thread t1([&] { for (int i = 0; i < 500; ++i) a.push_back(RandomBytes(12)); });
  std::thread t2([&] { for (int i = 0; i < 500; ++i) b.push_back(RandomBytes(12)); });
  t1.join();
  t2.join();
  std::set<Bytes> both(a.begin(), a.end());
  both.insert(b.begin(), b.end());
  EXPECT_EQ(both.size(), 1000u);
}

// A child process must not hand out the bytes its parent holds for its own next draws.
TEST(RandomBytes, ChildAfterForkDrawsOtherBytes) {
  (void)RandomBytes(8);  // the parent now holds a block with bytes left
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Bytes mine = RandomBytes(16);
    ssize_t w = write(fds[1], mine.data(), mine.size());
    _exit(w == 16 ? 0 : 1);
  }
  Bytes parents = RandomBytes(16);
  Bytes childs(16);
  ASSERT_EQ(read(fds[0], childs.data(), childs.size()), 16);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(parents, childs);
}

TEST(Hash, Sha256AndHmacVectors) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 2202 test case 2.
  EXPECT_EQ(HexEncode(HmacSha1(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  // RFC 4231 test case 2, SHA-512.
  EXPECT_EQ(HexEncode(HmacSha512(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  // An empty key and message, and the same key twice in a row (each call starts afresh).
  EXPECT_EQ(HexEncode(HmacSha256({}, {})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(HexEncode(HmacSha256({}, {})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // A key longer than the block is hashed first (RFC 4231 test case 6).
  EXPECT_EQ(HexEncode(HmacSha256(Bytes(131, 0xaa), AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hkdf, Rfc5869Case1) {
  auto ikm = *HexDecode("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = *HexDecode("000102030405060708090a0b0c");
  auto info = *HexDecode("f0f1f2f3f4f5f6f7f8f9");
  SecretBytes okm = HkdfSha256(ikm, salt, info, 42);
  EXPECT_EQ(HexEncode(okm.view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Seal, RoundTripAndBindsKeyAndContext) {
  Bytes key = RandomBytes(32);
  Bytes sealed = SealAesGcm(key, AsBytes("totp seed"), AsBytes("ctx:1"));
  auto opened = OpenAesGcm(key, sealed, AsBytes("ctx:1"));
  ASSERT_TRUE(opened);
  EXPECT_EQ(AsChars(opened->view()), "totp seed");
  EXPECT_FALSE(OpenAesGcm(key, sealed, AsBytes("ctx:2")));
  EXPECT_FALSE(OpenAesGcm(RandomBytes(32), sealed, AsBytes("ctx:1")));
  Bytes flipped = sealed;
  flipped[20] ^= 1;
  EXPECT_FALSE(OpenAesGcm(key, flipped, AsBytes("ctx:1")));
  EXPECT_FALSE(OpenAesGcm(key, ByteView(sealed).first(10), AsBytes("ctx:1")));
  // A fresh nonce each time: sealing twice gives different bytes.
  EXPECT_NE(SealAesGcm(key, AsBytes("x"), {}), SealAesGcm(key, AsBytes("x"), {}));
}

TEST(SafeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(SafeEquals(std::string_view("abc"), std::string_view("abc")));
  EXPECT_FALSE(SafeEquals(std::string_view("abc"), std::string_view("abd")));
  EXPECT_FALSE(SafeEquals(std::string_view("abc"), std::string_view("abcd")));
  EXPECT_TRUE(SafeEquals(std::string_view(), std::string_view()));
}

class SigningKeyTest : public ::testing::TestWithParam<JwsAlg> {};

TEST_P(SigningKeyTest, SignsVerifiesAndSurvivesDerRoundTrip) {
  SigningKey key = SigningKey::Generate(GetParam());
  Bytes sig = key.Sign(AsBytes("header.payload"));
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(key.Verify(AsBytes("header.payload"), sig));
  EXPECT_FALSE(key.Verify(AsBytes("header.payloaD"), sig));
  sig[5] ^= 0x40;
  EXPECT_FALSE(key.Verify(AsBytes("header.payload"), sig));

  SecretBytes der = key.PrivateDer();
  auto again = SigningKey::FromPrivateDer(GetParam(), der.view());
  ASSERT_TRUE(again);
  EXPECT_TRUE(key.Verify(AsBytes("m"), again->Sign(AsBytes("m"))));
  EXPECT_NE(key.PublicJwkFields().find("\"x\""), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Algs, SigningKeyTest, ::testing::Values(JwsAlg::kES256, JwsAlg::kEdDSA));

// Sign copies one context set up at construction: threads signing at once must each get a
// signature of their own message, and ES256 signatures of one message must still differ (each
// copy draws its own nonce).
TEST_P(SigningKeyTest, ThreadsSigningAtOnceEachGetTheirOwnValidSignature) {
  SigningKey key = SigningKey::Generate(GetParam());
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  std::vector<std::set<Bytes>> seen(4);
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string msg = "header.payload-" + std::to_string(t) + "-" + std::to_string(i % 50);
        Bytes sig = key.Sign(AsBytes(msg));
        if (key.Verify(AsBytes(msg), sig) && !key.Verify(AsBytes(msg + "x"), sig)) ++good[t];
        seen[t].insert(sig);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < 4; ++t) {
    EXPECT_EQ(good[t], 200) << t;
    // EdDSA is deterministic (50 messages, 50 signatures); ES256 is not.
    EXPECT_EQ(seen[t].size(), GetParam() == JwsAlg::kEdDSA ? 50u : 200u) << t;
  }
}


TEST(SigningKey, RefusesKeyOfOtherType) {
  SigningKey ec = SigningKey::Generate(JwsAlg::kES256);
  EXPECT_FALSE(SigningKey::FromPrivateDer(JwsAlg::kEdDSA, ec.PrivateDer().view()));
  EXPECT_FALSE(SigningKey::FromPrivateDer(JwsAlg::kES256, AsBytes("not a key")));
}

TEST(VerifyJwsSignature, RefusesPsychicSignatureAndWrongSizes) {
  SigningKey key = SigningKey::Generate(JwsAlg::kES256);
  Bytes zero(64, 0);  // r = s = 0 (CVE-2022-21449)
  EXPECT_FALSE(VerifyJwsSignature(JwsAlg::kES256, key.pkey(), AsBytes("m"), zero));
  Bytes sig = key.Sign(AsBytes("m"));
  EXPECT_FALSE(VerifyJwsSignature(JwsAlg::kES256, key.pkey(), AsBytes("m"), ByteView(sig).first(63)));
  Bytes big(64, 0xff);  // r, s >= n
  EXPECT_FALSE(VerifyJwsSignature(JwsAlg::kES256, key.pkey(), AsBytes("m"), big));
  // An ES256 signature presented as EdDSA with the EC key: refused (alg bound to key type).
  EXPECT_FALSE(VerifyJwsSignature(JwsAlg::kEdDSA, key.pkey(), AsBytes("m"), sig));
}

}  // namespace
}  // namespace authd
