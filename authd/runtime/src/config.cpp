#include "authd/runtime/config.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>

#include "authd/base/encoding.h"
#include "authd/domain/policy.h"

extern char** environ;

namespace authd::runtime {
namespace {

Error Bad(std::string_view key, std::string why) {
  return Err(ErrorCode::kInvalidArgument, "setting " + std::string(key) + ": " + why);
}

Result<int64_t> ParseInt(std::string_view key, std::string_view v, int64_t min, int64_t max) {
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return Bad(key, "\"" + std::string(v) + "\" is not a whole number");
  if (out < min || out > max) {
    return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return out;
}

Result<bool> ParseBool(std::string_view key, std::string_view v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return Bad(key, "must be true or false");
}

// An origin is scheme://host[:port] with nothing after it (WebAuthn §13 exact matching).
bool IsOrigin(std::string_view o) {
  size_t sep = o.find("://");
  if (sep == std::string_view::npos) return false;
  std::string_view scheme = o.substr(0, sep);
  if (scheme != "https" && scheme != "http") return false;
  std::string_view rest = o.substr(sep + 3);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) return false;
  return true;
}

using Setter = std::function<Status(Config&, std::string_view key, const std::string& value)>;

struct Entry {
  SettingInfo info;
  Setter set;
};

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> kEntries = {
      {{"listen", "host:port to listen on (port 0 picks a free port)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         size_t colon = v.rfind(':');
         if (colon == std::string::npos || colon == 0) return Bad(k, "expected host:port, e.g. 127.0.0.1:8080");
         AUTHD_ASSIGN_OR_RETURN(int64_t port, ParseInt(k, std::string_view(v).substr(colon + 1), 0, 65535));
         std::string host = v.substr(0, colon);
         if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
         c.listen_host = host;
         c.listen_port = static_cast<uint16_t>(port);
         return Ok();
       }},
      {{"db", "SQLite file path, or a postgresql:// URI"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v.empty()) return Bad(k, "must not be empty");
         c.db = v;
         return Ok();
       }},
      {{"rp_id", "WebAuthn relying party id (a registrable domain)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v.empty() || v.find_first_of(":/ ") != std::string::npos) return Bad(k, "must be a host name");
         c.rp_id = v;
         return Ok();
       }},
      {{"rp_name", "relying party name shown by authenticators"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.rp_name = v;
         return Ok();
       }},
      {{"origins", "comma-separated allowed origins, e.g. https://login.example.org"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         auto list = domain::SplitList(v);
         if (list.empty()) return Bad(k, "needs at least one origin");
         for (const auto& o : list) {
           if (!IsOrigin(o)) return Bad(k, "\"" + o + "\" is not an origin (scheme://host[:port])");
         }
         c.origins = list;
         return Ok();
       }},
      {{"top_origins", "comma-separated top-level origins that may embed the ceremonies in an iframe"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         auto list = domain::SplitList(v);
         for (const auto& o : list) {
           if (!IsOrigin(o)) return Bad(k, "\"" + o + "\" is not an origin (scheme://host[:port])");
         }
         c.top_origins = list;
         return Ok();
       }},
      {{"issuer", "token issuer (iss); default: the first origin"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.issuer = v;
         return Ok();
       }},
      {{"audience", "audience of tokens for authd itself (admin API); default: the issuer"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.audience = v;
         return Ok();
       }},
      {{"token_ttl", "access token lifetime in seconds (default 300)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.token_ttl, ParseInt(k, v, 30, 24 * 3600));
         return Ok();
       }},
      {{"ceremony_ttl", "WebAuthn ceremony lifetime in seconds (default 300)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.ceremony_ttl, ParseInt(k, v, 10, 3600));
         return Ok();
       }},
      {{"enrollment_code_ttl", "default enrolment code lifetime in seconds (default 86400)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.enrollment_code_ttl, ParseInt(k, v, 60, 30 * 24 * 3600));
         return Ok();
       }},
      {{"max_credentials_per_user", "keys, TOTP apps and YubiKeys one user may hold, revoked ones aside (default 32)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.max_credentials_per_user, ParseInt(k, v, 1, 1000));
         return Ok();
       }},
      {{"token_alg", "ES256 (default) or EdDSA"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "ES256" && v != "EdDSA") return Bad(k, "must be ES256 or EdDSA");
         c.token_alg = v;
         return Ok();
       }},
      {{"tls_cert", "PEM certificate chain; HTTPS when tls_key is set too"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.tls_cert = v;
         return Ok();
       }},
      {{"tls_key", "PEM private key for tls_cert"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.tls_key = v;
         return Ok();
       }},
      {{"master_key_file", "file holding the key that seals secrets at rest"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.master_key_file = v;
         return Ok();
       }},
      {{"audit_pseudonymize", "true: pseudonymise addresses and failed usernames in the audit log"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.audit_pseudonymize, ParseBool(k, v));
         return Ok();
       }},
      {{"max_body", "largest request body in bytes (default 65536)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.max_body, ParseInt(k, v, 1024, 16 * 1024 * 1024));
         return Ok();
       }},
      {{"threads", "HTTP worker threads (default 16)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.threads, ParseInt(k, v, 2, 1024));
         return Ok();
       }},
      {{"max_queued", "connections waiting for a worker before new ones get 503 (default 64)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.max_queued, ParseInt(k, v, 1, 100000));
         return Ok();
       }},
      {{"request_timeout", "seconds allowed to send headers or body (default 10)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.request_timeout, ParseInt(k, v, 1, 300));
         return Ok();
       }},
      {{"user_verification", "least user verification a ceremony asks for: discouraged, preferred, required"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "discouraged" && v != "preferred" && v != "required") {
           return Bad(k, "must be discouraged, preferred or required");
         }
         c.user_verification = v;
         return Ok();
       }},
      {{"counter_policy", "on a signature counter that did not advance: reject, or disable (the key)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "reject" && v != "disable") return Bad(k, "must be reject or disable");
         c.counter_policy = v;
         return Ok();
       }},
      {{"attestation", "keys accepted at registration: any, attested (no none/self), trusted (chain to roots)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "any" && v != "attested" && v != "trusted") return Bad(k, "must be any, attested or trusted");
         c.attestation = v;
         return Ok();
       }},
      {{"attestation_roots", "comma-separated PEM files of trusted attestation roots"},
       [](Config& c, std::string_view, const std::string& v) -> Status {
         c.attestation_roots = domain::SplitList(v);
         return Ok();
       }},
      {{"aaguid_allow", "comma-separated AAGUIDs: only these models (needs trusted attestation)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         c.aaguid_allow = domain::SplitList(v);
         for (const auto& a : c.aaguid_allow) {
           if (!ParseAaguid(a)) return Bad(k, "\"" + a + "\" is not an AAGUID");
         }
         return Ok();
       }},
      {{"aaguid_deny", "comma-separated AAGUIDs of refused authenticator models"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         c.aaguid_deny = domain::SplitList(v);
         for (const auto& a : c.aaguid_deny) {
           if (!ParseAaguid(a)) return Bad(k, "\"" + a + "\" is not an AAGUID");
         }
         return Ok();
       }},
      {{"totp_algorithm", "HMAC of new TOTP credentials: SHA1 (what most apps support), SHA256 or SHA512"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "SHA1" && v != "SHA256" && v != "SHA512") return Bad(k, "must be SHA1, SHA256 or SHA512");
         c.totp_algorithm = v;
         return Ok();
       }},
      {{"totp_digits", "digits of new TOTP credentials: 6 or 8"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.totp_digits, ParseInt(k, v, 6, 8));
         if (c.totp_digits == 7) return Bad(k, "must be 6 or 8");
         return Ok();
       }},
      {{"totp_period", "time step of new TOTP credentials in seconds: 30 or 60"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.totp_period, ParseInt(k, v, 30, 60));
         if (c.totp_period != 30 && c.totp_period != 60) return Bad(k, "must be 30 or 60");
         return Ok();
       }},
      {{"totp_window", "TOTP steps accepted either side of now (default 1)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.totp_window, ParseInt(k, v, 0, 3));
         return Ok();
       }},
      {{"lockout_delay_after", "consecutive OTP failures after which every attempt must wait (default 3)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.lockout_delay_after, ParseInt(k, v, 1, 1000));
         return Ok();
       }},
      {{"lockout_delay", "seconds added to the wait by each further failure (default 5)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.lockout_delay, ParseInt(k, v, 0, 3600));
         return Ok();
       }},
      {{"lockout_max_failures", "consecutive OTP failures that lock the account until an admin unlocks it (default 10)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.lockout_max_failures, ParseInt(k, v, 1, 1000000));
         return Ok();
       }},
      {{"ykval_require_signature", "refuse unsigned Yubico validation requests: true or false (default true)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "true" && v != "false") return Bad(k, "must be true or false");
         c.ykval_require_signature = v == "true";
         return Ok();
       }},
      {{"rate_limit", "verification requests per second per source address, 0 for none (default 20)"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         AUTHD_ASSIGN_OR_RETURN(c.rate_limit, ParseInt(k, v, 0, 1000000));
         return Ok();
       }},
      {{"log_level", "debug, info, warn or error"},
       [](Config& c, std::string_view k, const std::string& v) -> Status {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") return Bad(k, "must be debug, info, warn or error");
         c.log_level = v;
         return Ok();
       }},
  };
  return kEntries;
}

