// The services: the only place that decides whether something is allowed. HTTP handlers and
// authctl parse input, call these, and render the result.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "authd/base/clock.h"
#include "authd/domain/audit.h"
#include "authd/domain/keyring.h"
#include "authd/domain/policy.h"
#include "authd/domain/record_cache.h"
#include "authd/domain/store.h"
#include "authd/domain/tokens.h"

namespace authd::domain {

struct CoreOptions {
  TokenOptions tokens;
  int64_t enrollment_code_ttl = 24 * 3600;
  int64_t max_enrollment_code_ttl = 30 * 24 * 3600;
  bool pseudonymize_audit = false;
  // Credentials (keys, TOTP apps, YubiKeys) a user may hold at once; revoked ones do not count.
  int64_t max_credentials_per_user = 32;
};

// The caller of an admin operation: a user authenticated by a Bearer token, or the operator at
// authctl (who holds the store and the master key, so every permission).
struct Principal {
  User user;
  std::string jti;  // empty for the operator
  bool operator_cli = false;
};

struct NewUser {
  std::string username;
  std::string display_name;
  std::vector<std::string> roles;
};

struct UserView {
  User user;
  std::vector<Credential> credentials;
};

struct UserPage {
  std::vector<User> users;
  std::string next_cursor;  // empty on the last page
};

struct IssuedEnrollmentCode {
  std::string code;  // shown once
  int64_t expires_at = 0;
};

struct NewClient {
  std::string name;
  std::vector<std::string> scopes;
  std::vector<std::string> allowed_ips;
};

struct ClientSecrets {
  Client client;
  std::string client_secret;  // shown once
  std::string ykval_key;      // base64, shown once
};

// RFC 7662 response for the calling client.
struct Introspection {
  bool active = false;
  TokenRecord record;
};

// Thread-safe: holds no mutable state of its own beyond TokenService's key cache.
class Core {
 public:
  Core(Store& store, const Keyring& keyring, const Clock& clock, CoreOptions options);

  Status Init() { return tokens_.Init(); }
  Store& store() { return store_; }
  TokenService& tokens() { return tokens_; }
  const AuditLog& audit() const { return audit_; }
  const Clock& clock() const { return clock_; }
  const CoreOptions& options() const { return options_; }

  // --- callers -------------------------------------------------------------------------
  // Validates "Bearer <token>": a live token for the default audience, of an active user.
  // Failures are audited and return kInvalidToken (or kUserDisabled).
  Result<Principal> AuthenticateBearer(std::string_view authorization, const AuditContext& ctx);
  // kForbidden (audited) unless the principal holds the permission.
  Status Authorize(const Principal& who, Permission permission, const AuditContext& ctx,
                   std::string_view target);
  // HTTP Basic client authentication (RFC 6749 §2.3.1) plus the client's address allow-list
  // and scope. Failures are audited: kInvalidClient, kAddressNotAllowed, kInsufficientScope.
  Result<Client> AuthenticateClient(std::string_view client_id, std::string_view secret,
                                    std::string_view source, std::string_view scope,
                                    const AuditContext& ctx);

  // --- users ---------------------------------------------------------------------------
  Result<User> CreateUser(const Principal& who, const AuditContext& ctx, NewUser in);
  Result<UserView> GetUser(std::string_view username);
  Result<UserPage> ListUsers(std::string_view query, int limit, std::string_view cursor);
  // "active" or "disabled"; disabling revokes every live token of the user.
  Result<User> SetUserStatus(const AuditContext& ctx, std::string_view username, std::string_view status);
  Result<IssuedEnrollmentCode> IssueEnrollmentCode(const AuditContext& ctx, std::string_view username,
                                                   int64_t ttl_seconds);
  // Consumes a code for `user` inside the caller's transaction (so it is used only if the
  // enrolment commits). kInvalidEnrollmentCode for a wrong, used, expired or foreign code.
  Status ConsumeEnrollmentCode(WriteTx& tx, const User& user, std::string_view code);
  // Marks the credential revoked and revokes every live token issued through it.
  Status RevokeCredential(const AuditContext& ctx, std::string_view username, std::string_view credential_id);
  // The same inside the caller's transaction, audited with `reason`; kNotFound when the user has
  // no such credential.
  Status RevokeCredentialIn(WriteTx& tx, const AuditContext& ctx, const User& user, std::string_view credential_id,
                            std::string reason = {});
  Result<int64_t> RevokeUserTokens(const AuditContext& ctx, std::string_view username);
  // Revokes one token by jti (admin). Returns false if no live token had that jti.
  Result<bool> RevokeTokenByJti(const AuditContext& ctx, std::string_view jti);
  // A token for `username` minted by the operator at authctl (bootstrap, scripts).
  Result<IssuedToken> IssueOperatorToken(const AuditContext& ctx, std::string_view username);

