#include "authd/domain/policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace authd::domain {

Result<std::string> NormalizeUsername(std::string_view raw) {
  if (raw.empty() || raw.size() > 64) {
    return Err(ErrorCode::kInvalidUsername, "username must be 1 to 64 characters");
  }
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '_' || l == '@' || l == '-';
    if (!ok) {
      return Err(ErrorCode::kInvalidUsername,
                 "username may contain only letters a-z, digits and . _ @ -");
    }
    out.push_back(l);
  }
  char first = out.front();
  if (!((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9'))) {
    return Err(ErrorCode::kInvalidUsername, "username must start with a letter or digit");
  }
  return out;
}

static Result<std::vector<std::string>> NormalizeFromSet(const std::vector<std::string>& in,
                                                         const std::vector<std::string_view>& allowed,
                                                         const char* what) {
  std::vector<std::string> out;
  for (const auto& r : in) {
    if (std::find(allowed.begin(), allowed.end(), r) == allowed.end()) {
      std::string shown = r.substr(0, 32);
      for (char& c : shown) if (c < 0x20 || c > 0x7e) c = '?';
      return Err(ErrorCode::kInvalidArgument, std::string("unknown ") + what + " \"" + shown + "\"");
    }
    out.push_back(r);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<std::string>> NormalizeRoles(const std::vector<std::string>& roles) {
  return NormalizeFromSet(roles, {kRoleAdmin, kRoleEnroller, kRoleAuditor}, "role");
}

Result<std::vector<std::string>> NormalizeScopes(const std::vector<std::string>& scopes) {
  std::vector<std::string_view> all = {kScopeIntrospect, kScopeRevoke, kScopeVerify, kScopeYkval};
  if (scopes.empty()) {
    std::vector<std::string> out(all.begin(), all.end());
    std::sort(out.begin(), out.end());
    return out;
  }
  return NormalizeFromSet(scopes, all, "scope");
}

bool RolesAllow(const std::vector<std::string>& roles, Permission p) {
  auto has = [&](std::string_view r) { return std::find(roles.begin(), roles.end(), r) != roles.end(); };
  if (has(kRoleAdmin)) return true;
  switch (p) {
    case Permission::kCreateUser:
    case Permission::kIssueEnrollmentCode:
    case Permission::kRegisterCredential:
    case Permission::kRevokeCredential:
    case Permission::kRevokeTokens:
    case Permission::kUnlockUser:
      return has(kRoleEnroller);
    case Permission::kReadUsers:
    case Permission::kReadAudit:
      return has(kRoleAuditor);
    case Permission::kGrantRoles:
    case Permission::kChangeUserStatus:
    case Permission::kManageClients:
      return false;
  }
  return false;
}

std::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kCreateUser: return "create_user";
    case Permission::kGrantRoles: return "grant_roles";
    case Permission::kReadUsers: return "read_users";
    case Permission::kChangeUserStatus: return "change_user_status";
    case Permission::kIssueEnrollmentCode: return "issue_enrollment_code";
    case Permission::kRegisterCredential: return "register_credential";
    case Permission::kRevokeCredential: return "revoke_credential";
    case Permission::kRevokeTokens: return "revoke_tokens";
    case Permission::kManageClients: return "manage_clients";
    case Permission::kReadAudit: return "read_audit";
    case Permission::kUnlockUser: return "unlock_user";
  }
  return "unknown";
}

namespace {
// Parses an address; fills 16 bytes (IPv4 as the first 4). IPv4-mapped IPv6 becomes IPv4.
bool ParseAddress(std::string_view text, bool& v6, uint8_t out[16]) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;  // an empty view may have no data
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, buf, out) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out) == 1) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out, kMapped, 12) == 0) {
      std::memmove(out, out + 12, 4);
      std::memset(out + 4, 0, 12);
      v6 = false;
    } else {
      v6 = true;
    }
    return true;
  }
  return false;
}

bool PrefixMatch(const uint8_t* a, const uint8_t* b, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}
}  // namespace

Result<IpAllowList> IpAllowList::Parse(const std::vector<std::string>& cidrs) {
  IpAllowList list;
  for (const auto& entry : cidrs) {
    auto bad = [&] {
      std::string shown = entry.substr(0, 64);
      for (char& c : shown) if (c < 0x20 || c > 0x7e) c = '?';
      return Err(ErrorCode::kInvalidArgument, "\"" + shown + "\" is not an IP address or CIDR network");
    };
    std::string_view text = entry;
    std::string_view addr = text;
    int prefix = -1;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
      addr = text.substr(0, slash);
      std::string_view p = text.substr(slash + 1);
      if (p.empty() || p.size() > 3) return bad();
      prefix = 0;
      for (char c : p) {
        if (c < '0' || c > '9') return bad();
        prefix = prefix * 10 + (c - '0');
      }
    }
    Net net;
    if (!ParseAddress(addr, net.v6, net.addr)) return bad();
    int max = net.v6 ? 128 : 32;
    if (prefix < 0) prefix = max;
    if (prefix > max) return bad();
    net.prefix = prefix;
    list.nets_.push_back(net);
    list.text_.push_back(entry);
  }
  return list;
}

bool IpAllowList::Allows(std::string_view address) const {
  if (nets_.empty()) return true;
  bool v6 = false;
  uint8_t addr[16];
  if (!ParseAddress(address, v6, addr)) return false;
  for (const auto& n : nets_) {
    if (n.v6 == v6 && PrefixMatch(addr, n.addr, n.prefix)) return true;
  }
  return false;
}

std::string JoinList(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(sep);
    out += items[i];
  }
  return out;
}

std::vector<std::string> SplitList(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

}  // namespace authd::domain
