// What a browser sends to authd's verify routes for a software key's responses: the ceremony
// handle from the options and PublicKeyCredential.prototype.toJSON() of the credential. Shared by
// the HTTP tests and the load generator.
#pragma once

#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "webauthn/test_authenticator.h"

namespace authd::webauthn::testing {

// The challenge of an options response ({"ceremony", "publicKey": {"challenge", ...}}).
inline Bytes OptionsChallenge(const Json& options) {
  return Base64UrlDecode(options["publicKey"]["challenge"].get<std::string>()).value_or(Bytes{});
}

// The body of POST /v1/webauthn/registration/verify for `reg` made by `key`.
inline Json RegistrationVerifyBody(const Json& options, const TestAuthenticator& key,
                                   const TestAuthenticator::Registration& reg, const Json& response_extra = Json::object(),
                                   const Json& extension_results = Json::object()) {
  auto r = key.Register(OptionsChallenge(options), reg);
  const std::string id = Base64UrlEncode(*reg.auth.credential_id);
  Json response = {{"clientDataJSON", Base64UrlEncode(r.client_data_json)},
                   {"attestationObject", Base64UrlEncode(r.attestation_object)}};
  response.update(response_extra);
  return {{"ceremony", options["ceremony"]},
          {"credential",
           {{"id", id}, {"rawId", id}, {"type", "public-key"}, {"response", response},
            {"clientExtensionResults", extension_results}}}};
}

// The body of POST /v1/webauthn/authentication/verify for assertion `a` made by `key`.
inline Json AssertionVerifyBody(const Json& options, const TestAuthenticator& key, const TestAuthenticator::Assertion& a,
                                const Json& extension_results = Json::object()) {
  auto r = key.Assert(OptionsChallenge(options), a);
  const std::string id = Base64UrlEncode(key.credential_id);
  return {{"ceremony", options["ceremony"]},
          {"credential",
           {{"id", id}, {"rawId", id}, {"type", "public-key"},
            {"response", {{"clientDataJSON", Base64UrlEncode(r.client_data_json)},
                          {"authenticatorData", Base64UrlEncode(r.authenticator_data)},
                          {"signature", Base64UrlEncode(r.signature)}}},
            {"clientExtensionResults", extension_results}}}};
}

}  // namespace authd::webauthn::testing
