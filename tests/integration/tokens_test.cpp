// Introspection (RFC 7662) and revocation (RFC 7009) for API clients, the hostile tokens of
// SECURITY.md K01-K15, and verification of issued tokens by an independent JOSE library.

#include <gtest/gtest.h>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "integration/harness.h"

namespace authd::testing {
namespace {

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.log();
    token_ = server_.TokenFor("alice", {"auditor"});
    ASSERT_FALSE(token_.empty());
    a_ = server_.Client("app-a");
    b_ = server_.Client("app-b");
    ASSERT_TRUE(a_.contains("client_secret")) << a_;
  }

  HttpResult Form(const std::string& path, const std::string& body, const Json& client) {
    return server_.Request("POST", path, body,
                           {{"Content-Type", "application/x-www-form-urlencoded"},
                            {"Authorization", BasicAuth(client["client_id"], client["client_secret"])}});
  }
  Json Introspect(const std::string& token, const Json& client) {
    return Form("/v1/tokens/introspect", "token=" + token, client).json();
  }

  std::string Forge(const Json& header, const Json& claims, const std::string& sig) {
    return Base64UrlEncode(AsBytes(DumpJson(header))) + "." + Base64UrlEncode(AsBytes(DumpJson(claims))) + "." + sig;
  }
  Json Claims(const std::string& token) {
    size_t a = token.find('.');
    size_t b = token.find('.', a + 1);
    return *ParseJsonStrict(AsChars(*Base64UrlDecode(token.substr(a + 1, b - a - 1))));
  }
  std::string Signature(const std::string& token) { return token.substr(token.rfind('.') + 1); }

  AuthdProcess server_;
  std::string token_;
  Json a_, b_;
};

TEST_F(TokensTest, IntrospectionOfALiveToken) {
  Json j = Introspect(token_, a_);
  EXPECT_EQ(j["active"], true);
  EXPECT_EQ(j["username"], "alice");
  EXPECT_EQ(j["aud"], "http://localhost:8080");
  EXPECT_EQ(j["amr"], Json({"operator"}));
  EXPECT_EQ(j["roles"], Json({"auditor"}));
  EXPECT_EQ(j["token_type"], "Bearer");
  EXPECT_EQ(j["iss"], "http://localhost:8080");
  EXPECT_GT(j["exp"].get<int64_t>(), j["iat"].get<int64_t>());
  // JSON bodies are accepted too (API.md).
  HttpResult js = server_.Request("POST", "/v1/tokens/introspect", DumpJson(Json{{"token", token_}}),
                                  {{"Content-Type", "application/json"},
                                   {"Authorization", BasicAuth(a_["client_id"], a_["client_secret"])}});
  EXPECT_EQ(js.json()["active"], true);
}

TEST_F(TokensTest, RevocationIsImmediateAndMonotonic) {
  // Introspected first, so that authd holds the token's record in memory when it is revoked.
  ASSERT_EQ(Introspect(token_, a_)["active"], true);
  HttpResult r = Form("/v1/tokens/revoke", "token=" + token_, a_);
  EXPECT_EQ(r.status, 200);
  Json j = Introspect(token_, a_);
  EXPECT_EQ(j, Json({{"active", false}}));  // P6: nothing else, no reason
  EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + token_}}).status, 401);
  EXPECT_EQ(Form("/v1/tokens/revoke", "token=" + token_, a_).status, 200);  // again: still 200
  EXPECT_EQ(Form("/v1/tokens/revoke", "token=garbage", a_).status, 200);    // unknown: 200
}

// authd keeps introspected records in memory; authctl, another process writing the same database
// file, revokes, and the very next introspection says inactive.
TEST_F(TokensTest, RevocationByAuthctlIsSeenAtOnceByIntrospection) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Introspect(token_, a_)["active"], true);
  CommandResult revoked = server_.Authctl({"token", "revoke-user", "alice"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(Introspect(token_, a_), Json({{"active", false}}));
  // A token issued after the revocation is live, and so is its record once kept.
  std::string fresh = server_.TokenFor("bob", {"auditor"});
  ASSERT_EQ(Introspect(fresh, a_)["active"], true);
  ASSERT_EQ(Introspect(fresh, a_)["active"], true);
  EXPECT_EQ(Introspect(token_, a_), Json({{"active", false}}));
}

// A kept record is matched against the whole token: the same jti with another signature (or
// any other byte changed) is not the token that was stored.
TEST_F(TokensTest, AKeptRecordStillComparesTheWholeToken) {
  ASSERT_EQ(Introspect(token_, a_)["active"], true);
  ASSERT_EQ(Introspect(token_, a_)["active"], true);
  std::string other = token_;
  other.back() = other.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Introspect(other, a_), Json({{"active", false}}));
  std::string tail = token_.substr(0, token_.rfind('.') + 1) + Signature(token_).substr(1);
  EXPECT_EQ(Introspect(tail, a_), Json({{"active", false}}));
  // And the client still proves itself on every call: a wrong secret is refused.
  Json wrong = a_;
  wrong["client_secret"] = std::string(a_["client_secret"]).substr(1) + "x";
  EXPECT_EQ(Form("/v1/tokens/introspect", "token=" + token_, wrong).status, 401);
  // The genuine token is still what it was.
  EXPECT_EQ(Introspect(token_, a_)["active"], true);
}

