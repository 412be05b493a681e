// The admin API: Bearer roles with default deny, every route refused for every wrong role,
// and the effects of the allowed calls.

#include <gtest/gtest.h>

#include "integration/harness.h"

namespace authd::testing {
namespace {

struct Route {
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::string> roles;  // roles allowed besides admin
};

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"POST", "/v1/admin/users", R"({"username":"newbie"})", {"enroller"}},
      {"GET", "/v1/admin/users", "", {"auditor"}},
      {"GET", "/v1/admin/users/alice", "", {"auditor"}},
      {"PATCH", "/v1/admin/users/alice", R"({"status":"active"})", {}},
      {"POST", "/v1/admin/users/alice/enrollment-codes", "", {"enroller"}},
      {"DELETE", "/v1/admin/users/alice/credentials/unknown-id", "", {"enroller"}},
      {"POST", "/v1/admin/users/alice/revoke-tokens", "", {"enroller"}},
      {"POST", "/v1/admin/users/alice/yubiotp",
       R"({"public_id":"vvccccfhcbcb","private_id":"0123456789ab","aes_key":"00112233445566778899aabbccddeeff"})",
       {"enroller"}},
      {"POST", "/v1/admin/users/alice/unlock", "", {"enroller"}},
      {"POST", "/v1/admin/tokens/revoke", R"({"jti":"abc"})", {"enroller"}},
      {"POST", "/v1/admin/clients", R"({"name":"app"})", {}},
      {"GET", "/v1/admin/audit", "", {"auditor"}},
  };
  return kRoutes;
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.log();
    tokens_["admin"] = server_.TokenFor("root", {"admin"});
    tokens_["enroller"] = server_.TokenFor("eve", {"enroller"});
    tokens_["auditor"] = server_.TokenFor("audrey", {"auditor"});
    tokens_["none"] = server_.TokenFor("plain", {});
    ASSERT_EQ(server_.Authctl({"user", "add", "alice"}).exit_code, 0);
    for (auto& [role, t] : tokens_) ASSERT_FALSE(t.empty()) << role;
  }

  HttpResult Call(const Route& r, const std::string& token) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (!r.body.empty()) h["Content-Type"] = "application/json";
    return server_.Request(r.method, r.path, r.body, h);
  }

  AuthdProcess server_;
  std::map<std::string, std::string> tokens_;
};

TEST_F(AdminTest, EveryRouteRefusesMissingAndInvalidTokens) {
  for (const auto& r : Routes()) {
    HttpResult none = Call(r, "");
    EXPECT_EQ(none.status, 401) << r.method << " " << r.path;
    EXPECT_EQ(none.json().value("code", ""), "invalid_token");
    EXPECT_EQ(none.header("www-authenticate"), "Bearer error=\"invalid_token\"");
    EXPECT_EQ(Call(r, tokens_["admin"] + "x").status, 401) << r.path;
    EXPECT_EQ(Call(r, "not.a.token").status, 401) << r.path;
  }
}

TEST_F(AdminTest, EveryRouteIsRefusedForEveryRoleNotGrantedIt) {
  for (const auto& r : Routes()) {
    for (const std::string role : {"none", "enroller", "auditor"}) {
      bool allowed = std::find(r.roles.begin(), r.roles.end(), role) != r.roles.end();
      HttpResult res = Call(r, tokens_[role]);
      if (allowed) {
        EXPECT_NE(res.status, 403) << role << " " << r.method << " " << r.path << " " << res.body;
        EXPECT_NE(res.status, 401) << role << " " << r.method << " " << r.path;
      } else {
        EXPECT_EQ(res.status, 403) << role << " " << r.method << " " << r.path << " " << res.body;
        EXPECT_EQ(res.json().value("code", ""), "forbidden");
      }
    }
    HttpResult admin = Call(r, tokens_["admin"]);
    EXPECT_TRUE((admin.status >= 200 && admin.status < 300) || admin.status == 404 || admin.status == 409)
        << r.method << " " << r.path << " " << admin.status << " " << admin.body;
  }
}

