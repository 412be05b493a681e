// The API.md routes. Handlers parse, call authd::domain::Core, and render; they never decide.
#pragma once

#include <string>
#include <vector>

#include "authd/domain/core.h"
#include "authd/domain/views.h"
#include "authd/domain/webauthn_service.h"
#include "authd/http/metrics.h"
#include "authd/http/pages.h"
#include "authd/http/router.h"

namespace authd::http {

struct ApiSettings {
  std::string issuer;
  std::string rp_id;
  std::string rp_name;
  std::vector<std::string> origins;
  std::string token_alg;
  int64_t ceremony_ttl = 300;
};

struct Api {
  domain::Core& core;
  Metrics& metrics;
  ApiSettings settings;
  domain::WebAuthnService* webauthn = nullptr;
};

void RegisterPublicRoutes(Router& router, Api& api);
void RegisterTokenRoutes(Router& router, Api& api);
void RegisterAdminRoutes(Router& router, Api& api);
void RegisterWebAuthnRoutes(Router& router, Api& api);
inline void RegisterAllRoutes(Router& router, Api& api) {
  RegisterPublicRoutes(router, api);
  RegisterTokenRoutes(router, api);
  RegisterAdminRoutes(router, api);
  if (api.webauthn) RegisterWebAuthnRoutes(router, api);
  RegisterPageRoutes(router);
}

using domain::CredentialJson;
using domain::UserJson;

// API.md "The token response".
Json TokenResponseJson(const domain::IssuedToken& token, int64_t ttl);
// Parses RFC 3339 UTC ("2026-01-02T03:04:05Z") or Unix seconds; nullopt otherwise.
std::optional<int64_t> ParseTime(std::string_view text);

}  // namespace authd::http
