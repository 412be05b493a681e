// WebAuthn ceremonies over HTTP against the real authd, with a software authenticator that
// holds real keys: enrolment by code, login, replay, counters, revocation, enumeration.

#include <gtest/gtest.h>

#include <thread>

#include "authd/base/encoding.h"
#include "integration/harness.h"
#include "webauthn/response_json.h"

namespace authd::testing {
namespace {

using webauthn::testing::AssertionVerifyBody;
using webauthn::testing::OptionsChallenge;
using webauthn::testing::RegistrationVerifyBody;
using webauthn::testing::TestAuthenticator;

class WebAuthnHttp : public ::testing::Test {
 protected:
  explicit WebAuthnHttp(std::map<std::string, std::string> env = {}) : server_(std::move(env)) {}
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.log();
    admin_ = server_.TokenFor("root", {"admin"});
    ASSERT_EQ(server_.Authctl({"user", "add", "alice"}).exit_code, 0);
    client_ = server_.Client("app");
  }

  std::string Code(const std::string& user) {
    std::string c = server_.Authctl({"enrollment-code", user}).out;
    if (!c.empty()) c.pop_back();
    return c;
  }

  Json RegistrationJson(const Json& options, const TestAuthenticator::Registration& reg) {
    Json body = RegistrationVerifyBody(options, key_, reg, {{"transports", {"usb"}}}, {{"credProps", {{"rk", false}}}});
    body["nickname"] = "blue key";
    return body;
  }

  HttpResult Enrol(const std::string& code) {
    HttpResult opts = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", code}});
    if (opts.status != 200) return opts;
    return server_.PostJson("/v1/webauthn/registration/verify", RegistrationJson(opts.json(), key_.NewRegistration()));
  }

  Json AssertionJson(const Json& options, const TestAuthenticator::Assertion& a) {
    return AssertionVerifyBody(options, key_, a);
  }

  HttpResult Login(std::optional<TestAuthenticator::Assertion> a = std::nullopt) {
    HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options",
                                       {{"username", "alice"}, {"client_id", client_["client_id"]}});
    if (opts.status != 200) return opts;
    return server_.PostJson("/v1/webauthn/authentication/verify", AssertionJson(opts.json(), a ? *a : key_.NewAssertion()));
  }

  Json Introspect(const std::string& token) {
    return server_
        .Request("POST", "/v1/tokens/introspect", "token=" + token,
                 {{"Content-Type", "application/x-www-form-urlencoded"},
                  {"Authorization", BasicAuth(client_["client_id"], client_["client_secret"])}})
        .json();
  }

  AuthdProcess server_;
  std::string admin_;
  Json client_;
  TestAuthenticator key_;
};

