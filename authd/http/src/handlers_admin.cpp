// /v1/admin/...: Bearer token of a user with a role; default deny (API.md "Admin").

#include "authd/http/api.h"

namespace authd::http {

Result<std::pair<domain::Principal, domain::AuditContext>> AuthorizeAdmin(Api& api, const Request& req,
                                                                          domain::Permission p,
                                                                          std::string_view target) {
  auto who = api.core.AuthenticateBearer(req.Header("authorization"), req.Audit());
  api.metrics.ObserveAuthentication("bearer", who ? "success" : std::string(ErrorCodeName(who.code())));
  if (!who) return who.error();
  domain::AuditContext ctx = req.Audit("user:" + who->user.username);
  AUTHD_RETURN_IF_ERROR(api.core.Authorize(*who, p, ctx, target));
  return std::make_pair(std::move(who.value()), std::move(ctx));
}

std::string UserTarget(const Request& req) { return "user:" + std::string(req.Param("username")).substr(0, 64); }

namespace {

using domain::Permission;
using domain::Principal;

Result<std::vector<std::string>> StringArray(const Json& body, const char* key, size_t max_items) {
  std::vector<std::string> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > max_items) {
    return Err(ErrorCode::kBadRequest, std::string(key) + " must be an array of at most " +
                                           std::to_string(max_items) + " strings");
  }
  for (const auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > 128) {
      return Err(ErrorCode::kBadRequest, std::string(key) + " must hold strings of at most 128 characters");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// Wraps a handler body that returns Result<Response>.
template <typename F>
Handler Wrap(F f) {
  return [f](Request& req) -> Response {
    Result<Response> r = f(req);
    if (!r) return Response::Problem(r.error());
    return std::move(r.value());
  };
}

}  // namespace

void RegisterAdminRoutes(Router& router, Api& api) {
  router.Add("POST", "/v1/admin/users", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kCreateUser, "users"));
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    domain::NewUser in;
    AUTHD_ASSIGN_OR_RETURN(in.username, RequiredString(body, "username", 256));
    AUTHD_ASSIGN_OR_RETURN(in.display_name, OptionalString(body, "display_name", "", 256));
    AUTHD_ASSIGN_OR_RETURN(in.roles, StringArray(body, "roles", 8));
    AUTHD_ASSIGN_OR_RETURN(domain::User user, api.core.CreateUser(admin.first, admin.second, std::move(in)));
    return Response::Json(201, {{"user", UserJson(user)}});
  }));

  router.Add("GET", "/v1/admin/users", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kReadUsers, "users"));
    AUTHD_ASSIGN_OR_RETURN(auto q, req.QueryValue("q"));
    AUTHD_ASSIGN_OR_RETURN(auto limit_text, req.QueryValue("limit"));
    AUTHD_ASSIGN_OR_RETURN(auto cursor, req.QueryValue("cursor"));
    int limit = 50;
    if (limit_text) {
      auto v = ParseTime(*limit_text);  // digits only
      if (!v || *v < 1 || *v > 200) return Err(ErrorCode::kInvalidArgument, "limit must be between 1 and 200");
      limit = static_cast<int>(*v);
    }
    AUTHD_ASSIGN_OR_RETURN(auto page, api.core.ListUsers(q.value_or(""), limit, cursor.value_or("")));
    Json users = Json::array();
    for (const auto& u : page.users) users.push_back(UserJson(u));
    Json out = {{"users", users}};
    out["next_cursor"] = page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor);
    return Response::Json(200, out);
  }));

  router.Add("GET", "/v1/admin/users/{username}", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kReadUsers, UserTarget(req)));
    AUTHD_ASSIGN_OR_RETURN(auto view, api.core.GetUser(req.Param("username")));
    Json user = UserJson(view.user);
    Json creds = Json::array();
    for (const auto& c : view.credentials) creds.push_back(CredentialJson(c));
    user["credentials"] = creds;
    return Response::Json(200, {{"user", user}});
  }));

  router.Add("PATCH", "/v1/admin/users/{username}", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kChangeUserStatus, UserTarget(req)));
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string status, RequiredString(body, "status", 32));
    for (const auto& [k, v] : body.items()) {
      if (k != "status") return Err(ErrorCode::kBadRequest, "only status can be changed");
    }
    AUTHD_ASSIGN_OR_RETURN(auto user, api.core.SetUserStatus(admin.second, req.Param("username"), status));
    return Response::Json(200, {{"user", UserJson(user)}});
  }));

  router.Add("POST", "/v1/admin/users/{username}/enrollment-codes", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kIssueEnrollmentCode, UserTarget(req)));
    int64_t ttl = 0;
    if (!req.body.empty()) {
      AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
      AUTHD_ASSIGN_OR_RETURN(ttl, OptionalInt(body, "ttl", 0, 0, 30 * 24 * 3600));
    }
    AUTHD_ASSIGN_OR_RETURN(auto code, api.core.IssueEnrollmentCode(admin.second, req.Param("username"), ttl));
    return Response::Json(201, {{"enrollment_code", code.code}, {"expires_at", Rfc3339(code.expires_at)}});
  }));

  router.Add("DELETE", "/v1/admin/users/{username}/credentials/{id}", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kRevokeCredential, UserTarget(req)));
    AUTHD_RETURN_IF_ERROR(api.core.RevokeCredential(admin.second, req.Param("username"), req.Param("id")));
    return Response::NoContent();
  }));

  router.Add("POST", "/v1/admin/users/{username}/revoke-tokens", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kRevokeTokens, UserTarget(req)));
    AUTHD_ASSIGN_OR_RETURN(int64_t n, api.core.RevokeUserTokens(admin.second, req.Param("username")));
    return Response::Json(200, {{"revoked", n}});
  }));

  router.Add("POST", "/v1/admin/tokens/revoke", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kRevokeTokens, "tokens"));
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string jti, RequiredString(body, "jti", 64));
    AUTHD_ASSIGN_OR_RETURN(bool revoked, api.core.RevokeTokenByJti(admin.second, jti));
    return Response::Json(200, {{"revoked", revoked ? 1 : 0}});
  }));

  router.Add("POST", "/v1/admin/clients", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kManageClients, "clients"));
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    domain::NewClient in;
    AUTHD_ASSIGN_OR_RETURN(in.name, RequiredString(body, "name", 128));
    AUTHD_ASSIGN_OR_RETURN(in.scopes, StringArray(body, "scopes", 8));
    AUTHD_ASSIGN_OR_RETURN(in.allowed_ips, StringArray(body, "allowed_ips", 64));
    AUTHD_ASSIGN_OR_RETURN(auto created, api.core.CreateClient(admin.second, std::move(in)));
    return Response::Json(201, {{"client_id", created.client.client_id},
                                {"client_secret", created.client_secret},
                                {"ykval_id", created.client.ykval_id},
                                {"ykval_key", created.ykval_key},
                                {"name", created.client.name},
                                {"scopes", created.client.scopes},
                                {"allowed_ips", created.client.allowed_ips},
                                {"created_at", Rfc3339(created.client.created_at)}});
  }));

  router.Add("GET", "/v1/admin/audit", Wrap([&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, Permission::kReadAudit, "audit"));
    AUTHD_ASSIGN_OR_RETURN(auto since_text, req.QueryValue("since"));
    AUTHD_ASSIGN_OR_RETURN(auto limit_text, req.QueryValue("limit"));
    AUTHD_ASSIGN_OR_RETURN(auto before_text, req.QueryValue("before"));
    int64_t since_ms = 0;
    if (since_text) {
      auto t = ParseTime(*since_text);
      if (!t) return Err(ErrorCode::kInvalidArgument, "since must be RFC 3339 UTC or Unix seconds");
      since_ms = *t * 1000;
    }
    int limit = 100;
    if (limit_text) {
      auto v = ParseTime(*limit_text);
      if (!v || *v < 1 || *v > 1000) return Err(ErrorCode::kInvalidArgument, "limit must be between 1 and 1000");
      limit = static_cast<int>(*v);
    }
    int64_t before = 0;
    if (before_text) {
      auto v = ParseTime(*before_text);
      if (!v || *v < 1) return Err(ErrorCode::kInvalidArgument, "before must be an event seq");
      before = *v;
    }
    AUTHD_ASSIGN_OR_RETURN(auto events, api.core.ListAudit(since_ms, before, limit));
    Json list = Json::array();
    for (const auto& e : events) list.push_back(domain::AuditLog::ToJson(e));
    Json out = {{"events", list}};
    out["next_before"] = (static_cast<int>(events.size()) == limit && !events.empty()) ? Json(events.back().seq) : Json(nullptr);
    return Response::Json(200, out);
  }));
}

}  // namespace authd::http