TEST_F(AdminTest, RefusedCallsChangeNothingAndAreAudited) {
  HttpResult r = server_.Request("PATCH", "/v1/admin/users/alice", R"({"status":"disabled"})",
                                 {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + tokens_["enroller"]}});
  EXPECT_EQ(r.status, 403);
  HttpResult alice = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + tokens_["auditor"]}});
  EXPECT_EQ(alice.json()["user"]["status"], "active");
  HttpResult audit = server_.Get("/v1/admin/audit?limit=5", {{"Authorization", "Bearer " + tokens_["auditor"]}});
  bool found = false;
  Json events = audit.json()["events"];
  for (const auto& e : events) {
    found = found || (e["action"] == "access.denied" && e["actor"] == "user:eve" &&
                      e["detail"]["permission"] == "change_user_status");
  }
  EXPECT_TRUE(found) << audit.body;
}

TEST_F(AdminTest, EnrollerCannotCreatePrivilegedUsers) {
  HttpResult r = server_.PostJson("/v1/admin/users", {{"username", "mallory"}, {"roles", {"admin"}}}, tokens_["enroller"]);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(server_.Get("/v1/admin/users/mallory", {{"Authorization", "Bearer " + tokens_["admin"]}}).status, 404);
}

TEST_F(AdminTest, UserLifecycleThroughTheApi) {
  const std::string admin = tokens_["admin"];
  std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + admin}};
  HttpResult created = server_.PostJson("/v1/admin/users", {{"username", "Bob"}, {"display_name", "Bob B."}}, admin);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["user"]["username"], "bob");
  EXPECT_EQ(created.json()["user"]["display_name"], "Bob B.");
  EXPECT_EQ(server_.PostJson("/v1/admin/users", {{"username", "bob"}}, admin).json().value("code", ""), "user_exists");

  HttpResult got = server_.Get("/v1/admin/users/BOB", auth);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["user"]["credentials"], Json::array());
  EXPECT_EQ(server_.Get("/v1/admin/users/nobody", auth).json().value("code", ""), "not_found");

  HttpResult page = server_.Get("/v1/admin/users?limit=2", auth);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.json()["users"].size(), 2u);
  std::string cursor = page.json()["next_cursor"];
  HttpResult page2 = server_.Get("/v1/admin/users?limit=2&cursor=" + cursor, auth);
  EXPECT_EQ(page2.json()["users"][0]["username"], "bob");
  EXPECT_EQ(server_.Get("/v1/admin/users?q=bo", auth).json()["users"].size(), 1u);
  EXPECT_EQ(server_.Get("/v1/admin/users?limit=0", auth).status, 400);
  EXPECT_EQ(server_.Get("/v1/admin/users?q=a&q=b", auth).status, 400);

  HttpResult code = server_.Request("POST", "/v1/admin/users/bob/enrollment-codes", R"({"ttl":3600})",
                                    {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
  ASSERT_EQ(code.status, 201) << code.body;
  EXPECT_EQ(code.json()["enrollment_code"].get<std::string>().size(), 29u);
  EXPECT_EQ(server_.Request("POST", "/v1/admin/users/bob/enrollment-codes", R"({"ttl":5})",
                            {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}}).status,
            400);

  // Disabling bob revokes bob's tokens.
  std::string bob_token = server_.Authctl({"token", "issue", "bob"}).out;
  bob_token.pop_back();
  EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + bob_token}}).status, 403);
  HttpResult disabled = server_.Request("PATCH", "/v1/admin/users/bob", R"({"status":"disabled"})",
                                        {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(disabled.json()["user"]["status"], "disabled");
  EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + bob_token}}).status, 401);
  EXPECT_EQ(server_.Request("PATCH", "/v1/admin/users/bob", R"({"status":"gone"})",
                            {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}}).status,
            400);
  EXPECT_EQ(server_.Request("PATCH", "/v1/admin/users/bob", R"({"status":"active","roles":["admin"]})",
                            {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}}).status,
            400);
}