TEST_F(WebAuthnHttp, EnrolWithACodeThenLogIn) {
  HttpResult opts = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", Code("alice")}});
  ASSERT_EQ(opts.status, 200) << opts.body;
  Json pk = opts.json()["publicKey"];
  EXPECT_EQ(pk["rp"]["id"], "localhost");
  EXPECT_EQ(pk["user"]["name"], "alice");
  EXPECT_EQ(OptionsChallenge(opts.json()).size(), 32u);
  EXPECT_EQ(pk["excludeCredentials"], Json::array());
  EXPECT_EQ(pk["pubKeyCredParams"][0]["alg"], -7);

  HttpResult reg = server_.PostJson("/v1/webauthn/registration/verify", RegistrationJson(opts.json(), key_.NewRegistration()));
  ASSERT_EQ(reg.status, 201) << reg.body;
  Json cred = reg.json()["credential"];
  EXPECT_EQ(cred["id"], Base64UrlEncode(key_.credential_id));
  EXPECT_EQ(cred["type"], "webauthn");
  EXPECT_EQ(cred["fmt"], "none");
  EXPECT_EQ(cred["attestation_type"], "none");
  EXPECT_EQ(cred["alg"], -7);
  EXPECT_EQ(cred["nickname"], "blue key");
  EXPECT_EQ(cred["aaguid"], "00000000-0000-0000-0000-000000000000");

  HttpResult login = Login();
  ASSERT_EQ(login.status, 200) << login.body;
  Json t = login.json();
  EXPECT_EQ(t["token_type"], "Bearer");
  EXPECT_EQ(t["user"]["username"], "alice");
  EXPECT_EQ(t["credential_id"], cred["id"]);
  EXPECT_EQ(t["amr"], Json({"hwk"}));
  Json intro = Introspect(t["access_token"]);
  EXPECT_EQ(intro["active"], true);
  EXPECT_EQ(intro["aud"], client_["client_id"]);
  EXPECT_EQ(intro["credential_id"], cred["id"]);
  // The key now appears in the admin view, and in excludeCredentials of a new registration.
  HttpResult user = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + admin_}});
  ASSERT_EQ(user.json()["user"]["credentials"].size(), 1u);
  EXPECT_NE(user.json()["user"]["credentials"][0]["last_used_at"], nullptr);
  HttpResult again = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}, admin_);
  EXPECT_EQ(again.json()["publicKey"]["excludeCredentials"][0]["id"], cred["id"]);
}

TEST_F(WebAuthnHttp, EnrolmentCodeIsConsumedOnlyBySuccess) {
  std::string code = Code("alice");
  // A failing registration (wrong origin) leaves the code usable.
  HttpResult opts = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", code}});
  auto bad = key_.NewRegistration();
  bad.origin = "https://evil.example";
  HttpResult refused = server_.PostJson("/v1/webauthn/registration/verify", RegistrationJson(opts.json(), bad));
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.json()["code"], "origin_mismatch");
  ASSERT_EQ(Enrol(code).status, 201);
  HttpResult reuse = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", code}});
  EXPECT_EQ(reuse.status, 401);
  EXPECT_EQ(reuse.json()["code"], "invalid_enrollment_code");
}

TEST_F(WebAuthnHttp, WR04_ReplayedRegistrationIsRefusedAndStoresNothingNew) {
  HttpResult opts = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", Code("alice")}});
  Json body = RegistrationJson(opts.json(), key_.NewRegistration());
  ASSERT_EQ(server_.PostJson("/v1/webauthn/registration/verify", body).status, 201);
  HttpResult replay = server_.PostJson("/v1/webauthn/registration/verify", body);
  EXPECT_EQ(replay.status, 422);
  EXPECT_EQ(replay.json()["code"], "challenge_unknown");
  HttpResult user = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(user.json()["user"]["credentials"].size(), 1u);
}

TEST_F(WebAuthnHttp, WR17_AKeyRegisteredToSomeoneElseIsAConflict) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  ASSERT_EQ(server_.Authctl({"user", "add", "bob"}).exit_code, 0);
  HttpResult opts = server_.PostJson("/v1/webauthn/registration/options", {{"username", "bob"}, {"enrollment_code", Code("bob")}});
  ASSERT_EQ(opts.status, 200);
  HttpResult clash = server_.PostJson("/v1/webauthn/registration/verify", RegistrationJson(opts.json(), key_.NewRegistration()));
  EXPECT_EQ(clash.status, 409);
  EXPECT_EQ(clash.json()["code"], "credential_exists");
}

class CappedWebAuthnHttp : public WebAuthnHttp {
 protected:
  CappedWebAuthnHttp() : WebAuthnHttp({{"AUTHD_MAX_CREDENTIALS_PER_USER", "2"}}) {}
  HttpResult Options() {
    return server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}, admin_);
  }
  HttpResult Finish(const HttpResult& opts, TestAuthenticator& key) {
    return server_.PostJson("/v1/webauthn/registration/verify",
                            RegistrationVerifyBody(opts.json(), key, key.NewRegistration()), admin_);
  }
};

