// Start, stop and restart: data survives, a wrong key refuses to start, SIGTERM under load
// loses no acknowledged write, secrets never reach the log, TLS, and authctl's contract.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "integration/harness.h"

namespace authd::testing {
namespace {

TEST(Lifecycle, RestartKeepsUsersClientsTokensAndKeys) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  std::string token = server.TokenFor("root", {"admin"});
  Json client = server.Client("app");
  std::string jwks = server.Get("/.well-known/jwks.json").body;
  EXPECT_EQ(server.Stop(SIGTERM), 0);

  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_EQ(server.Get("/.well-known/jwks.json").body, jwks);
  HttpResult users = server.Get("/v1/admin/users", {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(users.status, 200) << users.body;
  EXPECT_EQ(users.json()["users"][0]["username"], "root");
  HttpResult intro = server.Request("POST", "/v1/tokens/introspect", "token=" + token,
                                    {{"Content-Type", "application/x-www-form-urlencoded"},
                                     {"Authorization", BasicAuth(client["client_id"], client["client_secret"])}});
  EXPECT_EQ(intro.json()["active"], true);
}

TEST(Lifecycle, WrongMasterKeyRefusesToStart) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  WriteFile(server.dir().File("other.key"), std::string(64, 'a') + "\n");
  ::chmod(server.dir().File("other.key").c_str(), 0600);
  server.env()["AUTHD_MASTER_KEY_FILE"] = server.dir().File("other.key");
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.exit_code(), 1);
  EXPECT_NE(server.log().find("does not open"), std::string::npos) << server.log();
}

TEST(Lifecycle, BadConfigurationExitsWithAReason) {
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_TOKEN_TTL", "soon"}});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.exit_code(), 1);
  EXPECT_NE(server.log().find("AUTHD_TOKEN_TTL"), std::string::npos) << server.log();
}

TEST(Lifecycle, PortInUseIsAClearError) {
  AuthdProcess first;
  ASSERT_TRUE(first.Start());
  AuthdProcess second(std::map<std::string, std::string>{{"AUTHD_LISTEN", "127.0.0.1:" + std::to_string(first.port())}});
  EXPECT_FALSE(second.Start());
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_NE(second.log().find("cannot listen"), std::string::npos) << second.log();
}

TEST(Lifecycle, SigtermUnderLoadLosesNoAcknowledgedWrite) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  std::string token = server.TokenFor("root", {"admin"});
  std::mutex mu;
  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> counter{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 400 && !stop; ++i) {
        std::string name = "user" + std::to_string(counter++);
        HttpResult r = server.PostJson("/v1/admin/users", {{"username", name}}, token);
        if (r.status == 201) {
          std::lock_guard lock(mu);
          acked.insert(name);
        }
      }
    });
  }
  while (true) {
    std::lock_guard lock(mu);
    if (acked.size() >= 50) break;
  }
  int code = server.Stop(SIGTERM);
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(code, 0) << server.log();
  ASSERT_GE(acked.size(), 50u);

  // Every acknowledged user is in the database after the stop.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(server.dir().File("authd.db").c_str(), &db), SQLITE_OK);
  std::set<std::string> stored;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT username FROM users", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) stored.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  for (const auto& name : acked) EXPECT_TRUE(stored.count(name)) << name << " was acknowledged but is missing";
}

