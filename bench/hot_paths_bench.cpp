// The pure hot functions behind each factor, one at a time (issue-free inputs, real keys):
// client data and authenticator data parsing, a TOTP check over a window of three steps,
// YubiKey OTP splitting and decryption, the ykval response signature, SHA-256, HMAC and
// AES-GCM sealing of short values, a JWS signature per
// token algorithm, and a whole assertion verification (§7.2 steps 7-22, the key kept parsed as
// authd keeps it) per credential algorithm. The HTTP and storage costs around them are measured end to end elsewhere.
//
// Run: build/bench/hot_paths_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/domain/otp.h"
#include "authd/webauthn/authenticator_data.h"
#include "authd/webauthn/ceremony.h"
#include "authd/webauthn/client_data.h"
#include "authd/webauthn/cose_key.h"
#include "webauthn/test_authenticator.h"

namespace {

using namespace authd;
namespace otp = authd::domain::otp;

void BM_ParseClientData(benchmark::State& state) {
  const std::string cdj = "{\"type\":\"webauthn.get\",\"challenge\":\"" + Base64UrlEncode(RandomBytes(32)) +
                          "\",\"origin\":\"https://login.example.org\",\"crossOrigin\":false}";
  for (auto _ : state) benchmark::DoNotOptimize(webauthn::ParseClientData(AsBytes(cdj)));
}
BENCHMARK(BM_ParseClientData);

void BM_ParseAuthenticatorData(benchmark::State& state) {
  Bytes ad = Sha256(AsBytes("login.example.org"));
  ad.insert(ad.end(), {0x05, 0x00, 0x00, 0x01, 0x2c});
  for (auto _ : state) benchmark::DoNotOptimize(webauthn::ParseAuthenticatorData(ad));
}
BENCHMARK(BM_ParseAuthenticatorData);

void BM_TotpMatchWindow3(benchmark::State& state) {
  const Bytes secret = RandomBytes(20);
  const otp::TotpParams p;
  const int64_t step = otp::TimeStep(1'800'000'000, 30);
  const std::string code = otp::Hotp(secret, static_cast<uint64_t>(step + 1), p.alg, p.digits);
  for (auto _ : state) benchmark::DoNotOptimize(otp::MatchTotp(secret, p, code, step, 1));
}
BENCHMARK(BM_TotpMatchWindow3);

void BM_YubiOtpSplitAndDecrypt(benchmark::State& state) {
  const Bytes key = RandomBytes(16), uid = RandomBytes(6);
  otp::YubiOtpToken t;
  std::copy(uid.begin(), uid.end(), t.private_id.begin());
  t.use_counter = 7;
  const std::string text = "vvccccfhcbcb" + otp::EncryptYubiOtp(t, key, 0x1234);
  for (auto _ : state) {
    auto parts = otp::SplitYubiOtp(text);
    benchmark::DoNotOptimize(otp::DecryptYubiOtp(parts->ciphertext, key, uid));
  }
}
BENCHMARK(BM_YubiOtpSplitAndDecrypt);

void BM_YkvalResponseSignature(benchmark::State& state) {
  const Bytes key = RandomBytes(20);
  const std::map<std::string, std::string> fields = {
      {"nonce", "aBcDeFgHiJkLmNoPqRsT"}, {"otp", "vvccccfhcbcb" + std::string(32, 'c')},
      {"status", "OK"}, {"t", "2026-11-24T10:00:00Z0123"}};
  for (auto _ : state) benchmark::DoNotOptimize(otp::YkvalSignature(fields, key));
}
BENCHMARK(BM_YkvalResponseSignature);

// The small primitives every request uses: a token or secret hash, an HMAC (ykval, TOTP, OTP
// checks) and sealing or opening a short value with AES-256-GCM (ceremony handles, secrets).
void BM_Sha256Of64Bytes(benchmark::State& state) {
  const Bytes data = RandomBytes(64);
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
}
BENCHMARK(BM_Sha256Of64Bytes);

void BM_HmacSha1Of64Bytes(benchmark::State& state) {
  const Bytes key = RandomBytes(20);
  const Bytes data = RandomBytes(64);
  for (auto _ : state) benchmark::DoNotOptimize(HmacSha1(key, data));
}
BENCHMARK(BM_HmacSha1Of64Bytes);

void BM_SealAndOpenAesGcm(benchmark::State& state) {
  const Bytes key = RandomBytes(32);
  const Bytes plain = RandomBytes(96);
  const ByteView aad = AsBytes("ceremony");
  for (auto _ : state) {
    Bytes sealed = SealAesGcm(key, plain, aad);
    benchmark::DoNotOptimize(OpenAesGcm(key, sealed, aad));
  }
}
BENCHMARK(BM_SealAndOpenAesGcm);

void BM_JwsSign(benchmark::State& state) {
  const auto alg = state.range(0) == 0 ? JwsAlg::kES256 : JwsAlg::kEdDSA;
  const SigningKey key = SigningKey::Generate(alg);
  const std::string input = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9." + Base64UrlEncode(RandomBytes(300));
  state.SetLabel(std::string(JwsAlgName(alg)));
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(AsBytes(input)));
}
BENCHMARK(BM_JwsSign)->Arg(0)->Arg(1);

}  // namespace

void BM_VerifyAssertionByAlg(benchmark::State& state) {
  static const int64_t kAlgs[] = {webauthn::cose::kES256, webauthn::cose::kEdDSA, webauthn::cose::kES384,
                                  webauthn::cose::kRS256};
  const int64_t alg = kAlgs[state.range(0)];
  webauthn::testing::TestAuthenticator key(alg);
  const Bytes challenge = RandomBytes(32);
  auto a = key.Assert(challenge, key.NewAssertion());
  webauthn::AssertionExpectations expected;
  expected.challenge = challenge;
  expected.origins.origins = {key.origin};
  expected.rp_id = key.rp_id;
  const Bytes cose = key.CoseKey();
  // Kept as the WebAuthn service keeps a credential's key: parsed once, its verifier prepared.
  webauthn::CosePublicKey parsed = webauthn::ParseCoseKey(cose).value();
  if (!webauthn::PrepareVerifier(parsed)) {
    state.SkipWithError("the key cannot verify");
    return;
  }
  webauthn::StoredCredential stored{cose, 0, false, std::make_shared<const webauthn::CosePublicKey>(std::move(parsed))};
  state.SetLabel(alg == webauthn::cose::kES256   ? "ES256"
                 : alg == webauthn::cose::kEdDSA ? "EdDSA"
                 : alg == webauthn::cose::kES384 ? "ES384"
                                                 : "RS256");
  for (auto _ : state) {
    auto r = webauthn::VerifyAssertion({a.client_data_json, a.authenticator_data, a.signature}, stored, expected);
    if (!r) state.SkipWithError(r.error().detail.c_str());
  }
}
BENCHMARK(BM_VerifyAssertionByAlg)->DenseRange(0, 3);

BENCHMARK_MAIN();