  // --- API clients ---------------------------------------------------------------------
  Result<ClientSecrets> CreateClient(const AuditContext& ctx, NewClient in);

  // The client with this id (at most 128 characters), from the records kept for introspection
  // while they are current (RecordCache), else read and kept; nullopt for an unknown client.
  Result<std::optional<Client>> FindClientKept(std::string_view client_id);

  // --- downstream apps -----------------------------------------------------------------
  // For a client already authenticated.
  Result<Introspection> Introspect(const Client& caller, std::string_view token);
  // Client authentication (as AuthenticateClient with the "introspect" scope) and then the
  // token's lookup, in one read transaction: what the HTTP route uses.
  Result<Introspection> IntrospectAs(std::string_view client_id, std::string_view secret, std::string_view source,
                                     std::string_view token, const AuditContext& ctx);
  // RFC 7009: revokes the token if it was issued to this client; Ok whether or not it was.
  Status RevokeByClient(const Client& caller, std::string_view token, const AuditContext& ctx);

  // --- audit ---------------------------------------------------------------------------
  Result<std::vector<AuditEvent>> ListAudit(int64_t since_ms, int64_t before_seq, int limit);

  // Deletes token records that expired more than a day ago (introspection of those answers
  // inactive anyway) and the ids of used WebAuthn ceremonies that expired (their handles are
  // refused as expired anyway), in transactions of at most `chunk` rows each, so that the writes
  // of requests queued meanwhile wait for one small transaction, never for the whole purge.
  // Deletes all that had expired when it began. `go_on`, if given, is called between two
  // transactions and may wait there (to spread the purge out); it returns false to stop. Returns
  // how many rows it deleted.
  static constexpr int kPurgeChunk = 500;
  Result<int64_t> PurgeExpired(int chunk = kPurgeChunk, const std::function<bool()>& go_on = nullptr);

  // For the factor services: the user by (normalised) username, kNotFound otherwise; and an
  // audit line for a refusal, written in its own transaction.
  Result<User> LoadUser(ReadTx& tx, std::string_view username);
  // kTooManyCredentials when the user holds max_credentials_per_user credentials that are not
  // revoked, unconfirmed TOTP enrolments counted: checked before a ceremony starts and again in
  // the transaction that stores one.
  Status CheckRoomForCredential(ReadTx& tx, std::string_view user_id) const;
  // In a verification's write, before it consumes anything or issues a token: kUserDisabled or
  // kCredentialRevoked when an administrator disabled the user or took the credential out of
  // service after the verification read them. The write is ordered with the administrator's, so
  // either it comes first (and the revocation finds its token) or it sees the change here.
  // `read_at`: the store's CacheStamp taken before the verification's read; while it still holds,
  // no user or credential record has changed since, and nothing is read again.
  Status StillInService(ReadTx& tx, uint64_t read_at, std::string_view user_id, std::string_view credential_id) const;
  // The same for an enrolment's write, before it stores a key: kUserDisabled when the user was
  // disabled after the enrolment began.
  static Status UserStillActive(ReadTx& tx, std::string_view user_id);
  void AuditRefusal(const AuditContext& ctx, AuditEntry entry);

 private:
  // Audits a refused client authentication and returns the error to answer with.
  Error RefuseClient(std::string_view client_id, ErrorCode code, std::string detail, const AuditContext& ctx);
  Introspection Judge(const Client& caller, std::optional<TokenRecord> rec) const;
  // IntrospectAs from the record caches alone, when they hold the client and the token and the
  // client proves itself; nothing otherwise.
  std::optional<Introspection> IntrospectCached(std::string_view client_id, std::string_view secret,
                                                std::string_view source, std::string_view token, uint64_t stamp,
                                                int64_t now) const;

  Store& store_;
  const Keyring& keyring_;
  const Clock& clock_;
  CoreOptions options_;
  AuditLog audit_;
  TokenService tokens_;
  // Introspection's reads, kept while the store's change generation stands (record_cache.h).
  RecordCache<Client> client_cache_{1024, 30};
  RecordCache<TokenRecord> token_cache_{16384, 30};
};

// Normalises an enrolment code as a person may type it (case, dashes, spaces) and hashes it.
Bytes HashEnrollmentCode(std::string_view code);

}  // namespace authd::domain
