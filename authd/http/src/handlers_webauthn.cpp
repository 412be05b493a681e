// POST /v1/webauthn/{registration,authentication}/{options,verify} (API.md "WebAuthn / FIDO2").
// The JSON shapes are WebAuthn L3's PublicKeyCredential*OptionsJSON and the output of
// PublicKeyCredential.prototype.toJSON().

#include "authd/base/encoding.h"
#include "authd/domain/ceremony_handle.h"
#include "authd/http/api.h"

namespace authd::http {

Result<std::optional<domain::Principal>> OptionalBearer(Api& api, const Request& req) {
  std::string_view header = req.Header("authorization");
  if (header.empty()) return std::optional<domain::Principal>();
  AUTHD_ASSIGN_OR_RETURN(domain::Principal who, api.core.AuthenticateBearer(header, req.Audit()));
  return std::optional<domain::Principal>(std::move(who));
}

namespace {

constexpr size_t kMaxB64 = 48 * 1024;

Result<Bytes> B64Field(const Json& obj, const char* key, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Err(ErrorCode::kBadRequest, std::string(key) + " is required");
    return Bytes{};
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxB64) {
    return Err(ErrorCode::kBadRequest, std::string(key) + " must be a base64url string");
  }
  auto b = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!b) return Err(ErrorCode::kBadRequest, std::string(key) + " is not base64url without padding");
  return std::move(*b);
}

// The common envelope of both response JSONs: id == rawId, type "public-key", a response object.
Result<std::pair<Bytes, const Json*>> Envelope(const Json& credential) {
  if (!credential.is_object()) return Err(ErrorCode::kBadRequest, "credential must be an object");
  AUTHD_ASSIGN_OR_RETURN(Bytes id, B64Field(credential, "id"));
  AUTHD_ASSIGN_OR_RETURN(Bytes raw_id, B64Field(credential, "rawId"));
  if (id != raw_id || id.empty()) return Err(ErrorCode::kBadRequest, "credential id and rawId differ");
  AUTHD_ASSIGN_OR_RETURN(std::string type, RequiredString(credential, "type", 32));
  if (type != "public-key") return Err(ErrorCode::kBadRequest, "credential type must be public-key");
  auto it = credential.find("response");
  if (it == credential.end() || !it->is_object()) return Err(ErrorCode::kBadRequest, "credential.response is required");
  return std::make_pair(std::move(raw_id), &*it);
}

}  // namespace