TEST_F(TokensTest, K01_AlgNoneIsInactive) {
  Json claims = Claims(token_);
  for (const char* alg : {"none", "None", "NONE"}) {
    std::string forged = Forge({{"alg", alg}, {"typ", "at+jwt"}}, claims, "");
    EXPECT_EQ(Introspect(forged, a_), Json({{"active", false}})) << alg;
    EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + forged}}).status, 401);
  }
}

TEST_F(TokensTest, K02_Hs256KeyedWithOurPublicKeyIsInactive) {
  std::string jwks = server_.Get("/.well-known/jwks.json").body;
  std::string input = Base64UrlEncode(AsBytes(DumpJson(Json{{"alg", "HS256"}, {"typ", "at+jwt"}}))) + "." +
                      Base64UrlEncode(AsBytes(DumpJson(Claims(token_))));
  std::string forged = input + "." + Base64UrlEncode(HmacSha256(AsBytes(jwks), AsBytes(input)));
  EXPECT_EQ(Introspect(forged, a_)["active"], false);
}

TEST_F(TokensTest, K03_K04_ModifiedClaimsAreInactive) {
  for (const auto& [k, v] : std::vector<std::pair<std::string, Json>>{
           {"exp", 4102444800}, {"aud", "other"}, {"iss", "https://evil"}, {"sub", "someone"}, {"nbf", 0}}) {
    Json claims = Claims(token_);
    claims[k] = v;
    std::string forged = Forge({{"alg", "ES256"}, {"typ", "at+jwt"}}, claims, Signature(token_));
    EXPECT_EQ(Introspect(forged, a_)["active"], false) << k;
  }
}

TEST_F(TokensTest, K07_K08_K09_HeaderTricksAreInactive) {
  Json claims = Claims(token_);
  std::vector<Json> headers = {
      {{"alg", "ES256"}, {"jku", "http://127.0.0.1:1/jwks"}},
      {{"alg", "ES256"}, {"crit", {"x-unknown"}}},
      {{"alg", "ES256"}, {"crit", Json::array()}},
  };
  for (const auto& h : headers) {
    EXPECT_EQ(Introspect(Forge(h, claims, Signature(token_)), a_)["active"], false) << h;
  }
  EXPECT_EQ(Introspect(token_ + ".extra", a_)["active"], false);
  EXPECT_EQ(Introspect(token_ + "=", a_)["active"], false);
  EXPECT_EQ(Introspect("a.b", a_)["active"], false);
}

TEST_F(TokensTest, K10_PsychicSignatureIsInactive) {
  std::string zero = Base64UrlEncode(Bytes(64, 0));
  std::string forged = token_.substr(0, token_.rfind('.') + 1) + zero;
  EXPECT_EQ(Introspect(forged, a_)["active"], false);
}

TEST_F(TokensTest, K12_ClientAuthenticationFailuresAre401) {
  for (const auto& auth : std::vector<std::string>{
           "", "Basic", "Basic !!!", "Basic " + Base64Encode(AsBytes("nocolon")),
           BasicAuth(a_["client_id"], "wrong"), BasicAuth("c_unknown", a_["client_secret"]),
           "Bearer " + token_}) {
    std::map<std::string, std::string> h = {{"Content-Type", "application/x-www-form-urlencoded"}};
    if (!auth.empty()) h["Authorization"] = auth;
    HttpResult r = server_.Request("POST", "/v1/tokens/introspect", "token=" + token_, h);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(r.json().value("code", ""), "invalid_client") << auth;
    EXPECT_EQ(r.body.find("alice"), std::string::npos);
    HttpResult rv = server_.Request("POST", "/v1/tokens/revoke", "token=" + token_, h);
    EXPECT_EQ(rv.status, 401) << auth;
  }
  EXPECT_EQ(Introspect(token_, a_)["active"], true);  // nothing was revoked by those attempts
  // A request without a token still answers for the client first: 401, not 400.
  HttpResult no_token = Form("/v1/tokens/introspect", "", Json{{"client_id", a_["client_id"]}, {"client_secret", "x"}});
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(no_token.json().value("code", ""), "invalid_client");
}

