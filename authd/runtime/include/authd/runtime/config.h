// Configuration: built-in defaults, then an optional file (--config FILE), then AUTHD_*
// environment variables, which win. authd and authctl read it the same way.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd::runtime {

struct Config {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  std::string db = "./authd.db";
  std::string rp_id = "localhost";
  std::string rp_name = "authd";
  std::vector<std::string> origins = {"http://localhost:8080"};
  std::string issuer;    // default: the first origin
  std::string audience;  // default audience of tokens for authd itself; default: the issuer
  int64_t token_ttl = 300;
  int64_t ceremony_ttl = 300;
  int64_t enrollment_code_ttl = 24 * 3600;
  int64_t max_credentials_per_user = 32;
  std::string token_alg = "ES256";
  std::string tls_cert;
  std::string tls_key;
  std::string master_key_file;  // default: authd.master.key beside the SQLite file
  bool audit_pseudonymize = false;
  int64_t max_body = 64 * 1024;
  int64_t threads = 16;
  int64_t max_queued = 64;
  int64_t request_timeout = 10;
  std::string log_level = "info";
  // WebAuthn policy
  std::vector<std::string> top_origins;  // non-empty: ceremonies may run in iframes on these pages
  std::string user_verification = "discouraged";  // the least a ceremony asks for
  std::string counter_policy = "reject";          // reject | disable
  std::string attestation = "any";                // any | attested | trusted
  std::vector<std::string> attestation_roots;     // PEM files
  std::vector<std::string> aaguid_allow;          // hex or UUID form
  std::vector<std::string> aaguid_deny;
  // One-time passwords and lockout
  std::string totp_algorithm = "SHA1";  // SHA1 | SHA256 | SHA512
  int64_t totp_digits = 6;
  int64_t totp_period = 30;
  int64_t totp_window = 1;
  int64_t lockout_delay_after = 3;
  int64_t lockout_delay = 5;
  int64_t lockout_max_failures = 10;
  bool ykval_require_signature = true;
  int64_t rate_limit = 20;  // verification requests per second per source address (burst: 2x)

  bool tls() const { return !tls_cert.empty() && !tls_key.empty(); }
  std::string listen() const;
};

// One row of the settings table (README, `authd --help`).
struct SettingInfo {
  const char* key;  // file key; the environment variable is AUTHD_<KEY upper-cased>
  const char* help;
};
const std::vector<SettingInfo>& Settings();

// Reads `file` (if not empty) and then `env` (normally the process environment).
// kInvalidArgument naming the setting and what is wrong with it.
Result<Config> LoadConfig(const std::string& file, const std::map<std::string, std::string>& env);
std::map<std::string, std::string> ProcessEnvironment();

// An AAGUID as 32 hex digits, with or without the UUID dashes.
std::optional<Bytes> ParseAaguid(std::string_view text);

}  // namespace authd::runtime
