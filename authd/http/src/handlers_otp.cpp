// TOTP and YubiKey OTP (API.md "TOTP", "YubiKey OTP"): enrolment, verification, the Yubico
// validation protocol 2.0 at /wsapi/2.0/verify, and the admin routes that register YubiKeys and
// unlock users.

#include "authd/http/api.h"
#include "authd/http/qr_svg.h"

namespace authd::http {
void RegisterOtpRoutes(Router& router, Api& api) {
  // --- TOTP ---
  router.Add("POST", "/v1/totp/enrollment", RateLimited(api, nullptr, [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    domain::TotpEnrollmentRequest r;
    AUTHD_ASSIGN_OR_RETURN(r.username, RequiredString(body, "username", 256));
    AUTHD_ASSIGN_OR_RETURN(r.enrollment_code, OptionalString(body, "enrollment_code", "", 128));
    AUTHD_ASSIGN_OR_RETURN(r.algorithm, OptionalString(body, "algorithm", "", 16));
    AUTHD_ASSIGN_OR_RETURN(r.digits, OptionalInt(body, "digits", 0, 0, 8));
    AUTHD_ASSIGN_OR_RETURN(r.period, OptionalInt(body, "period", 0, 0, 60));
    AUTHD_ASSIGN_OR_RETURN(auto who, OptionalBearer(api, req));
    const std::string actor = who ? "user:" + who->user.username : "anonymous";
    AUTHD_ASSIGN_OR_RETURN(auto started, api.otp->StartTotpEnrollment(who, r, req.Audit(actor)));
    AUTHD_ASSIGN_OR_RETURN(std::string svg, QrSvg(started.otpauth_uri));
    return Response::Json(200, {{"enrollment", started.handle},
                                {"secret", started.secret},
                                {"otpauth_uri", started.otpauth_uri},
                                {"qr_svg", svg},
                                {"algorithm", domain::otp::HashAlgName(started.params.alg)},
                                {"digits", started.params.digits},
                                {"period", started.params.period},
                                {"expires_at", Rfc3339(started.expires_at)}});
  }));

  router.Add("POST", "/v1/totp/enrollment/confirm",
             RateLimited(api, "totp_enrollment", [&api](Request& req) -> Result<Response> {
               AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
               AUTHD_ASSIGN_OR_RETURN(std::string handle, RequiredString(body, "enrollment", 256));
               AUTHD_ASSIGN_OR_RETURN(std::string code, RequiredString(body, "code", 64));
               AUTHD_ASSIGN_OR_RETURN(domain::Credential cred,
                                      api.otp->ConfirmTotpEnrollment(handle, code, req.Audit("anonymous")));
               return Response::Json(201, {{"credential", CredentialJson(cred)}});
             }));

  router.Add("POST", "/v1/totp/verify", RateLimited(api, "totp", [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string username, RequiredString(body, "username", 256));
    AUTHD_ASSIGN_OR_RETURN(std::string code, RequiredString(body, "code", 64));
    AUTHD_ASSIGN_OR_RETURN(std::string client_id, OptionalString(body, "client_id", "", 128));
    return Finish(api, req, "totp", api.otp->PlanVerifyTotp(username, code, client_id, req.Audit("anonymous")),
                  TokenResponder(api));
  }));

  // --- YubiKey OTP ---
  router.Add("POST", "/v1/yubiotp/verify", RateLimited(api, "yubiotp", [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string otp, RequiredString(body, "otp", 64));
    AUTHD_ASSIGN_OR_RETURN(std::string client_id, OptionalString(body, "client_id", "", 128));
    return Finish(api, req, "yubiotp", api.otp->PlanVerifyYubiOtp(otp, client_id, req.Audit("anonymous")),
                  TokenResponder(api));
  }));

  // The Yubico validation protocol answers 200 with its own status words, always as text.
  router.Add("GET", "/wsapi/2.0/verify", RateLimited(api, "ykval", [&api](Request& req) -> Result<Response> {
    std::map<std::string, std::string> params;
    for (const auto& [k, v] : req.query) {
      if (k.size() > 32 || v.size() > 256) continue;
      if (!params.emplace(k, v).second) params[k] = "";  // a repeated parameter counts as missing
    }
    return Finish(api, req, nullptr,
                  Result<domain::Plan<domain::YkvalAnswer>>(api.otp->PlanYkval(params, req.remote_address, req.Audit("anonymous"))),
                  [&api](domain::YkvalAnswer& answer) {
                    const std::string& status = answer.fields["status"];
                    api.metrics.ObserveAuthentication("ykval", status == "OK" ? "success" : status);
                    return Response::Text(200, domain::OtpService::YkvalBody(answer), "text/plain; charset=utf-8");
                  });
  }, /*observe=*/false));

  // --- admin ---
  router.Add("POST", "/v1/admin/users/{username}/yubiotp", [&api](Request& req) -> Response {
    auto r = [&]() -> Result<Response> {
      AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, domain::Permission::kRegisterCredential, UserTarget(req)));
      AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
      domain::YubiOtpRegistration y;
      AUTHD_ASSIGN_OR_RETURN(y.public_id, RequiredString(body, "public_id", 16));
      AUTHD_ASSIGN_OR_RETURN(y.private_id, RequiredString(body, "private_id", 12));
      AUTHD_ASSIGN_OR_RETURN(y.aes_key, RequiredString(body, "aes_key", 32));
      AUTHD_ASSIGN_OR_RETURN(y.nickname, OptionalString(body, "nickname", "", 64));
      AUTHD_ASSIGN_OR_RETURN(y.replace, OptionalBool(body, "replace", false));
      AUTHD_ASSIGN_OR_RETURN(domain::Credential cred, api.otp->RegisterYubiOtp(admin.second, req.Param("username"), y));
      return Response::Json(201, {{"credential", CredentialJson(cred)}});
    }();
    return r ? std::move(r.value()) : Response::Problem(r.error());
  });

  router.Add("POST", "/v1/admin/users/{username}/unlock", [&api](Request& req) -> Response {
    auto r = [&]() -> Result<Response> {
      AUTHD_ASSIGN_OR_RETURN(auto admin, AuthorizeAdmin(api, req, domain::Permission::kUnlockUser, UserTarget(req)));
      AUTHD_ASSIGN_OR_RETURN(int64_t n, api.otp->Unlock(admin.second, req.Param("username")));
      return Response::Json(200, {{"cleared", n}});
    }();
    return r ? std::move(r.value()) : Response::Problem(r.error());
  });
}

}  // namespace authd::http
