#include "authd/runtime/config.h"

#include <gtest/gtest.h>

#include "util/temp_dir.h"

namespace authd::runtime {
namespace {

TEST(Config, DefaultsMatchTheContract) {
  auto c = LoadConfig("", {});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen(), "127.0.0.1:8080");
  EXPECT_EQ(c->db, "./authd.db");
  EXPECT_EQ(c->rp_id, "localhost");
  EXPECT_EQ(c->origins, std::vector<std::string>{"http://localhost:8080"});
  EXPECT_EQ(c->issuer, "http://localhost:8080");
  EXPECT_EQ(c->audience, c->issuer);
  EXPECT_EQ(c->token_ttl, 300);
  EXPECT_EQ(c->ceremony_ttl, 300);
  EXPECT_EQ(c->master_key_file, "./authd.master.key");
  EXPECT_FALSE(c->tls());
}

TEST(Config, EnvironmentWinsOverFile) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("authd.conf"),
                     "# comment\nlisten = 0.0.0.0:9000\ndb = /var/lib/authd/a.db\ntoken_ttl=600\n"
                     "origins = https://a.example, https://b.example\n");
  auto c = LoadConfig(dir.File("authd.conf"), {{"AUTHD_TOKEN_TTL", "120"}, {"AUTHD_RP_ID", "example"}});
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 9000);
  EXPECT_EQ(c->token_ttl, 120);
  EXPECT_EQ(c->rp_id, "example");
  EXPECT_EQ(c->origins.size(), 2u);
  EXPECT_EQ(c->issuer, "https://a.example");
  EXPECT_EQ(c->master_key_file, "/var/lib/authd/authd.master.key");
}

TEST(Config, RefusesBadValuesWithTheSettingName) {
  struct Case {
    const char* var;
    const char* value;
  } cases[] = {{"AUTHD_LISTEN", "8080"},        {"AUTHD_LISTEN", "host:99999"},
               {"AUTHD_TOKEN_TTL", "5"},        {"AUTHD_TOKEN_TTL", "12x"},
               {"AUTHD_ORIGINS", "example.org"}, {"AUTHD_ORIGINS", "https://a.example/path"},
               {"AUTHD_TOKEN_ALG", "HS256"},    {"AUTHD_AUDIT_PSEUDONYMIZE", "maybe"},
               {"AUTHD_TLS_CERT", "/only/cert.pem"}};
  for (const auto& k : cases) {
    auto c = LoadConfig("", {{k.var, k.value}});
    EXPECT_FALSE(c) << k.var << "=" << k.value;
    if (!c && std::string(k.var) != "AUTHD_TLS_CERT") {
      EXPECT_NE(c.error().detail.find(k.var), std::string::npos);
    }
  }
}

TEST(Config, RefusesUnknownFileKeysAndMissingFiles) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("a.conf"), "listen = 127.0.0.1:1\ntypo_setting = 1\n");
  auto c = LoadConfig(dir.File("a.conf"), {});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find(":2:"), std::string::npos);
  EXPECT_FALSE(LoadConfig(dir.File("missing.conf"), {}));
}

TEST(Config, TopOriginsEnableIframesAndAreValidated) {
  auto none = LoadConfig("", {});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->top_origins.empty());
  auto some = LoadConfig("", {{"AUTHD_TOP_ORIGINS", "https://portal.example.org"}});
  ASSERT_TRUE(some);
  EXPECT_EQ(some->top_origins, std::vector<std::string>{"https://portal.example.org"});
  EXPECT_FALSE(LoadConfig("", {{"AUTHD_TOP_ORIGINS", "portal.example.org"}}));
}

TEST(Config, IPv6ListenAddress) {
  auto c = LoadConfig("", {{"AUTHD_LISTEN", "[::1]:0"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_host, "::1");
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->listen(), "[::1]:0");
}

}  // namespace
}  // namespace authd::runtime