TEST_F(AdminTest, RevokeTokensOfAUserAndByJti) {
  const std::string admin = tokens_["admin"];
  HttpResult r = server_.PostJson("/v1/admin/users/audrey/revoke-tokens", Json::object(), admin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["revoked"], 1);
  EXPECT_EQ(server_.Get("/v1/admin/audit", {{"Authorization", "Bearer " + tokens_["auditor"]}}).status, 401);

  std::string t = server_.Authctl({"token", "issue", "eve"}).out;
  t.pop_back();
  // Find its jti through introspection by a client.
  Json client = server_.Client("app");
  HttpResult intro = server_.Request("POST", "/v1/tokens/introspect", "token=" + t,
                                     {{"Content-Type", "application/x-www-form-urlencoded"},
                                      {"Authorization", BasicAuth(client["client_id"], client["client_secret"])}});
  std::string jti = intro.json()["jti"];
  HttpResult revoked = server_.PostJson("/v1/admin/tokens/revoke", {{"jti", jti}}, admin);
  EXPECT_EQ(revoked.json()["revoked"], 1);
  EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + t}}).status, 401);
  EXPECT_EQ(server_.PostJson("/v1/admin/tokens/revoke", {{"jti", jti}}, admin).json()["revoked"], 0);
}

TEST_F(AdminTest, CreateClientShowsSecretsOnce) {
  HttpResult r = server_.PostJson("/v1/admin/clients",
                                  {{"name", "wiki"}, {"scopes", {"introspect"}}, {"allowed_ips", {"10.0.0.0/8"}}},
                                  tokens_["admin"]);
  ASSERT_EQ(r.status, 201) << r.body;
  Json c = r.json();
  EXPECT_EQ(c["client_id"].get<std::string>().rfind("c_", 0), 0u);
  EXPECT_EQ(c["client_secret"].get<std::string>().size(), 43u);
  EXPECT_GE(c["ykval_id"].get<int>(), 1);
  EXPECT_EQ(c["scopes"], Json({"introspect"}));
  EXPECT_EQ(server_.PostJson("/v1/admin/clients", {{"name", "x"}, {"allowed_ips", {"10.0.0.0/99"}}}, tokens_["admin"]).status,
            400);
  EXPECT_EQ(server_.PostJson("/v1/admin/clients", {{"name", "x"}, {"scopes", {"root"}}}, tokens_["admin"]).status, 400);
}

TEST_F(AdminTest, AuditListIsNewestFirstWithPaging) {
  std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + tokens_["auditor"]}};
  HttpResult all = server_.Get("/v1/admin/audit?limit=3", auth);
  ASSERT_EQ(all.status, 200);
  Json ev = all.json()["events"];
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_GT(ev[0]["seq"].get<int64_t>(), ev[1]["seq"].get<int64_t>());
  int64_t before = all.json()["next_before"];
  HttpResult next = server_.Get("/v1/admin/audit?limit=3&before=" + std::to_string(before), auth);
  EXPECT_LT(next.json()["events"][0]["seq"].get<int64_t>(), before);
  EXPECT_EQ(server_.Get("/v1/admin/audit?since=2999-01-01T00:00:00Z", auth).json()["events"].size(), 0u);
  EXPECT_EQ(server_.Get("/v1/admin/audit?since=yesterday", auth).status, 400);
  for (const auto& e : ev) {
    EXPECT_TRUE(e.contains("time") && e.contains("actor") && e.contains("action") && e.contains("target") &&
                e.contains("outcome") && e.contains("source") && e.contains("request_id"));
  }
}

}  // namespace
}  // namespace authd::testing