TEST_F(CappedWebAuthnHttp, AUserHoldsAtMostTheConfiguredNumberOfCredentials) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  TestAuthenticator second, third;
  // Two ceremonies start while there is room for one more; the second to finish is refused by
  // its transaction, and stores nothing.
  HttpResult opts2 = Options(), opts3 = Options();
  ASSERT_EQ(opts2.status, 200) << opts2.body;
  ASSERT_EQ(opts3.status, 200) << opts3.body;
  ASSERT_EQ(Finish(opts2, second).status, 201);
  HttpResult over = Finish(opts3, third);
  EXPECT_EQ(over.status, 409) << over.body;
  EXPECT_EQ(over.json()["code"], "too_many_credentials");
  // Full: every way of adding a credential says so before a key or app is involved.
  HttpResult full = Options();
  EXPECT_EQ(full.status, 409);
  EXPECT_EQ(full.json()["code"], "too_many_credentials");
  EXPECT_NE(full.json()["detail"].get<std::string>().find("revoke one"), std::string::npos) << full.body;
  EXPECT_EQ(server_.PostJson("/v1/totp/enrollment", {{"username", "alice"}}, admin_).json()["code"],
            "too_many_credentials");
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp",
                             {{"public_id", "vvccccfhcbcb"}, {"private_id", "0102030405a6"},
                              {"aes_key", "00112233445566778899aabbccddeeff"}},
                             admin_)
                .json()["code"],
            "too_many_credentials");
  const Json before = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + admin_}}).json();
  ASSERT_EQ(before["user"]["credentials"].size(), 2u) << before.dump();
  // A revoked credential makes room again.
  const std::string first_id = before["user"]["credentials"][0]["id"];
  ASSERT_EQ(server_.Request("DELETE", "/v1/admin/users/alice/credentials/" + first_id, "",
                            {{"Authorization", "Bearer " + admin_}})
                .status,
            204);
  HttpResult again = Options();
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Finish(again, third).status, 201);
  EXPECT_EQ(Options().json()["code"], "too_many_credentials");
}

TEST_F(WebAuthnHttp, RegistrationNeedsTokenOrCode) {
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}).json()["code"], "invalid_token");
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", "AAAA-BBBB"}})
                .json()["code"],
            "invalid_enrollment_code");
  // A code for another user does not work, and an unknown user looks the same as a wrong code.
  ASSERT_EQ(server_.Authctl({"user", "add", "bob"}).exit_code, 0);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", Code("bob")}})
                .status,
            401);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "ghost"}, {"enrollment_code", Code("bob")}})
                .json()["code"],
            "invalid_enrollment_code");
  std::string plain = server_.TokenFor("carol", {});
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}, plain).status, 403);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "carol"}}, plain).status, 200);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "ghost"}}, admin_).status, 404);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"attestation", "weird"}}, admin_)
                .status,
            400);
}

TEST_F(WebAuthnHttp, WA11_ReplayedAssertionIsRefused) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  Json body = AssertionJson(opts.json(), key_.NewAssertion());
  ASSERT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", body).status, 200);
  HttpResult replay = server_.PostJson("/v1/webauthn/authentication/verify", body);
  EXPECT_EQ(replay.status, 422);
  EXPECT_EQ(replay.json()["code"], "challenge_unknown");
  EXPECT_FALSE(replay.json().contains("access_token"));
}

