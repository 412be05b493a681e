// WebAuthn ceremonies for authd: who may register a key for whom, the server-side ceremony
// state (single-use, expiring, in the store so any node can finish it), the §7.1/§7.2
// verification from authd::webauthn, and what success and failure change. Thread-safe.
#pragma once

#include <mutex>
#include <random>
#include <unordered_map>

#include <optional>
#include <string>
#include <vector>

#include "authd/domain/core.h"
#include "authd/domain/plan.h"
#include "authd/webauthn/ceremony.h"

namespace authd::domain {

enum class CounterPolicy { kReject, kRejectAndDisable };

struct WebAuthnOptions {
  std::string rp_id = "localhost";
  std::string rp_name = "authd";
  webauthn::OriginPolicy origins{{"http://localhost:8080"}, false, {}};
  int64_t ceremony_ttl = 300;
  std::vector<int64_t> algorithms = {webauthn::cose::kES256, webauthn::cose::kEdDSA, webauthn::cose::kRS256};
  std::string min_user_verification = "discouraged";  // "required" makes UV mandatory everywhere
  CounterPolicy counter_policy = CounterPolicy::kReject;
  webauthn::TrustPolicy trust;  // `now` is filled per request
  size_t kept_keys = 16384;     // credential keys kept parsed, at most
};

struct RegistrationRequest {
  std::string username;
  std::string enrollment_code;
  std::string display_name;
  std::string resident_key = "preferred";        // discouraged | preferred | required
  std::string user_verification = "preferred";   // discouraged | preferred | required
  std::string attestation = "direct";            // none | indirect | direct | enterprise
  std::string authenticator_attachment;          // "" | platform | cross-platform
};

struct CeremonyStarted {
  std::string handle;  // opaque, single use
  std::string public_key;  // PublicKeyCredential{Creation,Request}OptionsJSON, as JSON text
};

struct RegistrationResult {
  WebAuthnCredential credential;
  Credential record;
};

struct AuthenticationRequest {
  std::string username;  // empty: usernameless (discoverable credentials)
  std::string client_id;
  std::string user_verification = "preferred";
};

// The parts of a PublicKeyCredential JSON that verification needs, already base64url-decoded.
struct RegistrationCredential {
  Bytes raw_id;
  Bytes client_data_json;
  Bytes attestation_object;
  std::vector<std::string> transports;
  std::optional<bool> discoverable;  // clientExtensionResults.credProps.rk
};
struct AuthenticationCredential {
  Bytes raw_id;
  Bytes client_data_json;
  Bytes authenticator_data;
  Bytes signature;
  std::optional<Bytes> user_handle;
  bool appid_extension_used = false;
};

class WebAuthnService {
 public:
  WebAuthnService(Core& core, const Keyring& keyring, WebAuthnOptions options);

  // Authorised by `who` (the user themself, or an enroller/admin) or by an enrolment code for
  // the user. kInvalidToken/kForbidden/kInvalidEnrollmentCode otherwise; kNotFound for an unknown
  // user only when an enroller or admin asks.
  Result<CeremonyStarted> StartRegistration(const std::optional<Principal>& who, const RegistrationRequest& req,
                                            const AuditContext& ctx);
  Result<RegistrationResult> FinishRegistration(std::string_view handle, const RegistrationCredential& cred,
                                                std::string nickname, const AuditContext& ctx);
  // FinishRegistration up to its write: refusals come back as errors, a verified attestation as
  // the write that stores the key and the result that follows (plan.h).
  Result<Plan<RegistrationResult>> PlanFinishRegistration(std::string_view handle, const RegistrationCredential& cred,
                                                          std::string nickname, const AuditContext& ctx);

  // The same answer shape for unknown users (with stable made-up credential ids).
  Result<CeremonyStarted> StartAuthentication(const AuthenticationRequest& req, const AuditContext& ctx);
  Result<IssuedToken> FinishAuthentication(std::string_view handle, const AuthenticationCredential& cred,
                                           const AuditContext& ctx);
  // FinishAuthentication up to its write: refusals come back as errors, a verified assertion as
  // the write that records the login and the token that follows (plan.h).
  Result<Plan<IssuedToken>> PlanFinishAuthentication(std::string_view handle, const AuthenticationCredential& cred,
                                                     const AuditContext& ctx);

  // Registers a key enrolled elsewhere (pam_u2f, an earlier U2F server) for `username`: it is
  // used through the appid extension with `appid` (§10.1.1). kCredentialExists, kNotFound,
  // kInvalidPublicKey.
  // Credential keys kept parsed now (at most WebAuthnOptions::kept_keys).
  size_t KeptKeys();

  Result<WebAuthnCredential> ImportCredential(std::string_view username, const Bytes& raw_id, const Bytes& cose_key,
                                              std::string appid, std::string source, const AuditContext& ctx);

  const WebAuthnOptions& options() const { return options_; }

 private:
  Result<Ceremony> OpenLiveCeremony(std::string_view handle, std::string_view kind, const AuditContext& ctx,
                                    const std::string& action);
  // kChallengeUnknown, audited: a handle that is not a live ceremony of this kind, or was used.
  Error RefuseUnknownCeremony(const AuditContext& ctx, const std::string& action);
  void Refuse(const AuditContext& ctx, const std::string& action, const std::string& target, const Error& error,
              const Ceremony* consume);

  // Credential public keys, parsed once: a credential's key never changes after registration,
  // and parsing and validating it costs as much as the signature check itself. Bounded.
  std::shared_ptr<const webauthn::CosePublicKey> ParsedKey(const WebAuthnCredential& credential);

  Core& core_;
  const Keyring& keyring_;
  WebAuthnOptions options_;
  SecretBytes decoy_key_;
  std::mutex key_cache_mu_;
  std::unordered_map<std::string, std::pair<Bytes, std::shared_ptr<const webauthn::CosePublicKey>>> key_cache_;
  std::minstd_rand key_cache_rng_;  // which key goes when the cache is full; under key_cache_mu_
  // The users the authentication options read, by id, while the store's change generation stands
  // (record_cache.h): the verification that follows finds its credential's owner here instead of
  // searching the users again (a cold search with many users).
  RecordCache<User> users_read_{16384, 30};
};

}  // namespace authd::domain
