#include "authd/domain/tokens.h"

#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "domain/fixture.h"

namespace authd::domain {
namespace {

using TokensTest = CoreFixture;

std::string RawSegment(const std::string& token, int index) {
  size_t a = token.find('.');
  size_t b = token.find('.', a + 1);
  std::string part = index == 0 ? token.substr(0, a) : token.substr(a + 1, b - a - 1);
  auto raw = Base64UrlDecode(part);
  return std::string(AsChars(*raw));
}

Json Segment(const std::string& token, int index) { return *ParseJsonStrict(RawSegment(token, index)); }

TEST_F(TokensTest, IssuesRfc9068TokenWithAllClaims) {
  User alice = MakeUser("alice", {"auditor"});
  IssuedToken t;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(t, core_->tokens().Issue(tx, alice, "cred-9", "c_app", {"hwk", "user"}, 1234));
    return Ok();
  }));
  Json header = Segment(t.access_token, 0);
  EXPECT_EQ(header["typ"], "at+jwt");
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_FALSE(header["kid"].get<std::string>().empty());
  Json claims = Segment(t.access_token, 1);
  EXPECT_EQ(claims["iss"], "https://auth.example.org");
  EXPECT_EQ(claims["sub"], alice.id);
  EXPECT_EQ(claims["aud"], "c_app");
  EXPECT_EQ(claims["client_id"], "c_app");
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 300);
  EXPECT_EQ(claims["nbf"], claims["iat"]);
  EXPECT_EQ(claims["auth_time"], 1234);
  EXPECT_EQ(claims["amr"], Json({"hwk", "user"}));
  EXPECT_EQ(claims["username"], "alice");
  EXPECT_EQ(claims["roles"], Json({"auditor"}));
  EXPECT_EQ(claims["jti"], t.record.jti);
  // Both segments are exactly what DumpJson writes for them: members sorted, nothing else.
  EXPECT_EQ(header.size(), 3u);
  EXPECT_EQ(claims.size(), 12u);
  EXPECT_EQ(RawSegment(t.access_token, 0), DumpJson(header));
  EXPECT_EQ(RawSegment(t.access_token, 1), DumpJson(claims));

  // The signature verifies with the key published in the JWKS.
  Json jwks = *ParseJsonStrict(*core_->tokens().JwksJson());
  ASSERT_EQ(jwks["keys"].size(), 1u);
  EXPECT_EQ(jwks["keys"][0]["kid"], header["kid"]);
  EXPECT_EQ(jwks["keys"][0].count("d"), 0u);  // never the private part
}

// Values that need escaping come out escaped, and a token for no client names authd itself.
TEST_F(TokensTest, ClaimsNeedingEscapesAreWrittenAsJson) {
  User odd;  // Mint signs what it is given; nothing here is stored
  odd.id = "u\"1";
  odd.username = "odd\\name";
  odd.roles = {"role \"q\" \\ \u00e9"};
  auto t = core_->tokens().Mint(odd, "cred \"1\"\n", "", {"otp"}, 99);
  ASSERT_TRUE(t);
  Json claims = Segment(t->access_token, 1);
  EXPECT_EQ(RawSegment(t->access_token, 1), DumpJson(claims));
  EXPECT_EQ(claims["roles"], Json({"role \"q\" \\ \u00e9"}));
  EXPECT_EQ(claims["client_id"], "authd");
  EXPECT_EQ(claims["auth_time"], 99);
  EXPECT_EQ(claims["amr"], Json({"otp"}));
  EXPECT_EQ(claims["sub"], "u\"1");
  EXPECT_EQ(claims["username"], "odd\\name");
}

TEST_F(TokensTest, FindMatchesOnlyTheExactToken) {
  User alice = MakeUser("alice");
  auto t = core_->IssueOperatorToken(Ctx(), "alice");
  ASSERT_TRUE(t);
  auto find = [&](const std::string& tok) {
    std::optional<TokenRecord> rec;
    EXPECT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(rec, core_->tokens().Find(tx, tok));
      return Ok();
    }));
    return rec;
  };
  EXPECT_TRUE(find(t->access_token));
  std::string flipped = t->access_token;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(find(flipped));
  EXPECT_FALSE(find(t->access_token + "."));
  EXPECT_FALSE(find(""));
  EXPECT_FALSE(find(std::string(9000, 'a')));
}

TEST(NewJti, SortsByTimeAndIsUnique) {
  const std::string a = NewJti(1'700'000'000'000);
  const std::string b = NewJti(1'700'000'000'001);
  const std::string c = NewJti(1'800'000'000'000);
  for (const auto& j : {a, b, c}) {
    EXPECT_EQ(j.size(), 26u);
    EXPECT_EQ(j.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos) << j;
  }
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a.substr(0, 10), JtiTimePrefix(1'700'000'000'000));
  EXPECT_LT(JtiTimePrefix(1'699'999'999'999), a);
  EXPECT_GT(JtiTimePrefix(1'700'000'000'001), a);
  EXPECT_NE(NewJti(5), NewJti(5));  // the random part
  EXPECT_EQ(JtiTimePrefix(0), "0000000000");
  EXPECT_EQ(JtiTimePrefix(31), "000000000Z");
}

std::string Compact(const std::string& payload) {
  return "eyJhbGciOiJFUzI1NiJ9." + Base64UrlEncode(AsBytes(payload)) + ".c2ln";
}

