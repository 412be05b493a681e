// GET /healthz, /readyz, /metrics, /.well-known/jwks.json, /.well-known/authd-configuration

#include <ctime>

#include "authd/http/api.h"

namespace authd::http {

std::string TokenResponseBody(const domain::IssuedToken& t, int64_t ttl) {
  // DumpJson's (sorted) order: the very bytes it wrote for the same object.
  return JsonObjectWriter()
      .String("access_token", t.access_token)
      .Strings("amr", t.record.amr)
      .String("credential_id", t.record.credential_id)
      .Int("expires_in", ttl)
      .String("token_type", "Bearer")
      .Object("user", JsonObjectWriter().String("id", t.record.user_id).String("username", t.record.username).Finish())
      .Finish();
}

std::optional<int64_t> ParseTime(std::string_view text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  bool digits = true;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    if (text.size() > 12) return std::nullopt;
    return std::stoll(std::string(text));
  }
  // YYYY-MM-DDTHH:MM:SSZ
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm));
}

void RegisterPublicRoutes(Router& router, Api& api) {
  router.Add("GET", "/healthz", [](Request&) { return Response::Json(200, {{"status", "ok"}}); });

  router.Add("GET", "/readyz", [&api](Request&) {
    Status s = api.core.store().Ping();
    if (!s) return Response::Problem(s.error());
    return Response::Json(200, {{"status", "ready"}});
  });

  router.Add("GET", "/metrics", [&api](Request&) {
    // Group commit at work: writes acknowledged, and the durable commits that carried them.
    const domain::StoreStats st = api.core.store().Stats();
    std::string text = api.metrics.Render();
    text += "# HELP authd_store_writes_total Writes committed to the store.\n# TYPE authd_store_writes_total counter\n"
            "authd_store_writes_total " + std::to_string(st.writes) +
            "\n# HELP authd_store_commits_total Durable commits (one batch of writes each).\n"
            "# TYPE authd_store_commits_total counter\nauthd_store_commits_total " + std::to_string(st.commits) + "\n";
    text += "# HELP authd_store_page_cache_reads_total Database pages read past the readers' map: from the "
            "store's page cache (hit) or from the file (miss).\n# TYPE authd_store_page_cache_reads_total counter\n"
            "authd_store_page_cache_reads_total{result=\"hit\"} " + std::to_string(st.page_cache_hits) +
            "\nauthd_store_page_cache_reads_total{result=\"miss\"} " + std::to_string(st.page_cache_misses) + "\n";
    return Response::Text(200, text, "text/plain; version=0.0.4; charset=utf-8");
  });

  router.Add("GET", "/.well-known/jwks.json", [&api](Request&) {
    auto jwks = api.core.tokens().JwksJson();
    if (!jwks) return Response::Problem(jwks.error());
    Response r = Response::Text(200, jwks.value(), "application/jwk-set+json");
    return r;
  });

  router.Add("GET", "/.well-known/authd-configuration", [&api](Request&) {
    const std::string& base = api.settings.issuer;
    Json j = {{"issuer", api.settings.issuer},
              {"rp_id", api.settings.rp_id},
              {"rp_name", api.settings.rp_name},
              {"origins", api.settings.origins},
              {"token_signing_alg_values_supported", {api.settings.token_alg}},
              {"access_token_lifetime", api.core.options().tokens.ttl_seconds},
              {"ceremony_lifetime", api.settings.ceremony_ttl},
              {"jwks_uri", base + "/.well-known/jwks.json"},
              {"introspection_endpoint", base + "/v1/tokens/introspect"},
              {"revocation_endpoint", base + "/v1/tokens/revoke"},
              {"introspection_endpoint_auth_methods_supported", {"client_secret_basic"}},
              {"revocation_endpoint_auth_methods_supported", {"client_secret_basic"}}};
    if (api.webauthn) {
      j["webauthn_registration_endpoint"] = base + "/v1/webauthn/registration/options";
      j["webauthn_authentication_endpoint"] = base + "/v1/webauthn/authentication/options";
    }
    if (api.otp) {
      j["totp_enrollment_endpoint"] = base + "/v1/totp/enrollment";
      j["totp_verification_endpoint"] = base + "/v1/totp/verify";
      j["yubiotp_verification_endpoint"] = base + "/v1/yubiotp/verify";
      j["ykval_endpoint"] = base + "/wsapi/2.0/verify";
    }
    return Response::Json(200, j);
  });
}

}  // namespace authd::http