TEST(Lifecycle, SecretsNeverReachTheLog) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  std::string token = server.TokenFor("root", {"admin"});
  HttpResult client = server.PostJson("/v1/admin/clients", {{"name", "app"}}, token);
  ASSERT_EQ(client.status, 201);
  HttpResult user = server.PostJson("/v1/admin/users", {{"username", "alice"}}, token);
  HttpResult code = server.Request("POST", "/v1/admin/users/alice/enrollment-codes", "",
                                   {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(code.status, 201) << code.body;
  std::string secret = client.json()["client_secret"];
  std::string ykval = client.json()["ykval_key"];
  std::string enrol = code.json()["enrollment_code"];
  // A failed client authentication with the real secret as the id, and an introspection.
  server.Request("POST", "/v1/tokens/introspect", "token=" + token,
                 {{"Content-Type", "application/x-www-form-urlencoded"},
                  {"Authorization", BasicAuth(client.json()["client_id"], secret)}});
  server.Stop(SIGTERM);
  std::string log = server.log();
  ASSERT_NE(log.find("\"event\":\"request\""), std::string::npos);  // the log is not empty
  for (const auto& s : {secret, ykval, enrol, token}) EXPECT_EQ(log.find(s), std::string::npos) << "leaked: " << s;
  std::string master = ReadFile(server.dir().File("authd.master.key"));
  EXPECT_EQ(log.find(master.substr(0, 64)), std::string::npos);
}

TEST(Lifecycle, HttpsWithTls12MinimumAndHsts) {
  TempDir certs;
  CommandResult gen = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", certs.File("key.pem"),
                           "-out", certs.File("cert.pem")},
                          {}, certs.path());
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_TLS_CERT", certs.File("cert.pem")}, {"AUTHD_TLS_KEY", certs.File("key.pem")}});
  ASSERT_TRUE(server.Start()) << server.log();
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/healthz";
  CommandResult ok = RunCommand({"/usr/bin/curl", "-sk", "-D", "-", "--tlsv1.2", url}, {}, certs.path());
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("{\"status\":\"ok\"}"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("Strict-Transport-Security: max-age="), std::string::npos) << ok.out;
  CommandResult old = RunCommand({"/usr/bin/curl", "-sk", "--tlsv1.1", "--tls-max", "1.1", url}, {}, certs.path());
  EXPECT_NE(old.exit_code, 0) << "TLS 1.1 must be refused";
  CommandResult plain = RunCommand({"/usr/bin/curl", "-s", "http://127.0.0.1:" + std::to_string(server.port()) + "/healthz"},
                            {}, certs.path());
  EXPECT_EQ(plain.out.find("\"ok\""), std::string::npos);
}