Status Apply(Config& c, const std::string& key, const std::string& value) {
  for (const auto& e : Entries()) {
    if (key == e.info.key) return e.set(c, e.info.key, value);
  }
  return Err(ErrorCode::kInvalidArgument, "unknown setting \"" + key + "\"");
}

}  // namespace

std::optional<Bytes> ParseAaguid(std::string_view text) {
  std::string hex;
  for (char ch : text) {
    if (ch != '-') hex.push_back(ch);
  }
  auto b = HexDecode(hex);
  if (!b || b->size() != 16) return std::nullopt;
  return b;
}

namespace {

std::string Trim(std::string s) {
  auto not_space = [](unsigned char ch) { return !std::isspace(ch); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

std::string Config::listen() const {
  bool v6 = listen_host.find(':') != std::string::npos;
  return (v6 ? "[" + listen_host + "]" : listen_host) + ":" + std::to_string(listen_port);
}

const std::vector<SettingInfo>& Settings() {
  static const std::vector<SettingInfo> kInfo = [] {
    std::vector<SettingInfo> out;
    for (const auto& e : Entries()) out.push_back(e.info);
    return out;
  }();
  return kInfo;
}

Result<Config> LoadConfig(const std::string& file, const std::map<std::string, std::string>& env) {
  Config c;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Err(ErrorCode::kInvalidArgument, "cannot read configuration file " + file);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      line = Trim(line);
      if (line.empty() || line[0] == '#') continue;
      size_t eq = line.find('=');
      if (eq == std::string::npos) {
        return Err(ErrorCode::kInvalidArgument, file + ":" + std::to_string(n) + ": expected key = value");
      }
      Status s = Apply(c, Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)));
      if (!s) return Err(ErrorCode::kInvalidArgument, file + ":" + std::to_string(n) + ": " + s.error().detail);
    }
  }
  for (const auto& e : Entries()) {
    std::string name = "AUTHD_";
    for (const char* p = e.info.key; *p; ++p) name.push_back(static_cast<char>(std::toupper(*p)));
    auto it = env.find(name);
    if (it == env.end()) continue;
    Status s = e.set(c, e.info.key, it->second);
    if (!s) return Err(ErrorCode::kInvalidArgument, name + ": " + s.error().detail);
  }
  if (c.issuer.empty()) c.issuer = c.origins.front();
  if (c.audience.empty()) c.audience = c.issuer;
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return Err(ErrorCode::kInvalidArgument, "set both tls_cert and tls_key for HTTPS, or neither");
  }
  if (c.master_key_file.empty()) {
    if (c.db.rfind("postgresql://", 0) == 0 || c.db.rfind("postgres://", 0) == 0) {
      c.master_key_file = "./authd.master.key";
    } else {
      size_t slash = c.db.rfind('/');
      c.master_key_file = (slash == std::string::npos ? std::string() : c.db.substr(0, slash + 1)) + "authd.master.key";
    }
  }
  return c;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("AUTHD_", 0) != 0) continue;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

}  // namespace authd::runtime
