// JSON renderings of domain records, shared by the HTTP API and authctl. Never a secret.
#pragma once

#include "authd/base/json.h"
#include "authd/domain/model.h"

namespace authd::domain {

Json UserJson(const User& user);
Json CredentialJson(const Credential& credential);

}  // namespace authd::domain
