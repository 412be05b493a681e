// The assertion signature check (§7.2 step 21) two ways: authd's OpenSSL path (COSE key parsed
// from the stored record, strict DER, EVP verify) against libfido2's fido_assert_verify with an
// es256_pk_t, as DESIGN.md asks before choosing. Both check the same signature over the same
// authenticatorData || clientDataHash; libfido2 also compares the rpIdHash and the UP flag, which
// authd checks in its own steps 15-16.
//
// Run: build/bench/webauthn_verify_bench --benchmark_repetitions=5

#include <benchmark/benchmark.h>
#include <fido.h>
#include <fido/es256.h>
#include <openssl/evp.h>

#include "authd/base/crypto.h"
#include "authd/webauthn/cbor.h"
#include "authd/webauthn/ceremony.h"
#include "authd/webauthn/cose_key.h"

namespace {

using namespace authd;

struct Fixture {
  EvpPkeyPtr key{EVP_EC_gen("P-256")};
  Bytes cose;
  Bytes raw_point;  // x || y
  Bytes auth_data;
  Bytes client_data_hash = Sha256(AsBytes("{\"type\":\"webauthn.get\"}"));
  Bytes signature;

  Fixture() {
    cose = *webauthn::EncodeCoseKey(key.get(), webauthn::cose::kES256);
    auto d = webauthn::DecodeCbor(cose);
    raw_point = *webauthn::CborBytes(webauthn::MapFind(d->item.get(), int64_t{-2}));
    Bytes y = *webauthn::CborBytes(webauthn::MapFind(d->item.get(), int64_t{-3}));
    raw_point.insert(raw_point.end(), y.begin(), y.end());
    auth_data = Sha256(AsBytes("localhost"));
    auth_data.insert(auth_data.end(), {0x01, 0x00, 0x00, 0x00, 0x07});
    Bytes data = auth_data;
    data.insert(data.end(), client_data_hash.begin(), client_data_hash.end());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.get());
    EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size());
    signature.resize(len);
    EVP_DigestSign(ctx, signature.data(), &len, data.data(), data.size());
    signature.resize(len);
    EVP_MD_CTX_free(ctx);
  }
};

Fixture& F() {
  static Fixture f;
  return f;
}

void BM_AssertionSignature_OpenSsl(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    auto key = webauthn::ParseCoseKey(f.cose);  // as FinishAuthentication does per request
    Bytes data = f.auth_data;
    data.insert(data.end(), f.client_data_hash.begin(), f.client_data_hash.end());
    if (!key || !webauthn::VerifySignature(*key, data, f.signature)) state.SkipWithError("did not verify");
  }
}
BENCHMARK(BM_AssertionSignature_OpenSsl);

void BM_AssertionSignature_OpenSslKeyParsedOnce(benchmark::State& state) {
  // The same check with the COSE key parsed (and its point validated) once, outside the loop.
  Fixture& f = F();
  auto key = webauthn::ParseCoseKey(f.cose);
  for (auto _ : state) {
    Bytes data = f.auth_data;
    data.insert(data.end(), f.client_data_hash.begin(), f.client_data_hash.end());
    if (!webauthn::VerifySignature(*key, data, f.signature)) state.SkipWithError("did not verify");
  }
}
BENCHMARK(BM_AssertionSignature_OpenSslKeyParsedOnce);

void BM_AssertionSignature_Libfido2(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    es256_pk_t* pk = es256_pk_new();
    fido_assert_t* a = fido_assert_new();
    bool ok = es256_pk_from_ptr(pk, f.raw_point.data(), f.raw_point.size()) == FIDO_OK &&
              fido_assert_set_rp(a, "localhost") == FIDO_OK &&
              fido_assert_set_clientdata_hash(a, f.client_data_hash.data(), f.client_data_hash.size()) == FIDO_OK &&
              fido_assert_set_count(a, 1) == FIDO_OK &&
              fido_assert_set_authdata_raw(a, 0, f.auth_data.data(), f.auth_data.size()) == FIDO_OK &&
              fido_assert_set_sig(a, 0, f.signature.data(), f.signature.size()) == FIDO_OK &&
              fido_assert_set_up(a, FIDO_OPT_TRUE) == FIDO_OK &&
              fido_assert_verify(a, 0, COSE_ES256, pk) == FIDO_OK;
    fido_assert_free(&a);
    es256_pk_free(&pk);
    if (!ok) state.SkipWithError("did not verify");
  }
}
BENCHMARK(BM_AssertionSignature_Libfido2);

void BM_VerifyAssertion_AllSteps(benchmark::State& state) {
  // The whole of §7.2 steps 7-22 as authd runs them, for scale.
  Fixture& f = F();
  std::string cdj = "{\"type\":\"webauthn.get\",\"challenge\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"origin\":\"http://localhost:8080\"}";
  Bytes cd = ToBytes(cdj);
  Bytes hash = Sha256(cd);
  Bytes data = f.auth_data;
  data.insert(data.end(), hash.begin(), hash.end());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, f.key.get());
  EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size());
  Bytes sig(len);
  EVP_DigestSign(ctx, sig.data(), &len, data.data(), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  webauthn::AssertionExpectations expected;
  expected.challenge = Bytes(16, 0);
  expected.origins.origins = {"http://localhost:8080"};
  expected.rp_id = "localhost";
  webauthn::StoredCredential stored{f.cose, 6, false, nullptr};
  if (state.range(0) == 1) {  // the key as authd keeps it per credential
    stored.parsed = std::make_shared<const webauthn::CosePublicKey>(webauthn::ParseCoseKey(f.cose).value());
  }
  state.SetLabel(state.range(0) == 1 ? "key kept parsed" : "key parsed per call");
  for (auto _ : state) {
    auto r = webauthn::VerifyAssertion({cd, f.auth_data, sig}, stored, expected);
    if (!r) state.SkipWithError(r.error().detail.c_str());
  }
}
BENCHMARK(BM_VerifyAssertion_AllSteps)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
