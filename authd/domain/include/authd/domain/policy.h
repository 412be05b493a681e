// Names, roles and permissions: the rules of who may do what.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "authd/base/result.h"

namespace authd::domain {

// Usernames are ASCII: 1-64 characters of a-z 0-9 . _ @ -, starting with a letter or digit.
// Upper case is folded to lower case; anything else (including non-ASCII, which invites
// look-alike names) is refused with kInvalidUsername.
Result<std::string> NormalizeUsername(std::string_view raw);

inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleEnroller = "enroller";
inline constexpr std::string_view kRoleAuditor = "auditor";

// Sorted, de-duplicated roles; kInvalidArgument for an unknown role.
Result<std::vector<std::string>> NormalizeRoles(const std::vector<std::string>& roles);

enum class Permission {
  kCreateUser,
  kGrantRoles,
  kReadUsers,
  kChangeUserStatus,
  kIssueEnrollmentCode,
  kRegisterCredential,
  kRevokeCredential,
  kRevokeTokens,
  kManageClients,
  kReadAudit,
  kUnlockUser,
};

// Default deny: true only where API.md grants the permission to one of `roles`. `admin` holds
// every permission.
bool RolesAllow(const std::vector<std::string>& roles, Permission permission);
std::string_view PermissionName(Permission permission);

// Client scopes (what an API client may call).
inline constexpr std::string_view kScopeIntrospect = "introspect";
inline constexpr std::string_view kScopeRevoke = "revoke";
inline constexpr std::string_view kScopeYkval = "ykval";
inline constexpr std::string_view kScopeVerify = "verify";
// Sorted, de-duplicated; an empty list yields every scope. kInvalidArgument for unknown ones.
Result<std::vector<std::string>> NormalizeScopes(const std::vector<std::string>& scopes);

// An allow-list of IPv4/IPv6 networks in CIDR notation. Immutable once parsed; thread-safe.
class IpAllowList {
 public:
  // kInvalidArgument naming the first entry that is not an address or CIDR network.
  static Result<IpAllowList> Parse(const std::vector<std::string>& cidrs);
  // An empty list allows every address. IPv4-mapped IPv6 addresses match IPv4 networks.
  bool Allows(std::string_view address) const;
  const std::vector<std::string>& entries() const { return text_; }

 private:
  struct Net {
    bool v6 = false;
    uint8_t addr[16] = {};
    int prefix = 0;
  };
  std::vector<Net> nets_;
  std::vector<std::string> text_;
};

std::string JoinList(const std::vector<std::string>& items, char sep = ',');
std::vector<std::string> SplitList(std::string_view text, char sep = ',');

}  // namespace authd::domain