// Ceremony handles are sealed and carried by the client: starting one stores nothing, finishing
// one records its id as used, and a replay is refused before its response is judged again (a
// replayed assertion must not count as a clone against the key).
TEST_F(WebAuthnHttp, CeremoniesStoreNothingUntilUsedAndReplaysDoNotFlagTheKey) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  const std::string db = server_.dir().File("authd.db");
  ASSERT_EQ(Login().status, 200);
  ASSERT_EQ(Login().status, 200);  // the counter is above zero from here
  const std::string used = SqlScalar(db, "SELECT count(*) FROM used_ceremonies");
  EXPECT_EQ(used, "3");  // one registration, two logins
  HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  ASSERT_EQ(opts.status, 200);
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM used_ceremonies"), used) << "starting a ceremony wrote to the store";
  Json body = AssertionJson(opts.json(), key_.NewAssertion());
  ASSERT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", body).status, 200);
  for (int i = 0; i < 3; ++i) {
    HttpResult replay = server_.PostJson("/v1/webauthn/authentication/verify", body);
    EXPECT_EQ(replay.status, 422);
    EXPECT_EQ(replay.json()["code"], "challenge_unknown");
  }
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM webauthn_credentials WHERE clone_suspected = 1"), "0");
  CommandResult tail = server_.Authctl({"audit", "tail", "-n", "10"});
  EXPECT_EQ(tail.out.find("clone_suspected"), std::string::npos) << tail.out;
  EXPECT_EQ(Login().status, 200);

  // A handle changed by one character, or of the other kind, is an unknown ceremony.
  HttpResult fresh = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  Json changed = AssertionJson(fresh.json(), key_.NewAssertion());
  std::string handle = changed["ceremony"];
  handle[handle.size() / 2] = handle[handle.size() / 2] == 'A' ? 'B' : 'A';
  changed["ceremony"] = handle;
  HttpResult r = server_.PostJson("/v1/webauthn/authentication/verify", changed);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["code"], "challenge_unknown");
  HttpResult reg = server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}, admin_);
  ASSERT_EQ(reg.status, 200);
  Json crossed = AssertionJson(fresh.json(), key_.NewAssertion());
  crossed["ceremony"] = reg.json()["ceremony"];
  r = server_.PostJson("/v1/webauthn/authentication/verify", crossed);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["code"], "challenge_unknown");
  EXPECT_FALSE(r.json().contains("access_token"));
  // A handle longer than any authd seals is refused before it is decoded.
  Json oversized = AssertionJson(fresh.json(), key_.NewAssertion());
  oversized["ceremony"] = std::string(5000, 'A');
  r = server_.PostJson("/v1/webauthn/authentication/verify", oversized);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["code"], "bad_request") << r.body;
  // None of these stored anything, issued a token, or used up the genuine ceremony; each was audited.
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM used_ceremonies"), std::to_string(std::stoi(used) + 2));
  const std::string tokens = SqlScalar(db, "SELECT count(*) FROM tokens");
  EXPECT_NE(server_.Authctl({"audit", "tail", "-n", "5"}).out.find("challenge_unknown"), std::string::npos);
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", AssertionJson(fresh.json(), key_.NewAssertion())).status,
            200);
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM tokens"), std::to_string(std::stoi(tokens) + 1));
}

TEST_F(WebAuthnHttp, WA08_CounterRegressionIsRefusedFlaggedAndAudited) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  ASSERT_EQ(Login().status, 200);  // counter 1
  auto stale = key_.NewAssertion();
  stale.auth.sign_count = 1;  // a clone replaying the same counter
  HttpResult r = Login(stale);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["code"], "counter_regression");
  CommandResult tail = server_.Authctl({"audit", "tail", "-n", "5"});
  EXPECT_NE(tail.out.find("webauthn.clone_suspected"), std::string::npos) << tail.out;
  auto next = key_.NewAssertion();
  next.auth.sign_count = 5;
  EXPECT_EQ(Login(next).status, 200);  // policy "reject": the genuine key keeps working
}

