#include "authd/runtime/runtime.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "authd/base/crypto.h"
#include "util/temp_dir.h"

namespace authd::runtime {
namespace {

Config InDir(const testing::TempDir& dir) {
  auto c = LoadConfig("", {{"AUTHD_DB", dir.File("authd.db")}});
  return *c;
}

TEST(Runtime, FirstStartCreatesAPrivateMasterKeyAndReopens) {
  testing::TempDir dir;
  Config c = InDir(dir);
  {
    auto rt = OpenRuntime(c);
    ASSERT_TRUE(rt) << rt.error().detail;
  }
  struct stat st{};
  ASSERT_EQ(stat(c.master_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(testing::ReadFile(c.master_key_file).size(), 65u);
  EXPECT_TRUE(OpenRuntime(c));
}

TEST(Runtime, WrongMasterKeyRefusesWithAClearSentence) {
  testing::TempDir dir;
  Config c = InDir(dir);
  ASSERT_TRUE(OpenRuntime(c));
  std::string other = dir.File("other.key");
  ASSERT_TRUE(WriteMasterKey(other, RandomSecret(32)));
  c.master_key_file = other;
  auto rt = OpenRuntime(c);
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().detail.find("does not open"), std::string::npos);
}

TEST(Runtime, MissingMasterKeyForAnExistingDatabaseIsRefused) {
  testing::TempDir dir;
  Config c = InDir(dir);
  ASSERT_TRUE(OpenRuntime(c));
  ASSERT_EQ(::unlink(c.master_key_file.c_str()), 0);
  auto rt = OpenRuntime(c);
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().detail.find("restore the key file"), std::string::npos);
  // And no new key was silently created in its place.
  struct stat st{};
  EXPECT_NE(stat(c.master_key_file.c_str(), &st), 0);
}

TEST(Runtime, KeyFileReadableByOthersIsRefused) {
  testing::TempDir dir;
  Config c = InDir(dir);
  ASSERT_TRUE(OpenRuntime(c));
  ASSERT_EQ(::chmod(c.master_key_file.c_str(), 0644), 0);
  auto rt = OpenRuntime(c);
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().detail.find("chmod 600"), std::string::npos);
}

TEST(Runtime, WebAuthnPolicyFollowsTheSettings) {
  auto c = LoadConfig("", {{"AUTHD_TOP_ORIGINS", "https://portal.example.org"}, {"AUTHD_ATTESTATION", "trusted"},
                           {"AUTHD_COUNTER_POLICY", "disable"}, {"AUTHD_USER_VERIFICATION", "required"},
                           {"AUTHD_AAGUID_DENY", "cb69481e-8ff7-4039-93ec-0a2729a154a8"}});
  ASSERT_TRUE(c) << c.error().detail;
  auto o = WebAuthnOptionsFrom(*c);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->origins.allow_cross_origin);
  EXPECT_EQ(o->origins.top_origins, std::vector<std::string>{"https://portal.example.org"});
  EXPECT_FALSE(o->trust.allow_none);
  EXPECT_FALSE(o->trust.allow_self);
  EXPECT_TRUE(o->trust.require_trusted_chain);
  EXPECT_EQ(o->counter_policy, domain::CounterPolicy::kRejectAndDisable);
  EXPECT_EQ(o->min_user_verification, "required");
  ASSERT_EQ(o->trust.aaguid_deny.size(), 1u);
  EXPECT_EQ(o->trust.aaguid_deny[0][0], 0xcb);
  auto plain = WebAuthnOptionsFrom(*LoadConfig("", {}));
  EXPECT_FALSE(plain->origins.allow_cross_origin);
  EXPECT_TRUE(plain->trust.allow_none && plain->trust.allow_self);
  EXPECT_FALSE(WebAuthnOptionsFrom(*LoadConfig("", {{"AUTHD_ATTESTATION_ROOTS", "/no/such.pem"}})));
}

TEST(Runtime, MalformedKeyFileIsRefused) {
  testing::TempDir dir;
  std::string path = dir.File("k");
  testing::WriteFile(path, "not hex\n");
  ::chmod(path.c_str(), 0600);
  auto k = ReadMasterKey(path);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().detail.find("64 hex"), std::string::npos);
}

}  // namespace
}  // namespace authd::runtime
