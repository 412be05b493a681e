#include "authd/domain/views.h"

#include "authd/base/clock.h"

namespace authd::domain {

Json UserJson(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"display_name", u.display_name},
          {"status", u.status},
          {"roles", u.roles},
          {"created_at", Rfc3339(u.created_at)},
          {"updated_at", Rfc3339(u.updated_at)}};
}

Json CredentialJson(const Credential& c) {
  Json j = Json::object();
  auto info = ParseJsonStrict(c.info);
  if (info.ok() && info->is_object()) j = std::move(info.value());
  j["id"] = c.id;
  j["type"] = c.type;
  j["nickname"] = c.nickname;
  j["status"] = c.status;
  j["created_at"] = Rfc3339(c.created_at);
  j["last_used_at"] = c.last_used_at ? Json(Rfc3339(c.last_used_at)) : Json(nullptr);
  return j;
}

}  // namespace authd::domain