TEST_F(WebAuthnHttp, WA15_RevokedKeyIsRefusedAndItsTokensDie) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  HttpResult login = Login();
  ASSERT_EQ(login.status, 200);
  std::string token = login.json()["access_token"];
  std::string id = Base64UrlEncode(key_.credential_id);
  HttpResult del = server_.Request("DELETE", "/v1/admin/users/alice/credentials/" + id, "",
                                   {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(del.status, 204) << del.body;
  EXPECT_EQ(Introspect(token), Json({{"active", false}}));
  HttpResult after = Login();
  EXPECT_EQ(after.status, 422);
  EXPECT_EQ(after.json()["code"], "credential_revoked");
}

TEST_F(WebAuthnHttp, UnknownUsersGetTheSameShapeOfOptions) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  Json known = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}}).json();
  Json unknown = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "mallory"}}).json();
  Json unknown2 = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "mallory"}}).json();
  ASSERT_EQ(unknown["publicKey"]["allowCredentials"].size(), known["publicKey"]["allowCredentials"].size());
  EXPECT_EQ(unknown["publicKey"]["allowCredentials"][0]["id"], unknown2["publicKey"]["allowCredentials"][0]["id"]);
  EXPECT_EQ(unknown.size(), known.size());
  EXPECT_EQ(unknown["publicKey"].size(), known["publicKey"].size());
  // A login attempt for the made-up user fails like any unknown key.
  HttpResult r = server_.PostJson("/v1/webauthn/authentication/verify", AssertionJson(unknown, key_.NewAssertion()));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["code"], "unknown_credential");
}

// The creation options, member by member (API.md: PublicKeyCredentialCreationOptionsJSON), with
// a key already registered to exclude; the body is plain canonical JSON.
TEST_F(WebAuthnHttp, RegistrationOptionsHaveExactlyTheContractsMembers) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  HttpResult opts = server_.PostJson("/v1/webauthn/registration/options",
                                     {{"username", "alice"}, {"enrollment_code", Code("alice")}, {"display_name", "A \"L\""}});
  ASSERT_EQ(opts.status, 200) << opts.body;
  Json j = opts.json();
  EXPECT_EQ(opts.body, DumpJson(j));
  const Json& pk = j["publicKey"];
  std::vector<std::string> members;
  for (const auto& [k, v] : pk.items()) members.push_back(k);
  EXPECT_EQ(members, (std::vector<std::string>{"attestation", "authenticatorSelection", "challenge", "excludeCredentials",
                                               "extensions", "pubKeyCredParams", "rp", "timeout", "user"}));
  EXPECT_EQ(pk["attestation"], "direct");
  EXPECT_EQ(pk["authenticatorSelection"],
            Json({{"requireResidentKey", false}, {"residentKey", "preferred"}, {"userVerification", "preferred"}}));
  EXPECT_EQ(pk["challenge"].get<std::string>().size(), 43u);
  ASSERT_EQ(pk["excludeCredentials"].size(), 1u);
  EXPECT_EQ(pk["excludeCredentials"][0],
            Json({{"id", Base64UrlEncode(key_.credential_id)}, {"transports", {"usb"}}, {"type", "public-key"}}));
  EXPECT_EQ(pk["extensions"], Json({{"credProps", true}}));
  ASSERT_FALSE(pk["pubKeyCredParams"].empty());
  for (const auto& p : pk["pubKeyCredParams"]) {
    EXPECT_EQ(p.size(), 2u);
    EXPECT_EQ(p["type"], "public-key");
    EXPECT_TRUE(p["alg"].is_number_integer());
  }
  EXPECT_EQ(pk["rp"], Json({{"id", "localhost"}, {"name", "authd"}}));
  EXPECT_EQ(pk["timeout"], 300000);
  EXPECT_EQ(pk["user"]["displayName"], "A \"L\"");
  EXPECT_EQ(pk["user"]["name"], "alice");
  EXPECT_FALSE(pk["user"]["id"].get<std::string>().empty());
}

