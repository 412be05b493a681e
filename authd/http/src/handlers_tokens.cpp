// POST /v1/tokens/introspect (RFC 7662) and /v1/tokens/revoke (RFC 7009), for API clients
// authenticated with HTTP Basic (RFC 6749 §2.3.1).

#include "authd/base/encoding.h"
#include "authd/http/api.h"

namespace authd::http {
namespace {

// RFC 6749 §2.3.1: Basic base64(urlencode(client_id) ":" urlencode(secret)).
Result<std::pair<std::string, std::string>> ParseBasic(std::string_view header) {
  constexpr std::string_view kScheme = "basic ";
  if (header.size() <= kScheme.size() || header.size() > 1024) {
    return Err(ErrorCode::kInvalidClient, "authenticate with HTTP Basic client_id:client_secret");
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) {
      return Err(ErrorCode::kInvalidClient, "authenticate with HTTP Basic client_id:client_secret");
    }
  }
  auto raw = Base64Decode(header.substr(kScheme.size()));
  if (!raw) return Err(ErrorCode::kInvalidClient, "the Basic credentials are not valid base64");
  std::string_view text = AsChars(*raw);
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return Err(ErrorCode::kInvalidClient, "the Basic credentials lack a colon");
  auto id = PercentDecode(text.substr(0, colon), true);
  auto secret = PercentDecode(text.substr(colon + 1), true);
  if (!id || !secret) return Err(ErrorCode::kInvalidClient, "the Basic credentials have a bad escape");
  return std::make_pair(std::move(*id), std::move(*secret));
}

// The request's Basic credentials; a request without usable ones is counted as a refused client.
Result<std::pair<std::string, std::string>> ClientCredentials(Api& api, const Request& req) {
  auto creds = ParseBasic(req.Header("authorization"));
  if (!creds) api.metrics.ObserveAuthentication("client", std::string(ErrorCodeName(creds.code())));
  return creds;
}

Result<domain::Client> AuthenticateClient(Api& api, const Request& req, std::string_view scope) {
  AUTHD_ASSIGN_OR_RETURN(auto creds, ClientCredentials(api, req));
  auto client = api.core.AuthenticateClient(creds.first, creds.second, req.remote_address, scope,
                                            req.Audit("client:" + creds.first.substr(0, 64)));
  api.metrics.ObserveAuthentication("client", client ? "success" : std::string(ErrorCodeName(client.code())));
  return client;
}

bool IsClientRefusal(ErrorCode code) {
  return code == ErrorCode::kInvalidClient || code == ErrorCode::kAddressNotAllowed ||
         code == ErrorCode::kInsufficientScope;
}

// The token parameter of a form (RFC 7009 §2.1 / RFC 7662 §2.1), or of a JSON body for
// introspection. A token in the query string is refused: it would end up in access logs.
Result<std::string> TokenParam(const Request& req, bool allow_json) {
  for (const auto& [k, v] : req.query) {
    if (k == "token") return Err(ErrorCode::kBadRequest, "send the token in the body, not the query string");
  }
  if (allow_json && req.MediaType() == "application/json") {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    return RequiredString(body, "token", 8192);
  }
  AUTHD_ASSIGN_OR_RETURN(auto form, FormBody(req));
  auto it = form.find("token");
  if (it == form.end() || it->second.empty()) return Err(ErrorCode::kBadRequest, "token is required");
  return it->second;
}

}  // namespace

void RegisterTokenRoutes(Router& router, Api& api) {
  router.Add("POST", "/v1/tokens/introspect", [&api](Request& req) {
    auto token = TokenParam(req, true);
    if (!token) {
      // A malformed request still authenticates its client first: the caller learns nothing
      // about the body before proving who it is.
      auto client = AuthenticateClient(api, req, domain::kScopeIntrospect);
      return Response::Problem(client ? token.error() : client.error());
    }
    auto creds = ClientCredentials(api, req);
    if (!creds) return Response::Problem(creds.error());
    // Client authentication and the token's lookup share one read transaction.
    auto result = api.core.IntrospectAs(creds->first, creds->second, req.remote_address, *token,
                                        req.Audit("client:" + creds->first.substr(0, 64)));
    if (result || IsClientRefusal(result.code())) {
      api.metrics.ObserveAuthentication("client", result ? "success" : std::string(ErrorCodeName(result.code())));
    }
    if (!result) return Response::Problem(result.error());
    if (!result->active) return Response::Json(200, {{"active", false}});
    // Written directly (the hottest answer), members in the sorted order DumpJson would give.
    const auto& r = result->record;
    JsonObjectWriter j;
    j.Bool("active", true).Strings("amr", r.amr).String("aud", r.audience).Int("auth_time", r.auth_time);
    j.String("client_id", r.client_id.empty() ? std::string_view("authd") : std::string_view(r.client_id));
    if (!r.credential_id.empty()) j.String("credential_id", r.credential_id);
    j.Int("exp", r.expires_at).Int("iat", r.issued_at).String("iss", api.core.options().tokens.issuer);
    j.String("jti", r.jti).Int("nbf", r.issued_at).Strings("roles", r.roles).String("sub", r.user_id);
    j.String("token_type", "Bearer").String("username", r.username);
    return Response::RawJson(200, j.Finish());
  });

  router.Add("POST", "/v1/tokens/revoke", [&api](Request& req) {
    auto client = AuthenticateClient(api, req, domain::kScopeRevoke);
    if (!client) return Response::Problem(client.error());
    auto token = TokenParam(req, false);
    if (!token) return Response::Problem(token.error());
    Status s = api.core.RevokeByClient(*client, *token, req.Audit("client:" + client->client_id));
    if (!s) return Response::Problem(s.error());
    return Response::Text(200, "", "");
  });
}

}  // namespace authd::http