TEST(Authctl, ExitCodesAndHelp) {
  AuthdProcess server;
  EXPECT_EQ(server.Authctl({"--help"}).exit_code, 0);
  for (const auto& group : {"user", "client", "token", "audit", "credential", "enrollment-code", "key"}) {
    CommandResult h = server.Authctl({group, "--help"});
    EXPECT_EQ(h.exit_code, 0) << group;
    EXPECT_FALSE(h.out.empty()) << group;
  }
  EXPECT_EQ(server.Authctl({"user", "add", "--help"}).exit_code, 0);
  CommandResult usage = server.Authctl({"user", "add"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("USERNAME"), std::string::npos) << usage.err;
  EXPECT_EQ(server.Authctl({"frobnicate"}).exit_code, 2);

  CommandResult ok = server.Authctl({"user", "add", "alice", "--role", "enroller"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  CommandResult dup = server.Authctl({"user", "add", "alice"});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_EQ(dup.err, "authctl: a user with that username exists\n");
  CommandResult bad = server.Authctl({"user", "add", "bad name"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("letters"), std::string::npos);

  CommandResult code = server.Authctl({"enrollment-code", "alice", "--ttl", "600"});
  EXPECT_EQ(code.exit_code, 0);
  EXPECT_EQ(code.out.size(), 30u);  // the code and a newline, nothing else
  EXPECT_EQ(server.Authctl({"enrollment-code", "ghost"}).exit_code, 1);

  CommandResult client = server.Authctl({"client", "add", "wiki", "--scope", "introspect", "--allow-ip", "10.0.0.0/8"});
  ASSERT_EQ(client.exit_code, 0);
  auto j = ParseJsonStrict(client.out);
  ASSERT_TRUE(j);
  for (const char* k : {"client_id", "client_secret", "ykval_id", "ykval_key"}) EXPECT_TRUE(j->contains(k)) << k;

  EXPECT_EQ(server.Authctl({"token", "issue", "alice"}).exit_code, 0);
  CommandResult revoke = server.Authctl({"token", "revoke-user", "alice"});
  EXPECT_EQ(revoke.out, "revoked 1 live token(s) of alice\n");
  EXPECT_EQ(server.Authctl({"credential", "revoke", "alice", "nope"}).exit_code, 1);
  EXPECT_EQ(server.Authctl({"user", "disable", "alice"}).out, "alice is now disabled\n");
  CommandResult show = server.Authctl({"user", "show", "alice"});
  EXPECT_NE(show.out.find("\"status\":\"disabled\""), std::string::npos);
  CommandResult rotate = server.Authctl({"key", "rotate"});
  EXPECT_EQ(rotate.exit_code, 0) << rotate.err;

  CommandResult verify = server.Authctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("audit log intact"), std::string::npos);
  CommandResult tail = server.Authctl({"audit", "tail", "-n", "3"});
  EXPECT_EQ(std::count(tail.out.begin(), tail.out.end(), '\n'), 3);
}

TEST(Authctl, AuditVerifyFailsAfterTampering) {
  AuthdProcess server;
  ASSERT_EQ(server.Authctl({"user", "add", "alice"}).exit_code, 0);
  ASSERT_EQ(server.Authctl({"user", "add", "bob"}).exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(server.dir().File("authd.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE audit SET actor = 'someone-else' WHERE seq = 1", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  CommandResult verify = server.Authctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_NE(verify.err.find("damaged at event 1"), std::string::npos) << verify.err;
}

TEST(Authctl, SeesWhatTheServerWrites) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start());
  std::string token = server.TokenFor("root", {"admin"});
  ASSERT_EQ(server.PostJson("/v1/admin/users", {{"username", "viaapi"}}, token).status, 201);
  CommandResult show = server.Authctl({"user", "show", "viaapi"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  ASSERT_EQ(server.Authctl({"user", "add", "viacli"}).exit_code, 0);
  EXPECT_EQ(server.Get("/v1/admin/users/viacli", {{"Authorization", "Bearer " + token}}).status, 200);
}

}  // namespace
}  // namespace authd::testing

namespace authd::testing {
namespace {

TEST(Backup, OnlineBackupRestoresExactlyTheStateItCaptured) {
  AuthdProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  std::string token = server.TokenFor("root", {"admin"});
  ASSERT_EQ(server.PostJson("/v1/admin/users", {{"username", "before"}}, token).status, 201);
  std::string file = server.dir().File("nightly.authd-backup");
  CommandResult b = server.Authctl({"backup", file});  // while authd serves
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("written to"), std::string::npos);
  ASSERT_EQ(server.PostJson("/v1/admin/users", {{"username", "after"}}, token).status, 201);
  // The backup holds no readable user data: it is sealed.
  std::string bytes = ReadFile(file);
  EXPECT_EQ(bytes.find("before"), std::string::npos);
  EXPECT_EQ(bytes.find("SQLite format"), std::string::npos);
  EXPECT_EQ(server.Stop(SIGTERM), 0);

  CommandResult refuse = server.Authctl({"restore", file});
  EXPECT_EQ(refuse.exit_code, 1);
  EXPECT_NE(refuse.err.find("--force"), std::string::npos);
  CommandResult r = server.Authctl({"restore", file, "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  ASSERT_TRUE(server.Start()) << server.log();
  auto auth = std::map<std::string, std::string>{{"Authorization", "Bearer " + token}};
  EXPECT_EQ(server.Get("/v1/admin/users/before", auth).status, 200);
  EXPECT_EQ(server.Get("/v1/admin/users/after", auth).status, 404);
  EXPECT_EQ(server.Authctl({"audit", "verify"}).exit_code, 0);
}

TEST(Backup, RestoreRefusesAnotherKeyAndDamagedFiles) {
  AuthdProcess server;
  ASSERT_EQ(server.Authctl({"user", "add", "alice"}).exit_code, 0);
  std::string file = server.dir().File("b");
  ASSERT_EQ(server.Authctl({"backup", file}).exit_code, 0);

  std::string damaged = ReadFile(file);
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 1);
  WriteFile(server.dir().File("damaged"), damaged);
  CommandResult d = server.Authctl({"restore", server.dir().File("damaged"), "--force"});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("does not open"), std::string::npos) << d.err;

  WriteFile(server.dir().File("other.key"), std::string(64, 'b') + "\n");
  ::chmod(server.dir().File("other.key").c_str(), 0600);
  server.env()["AUTHD_MASTER_KEY_FILE"] = server.dir().File("other.key");
  CommandResult k = server.Authctl({"restore", file, "--force"});
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_NE(k.err.find("does not open"), std::string::npos) << k.err;

  WriteFile(server.dir().File("junk"), "hello");
  EXPECT_EQ(server.Authctl({"restore", server.dir().File("junk"), "--force"}).exit_code, 1);
  // The database is untouched by the refused restores.
  server.env().erase("AUTHD_MASTER_KEY_FILE");
  EXPECT_EQ(server.Authctl({"user", "show", "alice"}).exit_code, 0);
}

}  // namespace
}  // namespace authd::testing
