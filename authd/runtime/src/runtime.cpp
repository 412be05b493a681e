#include "authd/runtime/runtime.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/log.h"
#include "authd/store/sqlite_store.h"

namespace authd::runtime {
namespace {

constexpr std::string_view kKeyCheckMeta = "master_key_check";
constexpr std::string_view kKeyCheckPlain = "authd master key check v1";

}  // namespace

Result<SecretBytes> ReadMasterKey(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Err(ErrorCode::kInvalidArgument, "cannot read master key file " + path + ": " + std::strerror(errno));
  }
  struct stat st{};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    ::close(fd);
    return Err(ErrorCode::kInvalidArgument, "master key file " + path +
                                                " is readable by other users; run: chmod 600 " + path);
  }
  char buf[130];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  auto key = HexDecode(text);
  OPENSSL_cleanse(buf, sizeof(buf));
  if (!key || key->size() != domain::kMasterKeySize) {
    if (key) OPENSSL_cleanse(key->data(), key->size());
    return Err(ErrorCode::kInvalidArgument, "master key file " + path + " does not hold 64 hex characters");
  }
  return SecretBytes(std::move(*key));
}

Status WriteMasterKey(const std::string& path, const SecretBytes& key) {
  std::string hex = HexEncode(key.view()) + "\n";
  Status s = WriteFileDurably(path, AsBytes(hex));
  OPENSSL_cleanse(hex.data(), hex.size());
  return s;
}

domain::CoreOptions CoreOptionsFrom(const Config& c) {
  domain::CoreOptions o;
  o.tokens.issuer = c.issuer;
  o.tokens.default_audience = c.audience;
  o.tokens.ttl_seconds = c.token_ttl;
  o.tokens.alg = c.token_alg == "EdDSA" ? JwsAlg::kEdDSA : JwsAlg::kES256;
  o.enrollment_code_ttl = c.enrollment_code_ttl;
  o.max_credentials_per_user = c.max_credentials_per_user;
  o.pseudonymize_audit = c.audit_pseudonymize;
  return o;
}

domain::OtpOptions OtpOptionsFrom(const Config& c) {
  domain::OtpOptions o;
  o.issuer = c.rp_name;
  o.totp.alg = domain::otp::ParseHashAlg(c.totp_algorithm).value_or(domain::otp::HashAlg::kSha1);
  o.totp.digits = static_cast<int>(c.totp_digits);
  o.totp.period = static_cast<int>(c.totp_period);
  o.totp_window = static_cast<int>(c.totp_window);
  o.delay_after = c.lockout_delay_after;
  o.delay_seconds = c.lockout_delay;
  o.max_failures = c.lockout_max_failures;
  o.ykval_require_signature = c.ykval_require_signature;
  return o;
}

Result<domain::WebAuthnOptions> WebAuthnOptionsFrom(const Config& c) {
  domain::WebAuthnOptions o;
  o.rp_id = c.rp_id;
  o.rp_name = c.rp_name;
  o.origins.origins = c.origins;
  // WebAuthn §7.1 steps 10-11: cross-origin iframes only where top-level origins are configured.
  o.origins.allow_cross_origin = !c.top_origins.empty();
  o.origins.top_origins = c.top_origins;
  o.ceremony_ttl = c.ceremony_ttl;
  o.min_user_verification = c.user_verification;
  o.counter_policy = c.counter_policy == "disable" ? domain::CounterPolicy::kRejectAndDisable : domain::CounterPolicy::kReject;
  o.trust.allow_none = c.attestation == "any";
  o.trust.allow_self = c.attestation == "any";
  o.trust.require_trusted_chain = c.attestation == "trusted";
  if (!c.attestation_roots.empty()) {
    AUTHD_ASSIGN_OR_RETURN(o.trust.roots, webauthn::LoadTrustAnchors(c.attestation_roots));
  }
  for (const auto& a : c.aaguid_allow) o.trust.aaguid_allow.push_back(*ParseAaguid(a));
  for (const auto& a : c.aaguid_deny) o.trust.aaguid_deny.push_back(*ParseAaguid(a));
  return o;
}

Result<std::unique_ptr<Runtime>> OpenRuntime(const Config& config) {
  auto rt = std::make_unique<Runtime>();
  rt->config = config;
  rt->clock = std::make_unique<SystemClock>();
  if (config.db.rfind("postgresql://", 0) == 0 || config.db.rfind("postgres://", 0) == 0) {
    return Err(ErrorCode::kInvalidArgument, "this build of authd has no PostgreSQL store; use a SQLite path for AUTHD_DB");
  }
  AUTHD_ASSIGN_OR_RETURN(rt->store, store::OpenSqliteStore(config.db));

  std::optional<std::string> check;
  AUTHD_RETURN_IF_ERROR(rt->store->Read([&](domain::ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(check, tx.GetMeta(kKeyCheckMeta));
    return Ok();
  }));

  SecretBytes master;
  if (!check) {
    // A new store: use the key file if the operator placed one, else create it.
    if (::access(config.master_key_file.c_str(), F_OK) == 0) {
      AUTHD_ASSIGN_OR_RETURN(master, ReadMasterKey(config.master_key_file));
    } else {
      master = RandomSecret(domain::kMasterKeySize);
      AUTHD_RETURN_IF_ERROR(WriteMasterKey(config.master_key_file, master));
      Log(LogLevel::kInfo, "master_key_created", {{"file", config.master_key_file}, {"advice", "back this file up apart from the database"}});
    }
    rt->keyring = std::make_unique<domain::Keyring>(master);
    std::string sealed = Base64UrlEncode(rt->keyring->Seal(AsBytes(kKeyCheckPlain), kKeyCheckMeta));
    AUTHD_RETURN_IF_ERROR(rt->store->Write([&](domain::WriteTx& tx) -> Status {
      // Another process may have initialised the store meanwhile: keep the first check.
      AUTHD_ASSIGN_OR_RETURN(auto again, tx.GetMeta(kKeyCheckMeta));
      if (!again) AUTHD_RETURN_IF_ERROR(tx.PutMeta(kKeyCheckMeta, sealed));
      check = again ? *again : sealed;
      return Ok();
    }));
  } else {
    if (::access(config.master_key_file.c_str(), F_OK) != 0) {
      return Err(ErrorCode::kInvalidArgument, "the database " + config.db + " is sealed with a master key, but " +
                                                  config.master_key_file +
                                                  " does not exist; restore the key file from your backup or set "
                                                  "AUTHD_MASTER_KEY_FILE");
    }
    AUTHD_ASSIGN_OR_RETURN(master, ReadMasterKey(config.master_key_file));
    rt->keyring = std::make_unique<domain::Keyring>(master);
  }
  auto sealed = Base64UrlDecode(*check);
  if (!sealed || !rt->keyring->Open(*sealed, kKeyCheckMeta)) {
    return Err(ErrorCode::kInvalidArgument, "the master key in " + config.master_key_file + " does not open " +
                                                config.db + "; use the key file that was created with this database");
  }
  rt->core = std::make_unique<domain::Core>(*rt->store, *rt->keyring, *rt->clock, CoreOptionsFrom(config));
  AUTHD_RETURN_IF_ERROR(rt->core->Init());
  AUTHD_ASSIGN_OR_RETURN(auto webauthn_options, WebAuthnOptionsFrom(config));
  rt->webauthn = std::make_unique<domain::WebAuthnService>(*rt->core, *rt->keyring, std::move(webauthn_options));
  rt->otp = std::make_unique<domain::OtpService>(*rt->core, *rt->keyring, OtpOptionsFrom(config));
  return rt;
}

}  // namespace authd::runtime