TEST_F(TokensTest, K15_RevocationRefusesGetJsonAndQueryTokens) {
  EXPECT_EQ(server_.Get("/v1/tokens/revoke").status, 405);
  HttpResult json = server_.Request("POST", "/v1/tokens/revoke", DumpJson(Json{{"token", token_}}),
                                    {{"Content-Type", "application/json"},
                                     {"Authorization", BasicAuth(a_["client_id"], a_["client_secret"])}});
  EXPECT_EQ(json.status, 415);
  HttpResult query = server_.Request("POST", "/v1/tokens/revoke?token=" + token_, "",
                                     {{"Content-Type", "application/x-www-form-urlencoded"},
                                      {"Authorization", BasicAuth(a_["client_id"], a_["client_secret"])}});
  EXPECT_EQ(query.status, 400);
  EXPECT_EQ(Introspect(token_, a_)["active"], true);
}

TEST_F(TokensTest, H09_ParameterPollutionIs400) {
  HttpResult r = Form("/v1/tokens/introspect", "token=" + token_ + "&token=other", a_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json().value("code", ""), "bad_request");
  EXPECT_EQ(Form("/v1/tokens/introspect", "", a_).status, 400);
}

TEST_F(TokensTest, ScopesAndAddressRestrictionsAreEnforced) {
  Json only_introspect = server_.Client("ro", {"--scope", "introspect"});
  EXPECT_EQ(Form("/v1/tokens/revoke", "token=" + token_, only_introspect).json().value("code", ""),
            "insufficient_scope");
  Json only_revoke = server_.Client("rv", {"--scope", "revoke"});
  HttpResult scoped = Form("/v1/tokens/introspect", "token=" + token_, only_revoke);
  EXPECT_EQ(scoped.status, 403);
  EXPECT_EQ(scoped.json().value("code", ""), "insufficient_scope");
  EXPECT_EQ(scoped.body.find("alice"), std::string::npos);
  Json elsewhere = server_.Client("far", {"--allow-ip", "10.0.0.0/8"});
  HttpResult r = Form("/v1/tokens/introspect", "token=" + token_, elsewhere);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json().value("code", ""), "address_not_allowed");
  Json here = server_.Client("near", {"--allow-ip", "127.0.0.0/8", "--allow-ip", "::1"});
  EXPECT_EQ(Introspect(token_, here)["active"], true);
}

TEST_F(TokensTest, ClientAuthFailuresAreAudited) {
  Form("/v1/tokens/introspect", "token=x", Json{{"client_id", a_["client_id"]}, {"client_secret", "bad"}});
  CommandResult tail = server_.Authctl({"audit", "tail", "-n", "5"});
  EXPECT_NE(tail.out.find("\"action\":\"client.authenticate\""), std::string::npos) << tail.out;
  EXPECT_NE(tail.out.find("\"reason\":\"invalid_client\""), std::string::npos);
  EXPECT_EQ(tail.out.find("bad"), std::string::npos);  // the presented secret is not logged
}

// Verifies issued tokens with the npm `jose` library against the published JWKS: an
// implementation that shares no code with authd.
void VerifyWithJose(AuthdProcess& server, const std::string& token, const std::string& alg) {
  std::string jwks = server.Get("/.well-known/jwks.json").body;
  WriteFile(server.dir().File("jwks.json"), jwks);
  CommandResult r = RunCommand({"/usr/bin/env", "node", std::string(AUTHD_TESTS_JS_DIR) + "/verify-jwt.mjs",
                         server.dir().File("jwks.json"), token, "http://localhost:8080", alg},
                        {}, AUTHD_TESTS_JS_DIR);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto out = ParseJsonStrict(r.out);
  ASSERT_TRUE(out) << r.out;
  EXPECT_EQ((*out)["protectedHeader"]["typ"], "at+jwt");
  EXPECT_EQ((*out)["payload"]["username"], "alice");
  // And a token with one signature byte changed fails there too.
  std::string bad = token;
  bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
  CommandResult rb = RunCommand({"/usr/bin/env", "node", std::string(AUTHD_TESTS_JS_DIR) + "/verify-jwt.mjs",
                          server.dir().File("jwks.json"), bad, "http://localhost:8080", alg},
                         {}, AUTHD_TESTS_JS_DIR);
  EXPECT_NE(rb.exit_code, 0);
}

TEST_F(TokensTest, Es256TokensVerifyWithAnIndependentJoseImplementation) {
  VerifyWithJose(server_, token_, "ES256");
}

TEST(EdDsaTokens, VerifyWithAnIndependentJoseImplementation) {
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_TOKEN_ALG", "EdDSA"}});
  ASSERT_TRUE(server.Start()) << server.log();
  std::string token = server.TokenFor("alice", {});
  ASSERT_FALSE(token.empty());
  VerifyWithJose(server, token, "EdDSA");
}

}  // namespace
}  // namespace authd::testing
