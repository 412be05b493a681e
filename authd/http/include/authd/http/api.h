// The API.md routes. Handlers parse, call authd::domain::Core, and render; they never decide.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "authd/base/log.h"
#include "authd/domain/core.h"
#include "authd/domain/otp_service.h"
#include "authd/domain/views.h"
#include "authd/domain/webauthn_service.h"
#include "authd/http/metrics.h"
#include "authd/http/pages.h"
#include "authd/http/rate_limit.h"
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
  domain::OtpService* otp = nullptr;
  RateLimiter* limiter = nullptr;  // per source address, on the public verification routes
};

// A public verification route: refused with 429 rate_limited and Retry-After when the source
// address is over its rate; otherwise runs `f`, renders its error as problem+json and, when
// `factor` is set and `observe` true, counts the outcome in the authentication metrics.
template <typename F>
Handler RateLimited(Api& api, const char* factor, F f, bool observe = true) {
  return [&api, f, factor, observe](Request& req) -> Response {
    if (api.limiter) {
      if (int64_t wait = api.limiter->Acquire(req.remote_address, api.core.clock().NowMillis()); wait > 0) {
        if (factor) api.metrics.ObserveAuthentication(factor, "rate_limited");
        Response r = Response::Problem(ErrorCode::kRateLimited, "too many requests from this address");
        for (auto& h : r.headers) {
          if (h.first == "Retry-After") h.second = std::to_string(wait);
        }
        return r;
      }
    }
    Result<Response> r = f(req);
    // A deferred answer is counted when it is made (Finish).
    if (factor && observe && !(r && r->deferred)) {
      api.metrics.ObserveAuthentication(factor, r ? "success" : std::string(ErrorCodeName(r.code())));
    }
    if (!r) return Response::Problem(r.error());
    return std::move(r.value());
  };
}

// Ends a handler with a service's plan (domain/plan.h): its write runs, then `render` turns the
// answer into the response (an error becomes problem+json). When the request has a Deferral the
// handler returns Response::Deferred() at once and the answer is made and sent from the store's
// writer thread right after the commit, counted under `factor` there; otherwise here, and
// RateLimited counts it.
template <class T, class R>
Result<Response> Finish(Api& api, Request& req, const char* factor, Result<domain::Plan<T>> plan, R render) {
  Deferral* later = req.deferral;
  const uint64_t ticket = later ? later->Ticket() : 0;
  if (!later) {
    Result<T> r = domain::RunNow(api.core.store(), std::move(plan));
    if (!r) return r.error();
    return render(r.value());
  }
  domain::Carry<T>(
      api.core.store(), std::move(plan),
      [&api, factor, later, ticket, render](Result<T> r) {
        // The request is answered whatever happens here, or its connection would wait for good.
        std::optional<Response> resp;
        try {
          if (factor) api.metrics.ObserveAuthentication(factor, r ? "success" : std::string(ErrorCodeName(r.code())));
          resp.emplace(r ? render(r.value()) : Response::Problem(r.error()));
        } catch (const std::exception&) {
          Log(LogLevel::kError, "handler_exception", {{"where", "deferred answer"}});
          resp.emplace(Response::Problem(ErrorCode::kInternal, "the server failed; the request id is in the logs"));
        }
        later->Reply(ticket, std::move(*resp));
      },
      true);
  return Response::Deferred();
}

void RegisterPublicRoutes(Router& router, Api& api);
void RegisterTokenRoutes(Router& router, Api& api);
void RegisterAdminRoutes(Router& router, Api& api);
void RegisterWebAuthnRoutes(Router& router, Api& api);
void RegisterOtpRoutes(Router& router, Api& api);
inline void RegisterAllRoutes(Router& router, Api& api) {
  RegisterPublicRoutes(router, api);
  RegisterTokenRoutes(router, api);
  RegisterAdminRoutes(router, api);
  if (api.webauthn) RegisterWebAuthnRoutes(router, api);
  if (api.otp) RegisterOtpRoutes(router, api);
  RegisterPageRoutes(router);
}

using domain::CredentialJson;
using domain::UserJson;

// The caller of a public ceremony: nobody (no Authorization header) or a valid Bearer token.
Result<std::optional<domain::Principal>> OptionalBearer(Api& api, const Request& req);
// The audit target of a route under /v1/admin/users/{username}.
std::string UserTarget(const Request& req);
// The caller of an admin route: authenticates the Bearer token and checks the permission on
// `target`; returns the principal and the audit context naming it.
Result<std::pair<domain::Principal, domain::AuditContext>> AuthorizeAdmin(Api& api, const Request& req,
                                                                          domain::Permission p,
                                                                          std::string_view target);

// API.md "The token response".
std::string TokenResponseBody(const domain::IssuedToken& token, int64_t ttl);
// The token response of a login route, as Finish's `render`.
inline auto TokenResponder(Api& api) {
  return [&api](const domain::IssuedToken& token) {
    return Response::RawJson(200, TokenResponseBody(token, api.core.options().tokens.ttl_seconds));
  };
}
// Parses RFC 3339 UTC ("2026-01-02T03:04:05Z") or Unix seconds; nullopt otherwise.
std::optional<int64_t> ParseTime(std::string_view text);

}  // namespace authd::http
