#include "authd/domain/policy.h"

#include <gtest/gtest.h>

namespace authd::domain {
namespace {

TEST(NormalizeUsername, FoldsCaseAndRefusesOddCharacters) {
  EXPECT_EQ(*NormalizeUsername("Alice.Smith@Example"), "alice.smith@example");
  EXPECT_FALSE(NormalizeUsername(""));
  EXPECT_FALSE(NormalizeUsername(std::string(65, 'a')));
  EXPECT_TRUE(NormalizeUsername(std::string(64, 'a')));
  EXPECT_FALSE(NormalizeUsername("al ice"));
  EXPECT_FALSE(NormalizeUsername("ålice"));
  EXPECT_FALSE(NormalizeUsername("-alice"));
  EXPECT_FALSE(NormalizeUsername("alice\n"));
  EXPECT_FALSE(NormalizeUsername("' OR 1=1"));
  EXPECT_EQ(NormalizeUsername("x/y").code(), ErrorCode::kInvalidUsername);
}

TEST(Roles, NormalizeAndDefaultDeny) {
  EXPECT_EQ(*NormalizeRoles({"enroller", "admin", "enroller"}), (std::vector<std::string>{"admin", "enroller"}));
  EXPECT_FALSE(NormalizeRoles({"root"}));
  EXPECT_TRUE(RolesAllow({"admin"}, Permission::kManageClients));
  EXPECT_TRUE(RolesAllow({"enroller"}, Permission::kCreateUser));
  EXPECT_FALSE(RolesAllow({"enroller"}, Permission::kGrantRoles));
  EXPECT_FALSE(RolesAllow({"enroller"}, Permission::kReadAudit));
  EXPECT_FALSE(RolesAllow({"enroller"}, Permission::kChangeUserStatus));
  EXPECT_TRUE(RolesAllow({"auditor"}, Permission::kReadAudit));
  EXPECT_FALSE(RolesAllow({"auditor"}, Permission::kRevokeTokens));
  EXPECT_FALSE(RolesAllow({}, Permission::kReadUsers));
}

TEST(Scopes, EmptyMeansAllAndUnknownIsRefused) {
  EXPECT_EQ(NormalizeScopes({})->size(), 4u);
  EXPECT_EQ(*NormalizeScopes({"revoke", "introspect"}), (std::vector<std::string>{"introspect", "revoke"}));
  EXPECT_FALSE(NormalizeScopes({"admin"}));
}

TEST(IpAllowList, MatchesNetworks) {
  auto list = IpAllowList::Parse({"10.0.0.0/8", "192.168.1.7", "2001:db8::/32"});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->Allows("10.1.2.3"));
  EXPECT_TRUE(list->Allows("::ffff:10.9.9.9"));
  EXPECT_FALSE(list->Allows("11.0.0.1"));
  EXPECT_TRUE(list->Allows("192.168.1.7"));
  EXPECT_FALSE(list->Allows("192.168.1.8"));
  EXPECT_TRUE(list->Allows("2001:db8:1::5"));
  EXPECT_FALSE(list->Allows("2001:db9::1"));
  EXPECT_FALSE(list->Allows("not-an-address"));
  EXPECT_TRUE(IpAllowList::Parse({})->Allows("1.2.3.4"));
  EXPECT_TRUE(IpAllowList::Parse({"127.0.0.0/9"})->Allows("127.0.0.1"));
}

TEST(IpAllowList, RefusesMalformedEntries) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "x", "10.0.0.0/", "::/129", "1.2.3.4/-1", "1.2.3.4/8/8", "", "/8"}) {
    EXPECT_FALSE(IpAllowList::Parse({bad})) << bad;
  }
}

// No address (an empty view, whose data may be null) is in no network, and reads nothing.
TEST(IpAllowList, NoAddressIsInNoNetwork) {
  auto list = IpAllowList::Parse({"0.0.0.0/0", "::/0"});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->Allows("203.0.113.9"));
  EXPECT_FALSE(list->Allows(std::string_view()));
  EXPECT_FALSE(list->Allows(""));
}

TEST(Lists, SplitAndJoin) {
  EXPECT_EQ(SplitList(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(JoinList({"a", "b"}), "a,b");
  EXPECT_TRUE(SplitList("").empty());
}

}  // namespace
}  // namespace authd::domain