void RegisterWebAuthnRoutes(Router& router, Api& api) {
  router.Add("POST", "/v1/webauthn/registration/options", RateLimited(api, nullptr, [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    domain::RegistrationRequest r;
    AUTHD_ASSIGN_OR_RETURN(r.username, RequiredString(body, "username", 256));
    AUTHD_ASSIGN_OR_RETURN(r.enrollment_code, OptionalString(body, "enrollment_code", "", 128));
    AUTHD_ASSIGN_OR_RETURN(r.display_name, OptionalString(body, "display_name", "", 64));
    AUTHD_ASSIGN_OR_RETURN(r.resident_key, OptionalString(body, "resident_key", "preferred", 16));
    AUTHD_ASSIGN_OR_RETURN(r.user_verification, OptionalString(body, "user_verification", "preferred", 16));
    AUTHD_ASSIGN_OR_RETURN(r.attestation, OptionalString(body, "attestation", "direct", 16));
    AUTHD_ASSIGN_OR_RETURN(r.authenticator_attachment, OptionalString(body, "authenticator_attachment", "", 16));
    AUTHD_ASSIGN_OR_RETURN(auto who, OptionalBearer(api, req));
    std::string actor = who ? "user:" + who->user.username : "anonymous";
    AUTHD_ASSIGN_OR_RETURN(auto started, api.webauthn->StartRegistration(who, r, req.Audit(actor)));
    return Response::RawJson(200, JsonObjectWriter().String("ceremony", started.handle).Object("publicKey", started.public_key).Finish());
  }));

  router.Add("POST", "/v1/webauthn/registration/verify", RateLimited(api, "webauthn_registration", [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string handle, RequiredString(body, "ceremony", domain::kMaxCeremonyHandle));
    AUTHD_ASSIGN_OR_RETURN(std::string nickname, OptionalString(body, "nickname", "", 64));
    auto cit = body.find("credential");
    if (cit == body.end()) return Err(ErrorCode::kBadRequest, "credential is required");
    AUTHD_ASSIGN_OR_RETURN(auto env, Envelope(*cit));
    domain::RegistrationCredential cred;
    cred.raw_id = std::move(env.first);
    AUTHD_ASSIGN_OR_RETURN(cred.client_data_json, B64Field(*env.second, "clientDataJSON"));
    AUTHD_ASSIGN_OR_RETURN(cred.attestation_object, B64Field(*env.second, "attestationObject"));
    if (auto t = env.second->find("transports"); t != env.second->end() && t->is_array() && t->size() <= 8) {
      for (const auto& v : *t) {
        if (v.is_string() && v.get_ref<const std::string&>().size() <= 16) cred.transports.push_back(v.get<std::string>());
      }
    }
    if (auto ext = cit->find("clientExtensionResults"); ext != cit->end() && ext->is_object()) {
      if (auto props = ext->find("credProps"); props != ext->end() && props->is_object()) {
        if (auto rk = props->find("rk"); rk != props->end() && rk->is_boolean()) cred.discoverable = rk->get<bool>();
      }
    }
    auto render = [](const domain::RegistrationResult& done) {
      const auto& w = done.credential;
      return Response::Json(201, {{"credential",
                                   {{"id", w.id},
                                    {"type", "webauthn"},
                                    {"aaguid", FormatUuid(w.aaguid)},
                                    {"fmt", w.fmt},
                                    {"attestation_type", w.attestation_type},
                                    {"alg", w.alg},
                                    {"transports", w.transports},
                                    {"backup_eligible", w.backup_eligible},
                                    {"backup_state", w.backup_state},
                                    {"discoverable", w.discoverable},
                                    {"nickname", done.record.nickname},
                                    {"created_at", Rfc3339(done.record.created_at)}}}});
    };
    return Finish(api, req, "webauthn_registration",
                  api.webauthn->PlanFinishRegistration(handle, cred, nickname, req.Audit()), render);
  }));

  router.Add("POST", "/v1/webauthn/authentication/options", RateLimited(api, nullptr, [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    domain::AuthenticationRequest r;
    AUTHD_ASSIGN_OR_RETURN(r.username, OptionalString(body, "username", "", 256));
    AUTHD_ASSIGN_OR_RETURN(r.client_id, OptionalString(body, "client_id", "", 128));
    AUTHD_ASSIGN_OR_RETURN(r.user_verification, OptionalString(body, "user_verification", "preferred", 16));
    AUTHD_ASSIGN_OR_RETURN(auto started, api.webauthn->StartAuthentication(r, req.Audit()));
    return Response::RawJson(200, JsonObjectWriter().String("ceremony", started.handle).Object("publicKey", started.public_key).Finish());
  }));

  router.Add("POST", "/v1/webauthn/authentication/verify", RateLimited(api, "webauthn", [&api](Request& req) -> Result<Response> {
    AUTHD_ASSIGN_OR_RETURN(Json body, JsonBody(req));
    AUTHD_ASSIGN_OR_RETURN(std::string handle, RequiredString(body, "ceremony", domain::kMaxCeremonyHandle));
    auto cit = body.find("credential");
    if (cit == body.end()) return Err(ErrorCode::kBadRequest, "credential is required");
    AUTHD_ASSIGN_OR_RETURN(auto env, Envelope(*cit));
    domain::AuthenticationCredential cred;
    cred.raw_id = std::move(env.first);
    AUTHD_ASSIGN_OR_RETURN(cred.client_data_json, B64Field(*env.second, "clientDataJSON"));
    AUTHD_ASSIGN_OR_RETURN(cred.authenticator_data, B64Field(*env.second, "authenticatorData"));
    AUTHD_ASSIGN_OR_RETURN(cred.signature, B64Field(*env.second, "signature"));
    AUTHD_ASSIGN_OR_RETURN(Bytes user_handle, B64Field(*env.second, "userHandle", false));
    if (!user_handle.empty()) cred.user_handle = std::move(user_handle);
    if (auto ext = cit->find("clientExtensionResults"); ext != cit->end() && ext->is_object()) {
      if (auto appid = ext->find("appid"); appid != ext->end() && appid->is_boolean()) {
        cred.appid_extension_used = appid->get<bool>();
      }
    }
    return Finish(api, req, "webauthn", api.webauthn->PlanFinishAuthentication(handle, cred, req.Audit()),
                  TokenResponder(api));
  }));
}

}  // namespace authd::http