// The request options, member by member (API.md: PublicKeyCredentialRequestOptionsJSON), for a
// known user, an unknown one and a usernameless ceremony; the body is plain canonical JSON.
TEST_F(WebAuthnHttp, AuthenticationOptionsHaveExactlyTheContractsMembers) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  const std::string key_id = Base64UrlEncode(key_.credential_id);
  for (const char* who : {"alice", "mallory", ""}) {
    Json req = Json::object();
    if (*who) req["username"] = who;
    HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", req);
    ASSERT_EQ(opts.status, 200) << who;
    Json j = opts.json();
    EXPECT_EQ(opts.body, DumpJson(j)) << who;
    ASSERT_EQ(j.size(), 2u) << who;
    EXPECT_TRUE(j["ceremony"].is_string());
    const Json& pk = j["publicKey"];
    std::vector<std::string> members;
    for (const auto& [k, v] : pk.items()) members.push_back(k);
    EXPECT_EQ(members, (std::vector<std::string>{"allowCredentials", "challenge", "rpId", "timeout", "userVerification"}))
        << who;
    EXPECT_EQ(pk["challenge"].get<std::string>().size(), 43u);  // 32 random bytes, base64url
    EXPECT_EQ(pk["rpId"], "localhost");
    EXPECT_EQ(pk["timeout"], 300000);
    EXPECT_EQ(pk["userVerification"], "preferred");
    if (!*who) {
      EXPECT_EQ(pk["allowCredentials"], Json::array());
      continue;
    }
    ASSERT_EQ(pk["allowCredentials"].size(), 1u) << who;
    const Json& d = pk["allowCredentials"][0];
    EXPECT_EQ(d["type"], "public-key");
    EXPECT_EQ(d["transports"], Json({"usb"}));
    EXPECT_EQ(d.size(), 3u);
    if (std::string(who) == "alice") {
      EXPECT_EQ(d["id"], key_id);
    } else {
      EXPECT_NE(d["id"], key_id);
    }
  }
}

TEST_F(WebAuthnHttp, WA03_UserHandleIsRequiredAndMustBeTheOwners) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  ASSERT_EQ(server_.Authctl({"user", "add", "bob"}).exit_code, 0);
  std::string alice_id = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + admin_}}).json()["user"]["id"];
  std::string bob_id = server_.Get("/v1/admin/users/bob", {{"Authorization", "Bearer " + admin_}}).json()["user"]["id"];
  auto usernameless = [&](const std::optional<std::string>& user_handle) {
    HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", Json::object());
    EXPECT_EQ(opts.json()["publicKey"]["allowCredentials"], Json::array());
    Json body = AssertionJson(opts.json(), key_.NewAssertion());
    if (user_handle) body["credential"]["response"]["userHandle"] = *user_handle;
    return server_.PostJson("/v1/webauthn/authentication/verify", body);
  };
  EXPECT_EQ(usernameless(std::nullopt).json()["code"], "missing_user_handle");
  EXPECT_EQ(usernameless(bob_id).json()["code"], "user_handle_mismatch");
  HttpResult ok = usernameless(alice_id);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["user"]["username"], "alice");
  // With a username, a userHandle that is not that user's is refused too.
  HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  Json body = AssertionJson(opts.json(), key_.NewAssertion());
  body["credential"]["response"]["userHandle"] = bob_id;
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", body).json()["code"], "user_handle_mismatch");
}

TEST_F(WebAuthnHttp, WA14_EnvelopeErrorsAre400) {
  ASSERT_EQ(Enrol(Code("alice")).status, 201);
  HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  Json body = AssertionJson(opts.json(), key_.NewAssertion());
  Json wrong_id = body;
  wrong_id["credential"]["id"] = Base64UrlEncode(Bytes(32, 9));
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", wrong_id).json()["code"], "bad_request");
  Json padded = body;
  padded["credential"]["response"]["signature"] = padded["credential"]["response"]["signature"].get<std::string>() + "==";
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", padded).status, 400);
  Json type = body;
  type["credential"]["type"] = "password";
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", type).status, 400);
  // None of these consumed the ceremony: the genuine response still works.
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", body).status, 200);
}