TEST(JtiOf, ReadsTheClaimAndRefusesWhatCannotBeOne) {
  EXPECT_EQ(JtiOf(Compact(R"({"aud":"x","jti":"01KW2ABC","sub":"u"})")), "01KW2ABC");
  EXPECT_EQ(JtiOf(Compact(R"({"jti":"a-b_c"})")), "a-b_c");
  EXPECT_FALSE(JtiOf(Compact(R"({"sub":"u"})")));
  EXPECT_FALSE(JtiOf(Compact(R"({"jti":""})")));
  EXPECT_FALSE(JtiOf(Compact(R"({"jti":"a b"})")));
  EXPECT_FALSE(JtiOf(Compact(R"({"jti":"a\"b"})")));
  EXPECT_FALSE(JtiOf(Compact(R"({"jti":"unterminated)")));
  EXPECT_FALSE(JtiOf(Compact(R"({"jti":")" + std::string(kMaxJtiLength + 1, 'a') + "\"}")));
  EXPECT_TRUE(JtiOf(Compact(R"({"jti":")" + std::string(kMaxJtiLength, 'a') + "\"}")));
  // A claim value that mentions a jti is escaped in JSON, so it is not taken for the claim.
  EXPECT_EQ(JtiOf(Compact(R"({"aud":"\"jti\":\"evil\"","jti":"good"})")), "good");
  EXPECT_FALSE(JtiOf("a.b"));
  EXPECT_FALSE(JtiOf("a.!!!.c"));
}

TEST_F(TokensTest, AForgedPayloadNamingARealJtiFindsNothing) {
  User alice = MakeUser("alice");
  auto t = core_->IssueOperatorToken(Ctx(), "alice");
  ASSERT_TRUE(t);
  // Same header and signature, a payload that carries only the real jti.
  const std::string& tok = t->access_token;
  const size_t a = tok.find('.'), b = tok.find('.', a + 1);
  std::string forged = tok.substr(0, a + 1) + Base64UrlEncode(AsBytes(R"({"jti":")" + t->record.jti + "\"}")) +
                       tok.substr(b);
  ASSERT_EQ(JtiOf(forged), t->record.jti);
  std::optional<TokenRecord> rec = TokenRecord{};
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(rec, core_->tokens().Find(tx, forged));
    return Ok();
  }));
  EXPECT_FALSE(rec);
}

TEST(LooksLikeJws, Shape) {
  EXPECT_TRUE(LooksLikeJws("a.b.c"));
  EXPECT_FALSE(LooksLikeJws("a.b"));
  EXPECT_FALSE(LooksLikeJws("a.b.c.d"));
  EXPECT_FALSE(LooksLikeJws("a.b.c="));
  EXPECT_FALSE(LooksLikeJws("a+b.c.d"));
}

TEST_F(TokensTest, RotationKeepsThePreviousKeyInTheJwksUntilItsTokensExpire) {
  std::string first = Segment(core_->IssueOperatorToken(Ctx(), MakeUser("alice").username)->access_token, 0)["kid"];
  std::string second;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(second, core_->tokens().Rotate(tx));
    return Ok();
  }));
  ASSERT_TRUE(core_->tokens().Refresh());
  EXPECT_NE(first, second);
  auto t = core_->IssueOperatorToken(Ctx(), "alice");
  EXPECT_EQ(Segment(t->access_token, 0)["kid"], second);
  Json jwks = *ParseJsonStrict(*core_->tokens().JwksJson());
  EXPECT_EQ(jwks["keys"].size(), 2u);
  clock_.AdvanceSeconds(3600 + 1);
  ASSERT_TRUE(core_->tokens().Refresh());
  jwks = *ParseJsonStrict(*core_->tokens().JwksJson());
  ASSERT_EQ(jwks["keys"].size(), 1u);
  EXPECT_EQ(jwks["keys"][0]["kid"], second);
}

TEST_F(TokensTest, SigningKeyIsSealedAndSurvivesReopen) {
  auto kid = Segment(core_->IssueOperatorToken(Ctx(), MakeUser("alice").username)->access_token, 0)["kid"];
  Core again(*store_, *keyring_, clock_, core_->options());
  ASSERT_TRUE(again.Init());
  auto t = again.IssueOperatorToken(Ctx(), "alice");
  EXPECT_EQ(Segment(t->access_token, 0)["kid"], kid);
  // Another master key cannot open the signing key.
  SecretBytes other = RandomSecret(kMasterKeySize);
  Keyring wrong(other);
  Core broken(*store_, wrong, clock_, core_->options());
  EXPECT_FALSE(broken.Init());
}

TEST_F(TokensTest, EdDsaConfigurationRotatesToAnEd25519Key) {
  CoreOptions o = core_->options();
  o.tokens.alg = JwsAlg::kEdDSA;
  Core ed(*store_, *keyring_, clock_, o);
  ASSERT_TRUE(ed.Init());
  MakeUser("alice");
  auto t = ed.IssueOperatorToken(Ctx(), "alice");
  ASSERT_TRUE(t);
  EXPECT_EQ(Segment(t->access_token, 0)["alg"], "EdDSA");
  Json jwks = *ParseJsonStrict(*ed.tokens().JwksJson());
  bool has_okp = false;
  for (const auto& k : jwks["keys"]) has_okp = has_okp || k["kty"] == "OKP";
  EXPECT_TRUE(has_okp);
}

}  // namespace
}  // namespace authd::domain