TEST_F(WebAuthnHttp, WR05_ExpiredCeremonyIsRefused) {
  AuthdProcess fast(std::map<std::string, std::string>{{"AUTHD_CEREMONY_TTL", "10"}});
  ASSERT_TRUE(fast.Start()) << fast.log();
  ASSERT_EQ(fast.Authctl({"user", "add", "alice"}).exit_code, 0);
  std::string code = fast.Authctl({"enrollment-code", "alice"}).out;
  code.pop_back();
  HttpResult opts = fast.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}, {"enrollment_code", code}});
  ASSERT_EQ(opts.status, 200);
  std::this_thread::sleep_for(std::chrono::seconds(11));
  HttpResult late = fast.PostJson("/v1/webauthn/registration/verify", RegistrationJson(opts.json(), key_.NewRegistration()));
  EXPECT_EQ(late.status, 422);
  EXPECT_EQ(late.json()["code"], "challenge_expired");
}

TEST_F(WebAuthnHttp, PamU2fUsersKeepTheirKeysThroughTheAppIdExtension) {
  TestAuthenticator u2f;  // a key registered by pamu2fcfg for the "pam://station" origin
  u2f.rp_id = "pam://station";
  TestAuthenticator old_u2f;
  old_u2f.rp_id = "pam://station";
  auto point = [](const TestAuthenticator& k) {
    auto d = webauthn::DecodeCbor(k.CoseKey());
    Bytes xy = *webauthn::CborBytes(webauthn::MapFind(d->item.get(), int64_t{-2}));
    Bytes y = *webauthn::CborBytes(webauthn::MapFind(d->item.get(), int64_t{-3}));
    xy.insert(xy.end(), y.begin(), y.end());
    return xy;
  };
  Bytes old_point = {0x04};
  Bytes xy = point(old_u2f);
  old_point.insert(old_point.end(), xy.begin(), xy.end());
  std::string file = server_.dir().File("u2f_mappings");
  WriteFile(file, "# pam_u2f mappings\n"
                  "alice:" + Base64Encode(u2f.credential_id) + "," + Base64Encode(point(u2f)) + ",es256,+presence\n"
                  "bob:" + Base64UrlEncode(old_u2f.credential_id) + "," + HexEncode(old_point) + "\n"
                  "carol:not-a-key\n");
  CommandResult r = server_.Authctl({"credential", "import-u2f", file, "--appid", "pam://station", "--create-users"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 2 key(s) with appid pam://station; skipped 1\n");
  EXPECT_NE(r.err.find("line 4 (carol): skipped"), std::string::npos) << r.err;
  // Importing again does not duplicate.
  CommandResult again = server_.Authctl({"credential", "import-u2f", file, "--appid", "pam://station"});
  EXPECT_NE(again.err.find("registered already"), std::string::npos) << again.err;

  const std::vector<std::pair<const char*, TestAuthenticator*>> users = {{"alice", &u2f}, {"bob", &old_u2f}};
  for (const auto& [name, key] : users) {
    HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", name}});
    ASSERT_EQ(opts.status, 200);
    EXPECT_EQ(opts.json()["publicKey"]["extensions"]["appid"], "pam://station");
    Json body = AssertionVerifyBody(opts.json(), *key, key->NewAssertion(), {{"appid", true}});
    HttpResult login = server_.PostJson("/v1/webauthn/authentication/verify", body);
    EXPECT_EQ(login.status, 200) << name << " " << login.body;
  }
  // Without the appid extension the same key's rpIdHash is another relying party's.
  HttpResult opts = server_.PostJson("/v1/webauthn/authentication/options", {{"username", "alice"}});
  Json body = AssertionVerifyBody(opts.json(), u2f, u2f.NewAssertion());
  EXPECT_EQ(server_.PostJson("/v1/webauthn/authentication/verify", body).json()["code"], "rp_id_mismatch");
}

}  // namespace
}  // namespace authd::testing
