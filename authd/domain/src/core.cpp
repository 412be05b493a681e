#include "authd/domain/core.h"

#include <algorithm>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/log.h"

namespace authd::domain {
namespace {

constexpr int kMaxPageSize = 200;
constexpr int64_t kPurgeGraceSeconds = 24 * 3600;

AuditEntry Entry(std::string action, std::string target, std::string outcome = "success",
                 std::string reason = {}) {
  AuditEntry e;
  e.action = std::move(action);
  e.target = std::move(target);
  e.outcome = std::move(outcome);
  e.reason = std::move(reason);
  return e;
}

std::string UserTarget(std::string_view username) { return "user:" + std::string(username); }

}  // namespace

Bytes HashEnrollmentCode(std::string_view code) {
  std::string norm = "enrollment_code:";
  for (char c : code.substr(0, 256)) {
    if (c == '-' || c == ' ') continue;
    norm.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return Sha256(AsBytes(norm));
}

Core::Core(Store& store, const Keyring& keyring, const Clock& clock, CoreOptions options)
    : store_(store),
      keyring_(keyring),
      clock_(clock),
      options_(std::move(options)),
      audit_(keyring_, clock_, options_.pseudonymize_audit),
      tokens_(store_, keyring_, clock_, options_.tokens) {}

void Core::AuditRefusal(const AuditContext& ctx, AuditEntry entry) {
  (void)audit_.AppendNow(store_, ctx, entry);
}

Result<User> Core::LoadUser(ReadTx& tx, std::string_view username) {
  auto norm = NormalizeUsername(username);
  if (!norm) return Err(ErrorCode::kNotFound, "no such user");
  AUTHD_ASSIGN_OR_RETURN(auto user, tx.FindUserByName(norm.value()));
  if (!user) return Err(ErrorCode::kNotFound, "no such user");
  return std::move(*user);
}

Status Core::StillInService(ReadTx& tx, uint64_t read_at, std::string_view user_id,
                            std::string_view credential_id) const {
  if (read_at != 0 && store_.CacheStamp() == read_at) return Ok();
  AUTHD_ASSIGN_OR_RETURN(auto now, tx.FindServiceStatus(user_id, credential_id));
  if (!now) return Err(ErrorCode::kCredentialRevoked, "this key was removed meanwhile");
  if (now->user != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user was disabled meanwhile");
  if (now->credential != kStatusActive) return Err(ErrorCode::kCredentialRevoked, "this key was revoked meanwhile");
  return Ok();
}

Status Core::UserStillActive(ReadTx& tx, std::string_view user_id) {
  AUTHD_ASSIGN_OR_RETURN(auto user, tx.FindUserById(user_id));
  if (!user || user->status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user was disabled meanwhile");
  return Ok();
}

Status Core::CheckRoomForCredential(ReadTx& tx, std::string_view user_id) const {
  // An unconfirmed TOTP enrolment takes its room until it is confirmed or expires.
  AUTHD_ASSIGN_OR_RETURN(auto held, tx.CountHeldCredentials(user_id, clock_.NowSeconds()));
  const int64_t live = held.live, pending = held.pending;
  if (live + pending < options_.max_credentials_per_user) return Ok();
  std::string detail = "the user holds " + std::to_string(live) + " credentials";
  if (pending > 0) detail += " and " + std::to_string(pending) + " unconfirmed TOTP enrolments";
  return Err(ErrorCode::kTooManyCredentials,
             detail + ", the most allowed; revoke one (or let an enrolment expire) before adding another");
}

// --- callers -------------------------------------------------------------------------------

Result<Principal> Core::AuthenticateBearer(std::string_view authorization, const AuditContext& ctx) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) {
    return Err(ErrorCode::kInvalidToken, "a Bearer access token is required");
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) {
      return Err(ErrorCode::kInvalidToken, "a Bearer access token is required");
    }
  }
  std::string_view token = authorization.substr(kScheme.size());
  std::optional<TokenRecord> rec;
  std::optional<User> user;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(rec, tokens_.Find(tx, token));
    if (rec) {
      AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserById(rec->user_id));
    }
    return Ok();
  });
  if (!s) return s.error();
  ErrorCode failure = ErrorCode::kInvalidToken;
  if (rec && tokens_.IsLive(*rec) && rec->audience == options_.tokens.default_audience && user) {
    if (user->status == kStatusActive) {
      return Principal{std::move(*user), rec->jti, false};
    }
    failure = ErrorCode::kUserDisabled;
  }
  AuditEntry e = Entry("token.authenticate", rec ? "token:" + rec->jti : "token:unknown", "failure",
                       std::string(ErrorCodeName(failure)));
  e.attempt = true;
  AuditRefusal(ctx, std::move(e));
  if (failure == ErrorCode::kUserDisabled) return Err(failure, "the user is disabled");
  return Err(ErrorCode::kInvalidToken, "the access token is invalid, expired or revoked");
}

Status Core::Authorize(const Principal& who, Permission permission, const AuditContext& ctx,
                       std::string_view target) {
  if (who.operator_cli || RolesAllow(who.user.roles, permission)) return Ok();
  AuditEntry e = Entry("access.denied", std::string(target), "denied", "forbidden");
  e.detail = {{"permission", PermissionName(permission)}};
  AuditRefusal(ctx, std::move(e));
  return Err(ErrorCode::kForbidden, "your roles do not allow this");
}

namespace {

// Whether a client's credentials are accepted, and why not.
struct ClientCheck {
  bool ok = true;
  ErrorCode code = ErrorCode::kInvalidClient;
  std::string detail;
};

ClientCheck CheckClient(const std::optional<Client>& client, std::string_view secret, std::string_view source,
                        std::string_view scope) {
  // Hash even for an unknown client, so timing does not tell which client ids exist.
  Bytes presented = Sha256(AsBytes(secret.substr(0, 256)));
  bool secret_ok = client && SafeEquals(presented, client->secret_hash) && client->status == kStatusActive;
  if (!secret_ok) return {false, ErrorCode::kInvalidClient, "client authentication failed"};
  auto allow = IpAllowList::Parse(client->allowed_ips);
  if (!allow || !allow->Allows(source)) {
    return {false, ErrorCode::kAddressNotAllowed, "this client may not call from this address"};
  }
  if (!scope.empty() && std::find(client->scopes.begin(), client->scopes.end(), scope) == client->scopes.end()) {
    return {false, ErrorCode::kInsufficientScope, "this client lacks the \"" + std::string(scope) + "\" scope"};
  }
  return {true, ErrorCode::kInvalidClient, {}};
}

}  // namespace

Error Core::RefuseClient(std::string_view client_id, ErrorCode code, std::string detail, const AuditContext& ctx) {
  AuditEntry e = Entry("client.authenticate", "client:" + std::string(client_id.substr(0, 128)),
                       code == ErrorCode::kInvalidClient ? "failure" : "denied", std::string(ErrorCodeName(code)));
  e.attempt = true;
  AuditRefusal(ctx, std::move(e));
  return Err(code, std::move(detail));
}

Result<Client> Core::AuthenticateClient(std::string_view client_id, std::string_view secret,
                                        std::string_view source, std::string_view scope,
                                        const AuditContext& ctx) {
  std::optional<Client> client;
  if (client_id.size() <= 128) {
    Status s = store_.Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(client, tx.FindClient(client_id));
      return Ok();
    });
    if (!s) return s.error();
  }
  ClientCheck check = CheckClient(client, secret, source, scope);
  if (!check.ok) return RefuseClient(client_id, check.code, std::move(check.detail), ctx);
  return std::move(*client);
}

// --- users ---------------------------------------------------------------------------------

Result<User> Core::CreateUser(const Principal& who, const AuditContext& ctx, NewUser in) {
  AUTHD_ASSIGN_OR_RETURN(std::string username, NormalizeUsername(in.username));
  AUTHD_ASSIGN_OR_RETURN(auto roles, NormalizeRoles(in.roles));
  if (in.display_name.size() > 256) return Err(ErrorCode::kInvalidArgument, "display_name is too long");
  AUTHD_RETURN_IF_ERROR(Authorize(who, Permission::kCreateUser, ctx, UserTarget(username)));
  // Granting a role is an admin's decision: an enroller must not mint admins.
  if (!roles.empty()) AUTHD_RETURN_IF_ERROR(Authorize(who, Permission::kGrantRoles, ctx, UserTarget(username)));
  User user;
  user.id = RandomId(16);
  user.username = username;
  user.display_name = in.display_name.empty() ? username : in.display_name;
  user.roles = roles;
  user.created_at = user.updated_at = clock_.NowSeconds();
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(user));
    AuditEntry e = Entry("user.create", UserTarget(username));
    e.detail = {{"roles", roles}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return user;
}

Result<UserView> Core::GetUser(std::string_view username) {
  UserView view;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(view.user, LoadUser(tx, username));
    AUTHD_ASSIGN_OR_RETURN(view.credentials, tx.ListCredentials(view.user.id));
    return Ok();
  });
  if (!s) return s.error();
  return view;
}

Result<UserPage> Core::ListUsers(std::string_view query, int limit, std::string_view cursor) {
  if (limit <= 0) limit = 50;
  limit = std::min(limit, kMaxPageSize);
  if (query.size() > 64) return Err(ErrorCode::kInvalidArgument, "q is too long");
  std::string after;
  if (!cursor.empty()) {
    auto raw = Base64UrlDecode(cursor);
    if (!raw || raw->size() > 64) return Err(ErrorCode::kInvalidArgument, "cursor is not valid");
    after.assign(raw->begin(), raw->end());
  }
  UserPage page;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(page.users, tx.ListUsers(query, after, limit + 1));
    return Ok();
  });
  if (!s) return s.error();
  if (static_cast<int>(page.users.size()) > limit) {
    page.users.resize(static_cast<size_t>(limit));
    page.next_cursor = Base64UrlEncode(AsBytes(page.users.back().username));
  }
  return page;
}

Result<User> Core::SetUserStatus(const AuditContext& ctx, std::string_view username, std::string_view status) {
  if (status != kStatusActive && status != kStatusDisabled) {
    return Err(ErrorCode::kInvalidArgument, "status must be \"active\" or \"disabled\"");
  }
  User user;
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(user, LoadUser(tx, username));
    int64_t revoked = 0;
    user.status = std::string(status);
    user.updated_at = clock_.NowSeconds();
    AUTHD_RETURN_IF_ERROR(tx.UpdateUser(user));
    if (status == kStatusDisabled) {
      AUTHD_ASSIGN_OR_RETURN(revoked, tx.RevokeTokensOfUser(user.id, clock_.NowSeconds()));
    }
    AuditEntry e = Entry(status == kStatusDisabled ? "user.disable" : "user.enable", UserTarget(user.username));
    e.detail = {{"tokens_revoked", revoked}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return user;
}

Result<IssuedEnrollmentCode> Core::IssueEnrollmentCode(const AuditContext& ctx, std::string_view username,
                                                       int64_t ttl_seconds) {
  if (ttl_seconds <= 0) ttl_seconds = options_.enrollment_code_ttl;
  if (ttl_seconds < 60 || ttl_seconds > options_.max_enrollment_code_ttl) {
    return Err(ErrorCode::kInvalidArgument, "ttl must be between 60 seconds and 30 days");
  }
  // 120 random bits, base32, in groups of four so a person can read it out and type it.
  std::string raw = Base32Encode(RandomBytes(15));
  IssuedEnrollmentCode out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (i && i % 4 == 0) out.code.push_back('-');
    out.code.push_back(raw[i]);
  }
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, LoadUser(tx, username));
    if (user.status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user is disabled");
    EnrollmentCode code;
    code.code_hash = HashEnrollmentCode(out.code);
    code.user_id = user.id;
    code.created_by = ctx.actor;
    code.created_at = clock_.NowSeconds();
    code.expires_at = out.expires_at = code.created_at + ttl_seconds;
    AUTHD_RETURN_IF_ERROR(tx.InsertEnrollmentCode(code));
    AuditEntry e = Entry("enrollment_code.issue", UserTarget(user.username));
    e.detail = {{"expires_at", Rfc3339(code.expires_at)}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return out;
}

Status Core::ConsumeEnrollmentCode(WriteTx& tx, const User& user, std::string_view code) {
  if (code.empty() || code.size() > 128) return Err(ErrorCode::kInvalidEnrollmentCode, "enrolment code is not valid");
  AUTHD_ASSIGN_OR_RETURN(bool used, tx.ConsumeEnrollmentCode(HashEnrollmentCode(code), user.id, clock_.NowSeconds()));
  if (!used) return Err(ErrorCode::kInvalidEnrollmentCode, "enrolment code is not valid");
  return Ok();
}

Status Core::RevokeCredential(const AuditContext& ctx, std::string_view username, std::string_view credential_id) {
  if (credential_id.empty() || credential_id.size() > 1400) return Err(ErrorCode::kNotFound, "no such credential");
  return store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, LoadUser(tx, username));
    return RevokeCredentialIn(tx, ctx, user, credential_id);
  });
}

Status Core::RevokeCredentialIn(WriteTx& tx, const AuditContext& ctx, const User& user, std::string_view credential_id,
                                std::string reason) {
  AUTHD_ASSIGN_OR_RETURN(bool found, tx.SetCredentialStatus(user.id, credential_id, kStatusRevoked));
  if (!found) return Err(ErrorCode::kNotFound, "no such credential");
  AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RevokeTokensOfCredential(user.id, credential_id, clock_.NowSeconds()));
  AuditEntry e = Entry("credential.revoke", "credential:" + std::string(credential_id), "success", std::move(reason));
  e.detail = {{"user", user.username}, {"tokens_revoked", n}};
  return audit_.Append(tx, ctx, e);
}

Result<int64_t> Core::RevokeUserTokens(const AuditContext& ctx, std::string_view username) {
  int64_t n = 0;
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, LoadUser(tx, username));
    AUTHD_ASSIGN_OR_RETURN(n, tx.RevokeTokensOfUser(user.id, clock_.NowSeconds()));
    AuditEntry e = Entry("token.revoke_user", UserTarget(user.username));
    e.detail = {{"tokens_revoked", n}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return n;
}

Result<bool> Core::RevokeTokenByJti(const AuditContext& ctx, std::string_view jti) {
  if (jti.empty() || jti.size() > 64) return Err(ErrorCode::kInvalidArgument, "jti is not valid");
  int64_t n = 0;
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(n, tx.RevokeTokenByJti(jti, clock_.NowSeconds()));
    return audit_.Append(tx, ctx, Entry("token.revoke", "token:" + std::string(jti), "success"));
  });
  if (!s) return s.error();
  return n > 0;
}

Result<IssuedToken> Core::IssueOperatorToken(const AuditContext& ctx, std::string_view username) {
  IssuedToken issued;
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, LoadUser(tx, username));
    if (user.status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user is disabled");
    AUTHD_ASSIGN_OR_RETURN(issued, tokens_.Issue(tx, user, "", "", {"operator"}, clock_.NowSeconds()));
    AuditEntry e = Entry("token.issue_operator", UserTarget(user.username));
    e.detail = {{"jti", issued.record.jti}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return issued;
}

// --- API clients ---------------------------------------------------------------------------

Result<ClientSecrets> Core::CreateClient(const AuditContext& ctx, NewClient in) {
  if (in.name.empty() || in.name.size() > 128) return Err(ErrorCode::kInvalidArgument, "name must be 1 to 128 characters");
  AUTHD_ASSIGN_OR_RETURN(auto scopes, NormalizeScopes(in.scopes));
  AUTHD_ASSIGN_OR_RETURN(auto allow, IpAllowList::Parse(in.allowed_ips));
  ClientSecrets out;
  out.client.client_id = "c_" + RandomId(12);
  out.client.name = in.name;
  out.client_secret = RandomId(32);
  out.client.secret_hash = Sha256(AsBytes(out.client_secret));
  SecretBytes ykval_key = RandomSecret(20);
  out.ykval_key = Base64Encode(ykval_key.view());
  out.client.ykval_key_sealed = keyring_.Seal(ykval_key.view(), "client.ykval_key:" + out.client.client_id);
  out.client.scopes = scopes;
  out.client.allowed_ips = allow.entries();
  out.client.created_at = clock_.NowSeconds();
  Status s = store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertClient(out.client));
    AuditEntry e = Entry("client.create", "client:" + out.client.client_id);
    e.detail = {{"name", out.client.name}, {"scopes", scopes}, {"allowed_ips", out.client.allowed_ips}};
    return audit_.Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return out;
}

// --- downstream apps -----------------------------------------------------------------------

Introspection Core::Judge(const Client& caller, std::optional<TokenRecord> rec) const {
  Introspection out;
  // RFC 7662 §2.2: a token this caller may not see is simply inactive, with no reason given.
  if (rec && tokens_.IsLive(*rec) &&
      (rec->audience == caller.client_id || rec->audience == options_.tokens.default_audience)) {
    out.active = true;
    out.record = std::move(*rec);
  }
  return out;
}

Result<Introspection> Core::Introspect(const Client& caller, std::string_view token) {
  std::optional<TokenRecord> rec;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(rec, tokens_.Find(tx, token));
    return Ok();
  });
  if (!s) return s.error();
  return Judge(caller, std::move(rec));
}

std::optional<Introspection> Core::IntrospectCached(std::string_view client_id, std::string_view secret,
                                                   std::string_view source, std::string_view token, uint64_t stamp,
                                                   int64_t now) const {
  auto jti = JtiOf(token);
  if (!jti) return std::nullopt;
  std::optional<Client> client = client_cache_.Find(client_id, stamp, now);
  if (!client) return std::nullopt;
  // A refused client takes the uncached way, which audits it.
  if (!CheckClient(client, secret, source, kScopeIntrospect).ok) return std::nullopt;
  std::optional<TokenRecord> rec = token_cache_.Find(*jti, stamp, now);
  if (!rec) return std::nullopt;
  if (!TokenService::IsRecordOf(*rec, token)) rec.reset();
  return Judge(*client, std::move(rec));
}

Result<Introspection> Core::IntrospectAs(std::string_view client_id, std::string_view secret, std::string_view source,
                                         std::string_view token, const AuditContext& ctx) {
  // The generation is taken before the read: what the read finds is kept only if no change to
  // cached records began meanwhile.
  const uint64_t stamp = store_.CacheStamp();
  const int64_t now = clock_.NowSeconds();
  if (auto cached = IntrospectCached(client_id, secret, source, token, stamp, now)) return std::move(*cached);
  std::optional<Client> client;
  ClientCheck check;
  std::optional<TokenRecord> rec;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    if (client_id.size() <= 128) {
      AUTHD_ASSIGN_OR_RETURN(client, tx.FindClient(client_id));
    }
    check = CheckClient(client, secret, source, kScopeIntrospect);
    // The token is looked up only for a client that has proved itself.
    if (check.ok) {
      AUTHD_ASSIGN_OR_RETURN(rec, tokens_.Find(tx, token));
    }
    return Ok();
  });
  if (!s) return s.error();
  if (!check.ok) return RefuseClient(client_id, check.code, std::move(check.detail), ctx);
  if (stamp != 0 && store_.CacheStamp() == stamp) {
    client_cache_.Put(client_id, *client, stamp, now);
    if (rec) token_cache_.Put(rec->jti, *rec, stamp, now);
  }
  return Judge(*client, std::move(rec));
}

Result<std::optional<Client>> Core::FindClientKept(std::string_view client_id) {
  // As IntrospectAs: the generation taken before the read, the record kept only if it still holds.
  const uint64_t stamp = store_.CacheStamp();
  const int64_t now = clock_.NowSeconds();
  if (auto kept = client_cache_.Find(client_id, stamp, now)) return kept;
  std::optional<Client> client;
  AUTHD_RETURN_IF_ERROR(store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(client, tx.FindClient(client_id));
    return Ok();
  }));
  if (client && stamp != 0 && store_.CacheStamp() == stamp) client_cache_.Put(client_id, *client, stamp, now);
  return client;
}

Status Core::RevokeByClient(const Client& caller, std::string_view token, const AuditContext& ctx) {
  return store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto rec, tokens_.Find(tx, token));
    if (!rec || rec->revoked_at != 0) return Ok();  // RFC 7009 §2.2: invalid tokens get 200 too
    if (rec->audience != caller.client_id && rec->audience != options_.tokens.default_audience) {
      return audit_.Append(tx, ctx, Entry("token.revoke", "token:" + rec->jti, "denied", "forbidden"));
    }
    AUTHD_RETURN_IF_ERROR(tx.RevokeTokenByJti(rec->jti, clock_.NowSeconds()));
    return audit_.Append(tx, ctx, Entry("token.revoke", "token:" + rec->jti));
  });
}

// --- audit ---------------------------------------------------------------------------------

Result<std::vector<AuditEvent>> Core::ListAudit(int64_t since_ms, int64_t before_seq, int limit) {
  if (limit <= 0) limit = 100;
  limit = std::min(limit, 1000);
  std::vector<AuditEvent> events;
  Status s = store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(events, tx.ListAudit(since_ms, before_seq, limit));
    return Ok();
  });
  if (!s) return s.error();
  return events;
}

Result<int64_t> Core::PurgeExpired(int chunk, const std::function<bool()>& go_on) {
  chunk = std::max(chunk, 1);
  // What had expired when the purge began: rows expiring meanwhile wait for the next one, so
  // that a stream of new rows cannot keep it going.
  const int64_t now = clock_.NowSeconds();
  const int64_t ceremonies_before = now - 60;
  // Tokens are found in jti order: those issued a lifetime before the cut-off have expired by it
  // (a token from a longer lifetime configured earlier stays until it has expired too).
  const int64_t tokens_before = now - kPurgeGraceSeconds;
  const std::string jti_below = JtiTimePrefix((tokens_before - tokens_.options().ttl_seconds) * 1000);
  int64_t total = 0, transactions = 0;
  bool stopped = false;
  // One table's expired rows, a chunk per transaction, until a chunk comes back short.
  const auto drain = [&](const std::function<Result<int64_t>(WriteTx&)>& remove) -> Status {
    for (int64_t n = chunk; n == chunk && !stopped;) {
      if (transactions++ > 0 && go_on && !go_on()) {
        stopped = true;
        break;
      }
      AUTHD_RETURN_IF_ERROR(store_.Write([&](WriteTx& tx) -> Status {
        AUTHD_ASSIGN_OR_RETURN(n, remove(tx));
        return Ok();
      }));
      total += n;
    }
    return Ok();
  };
  AUTHD_RETURN_IF_ERROR(drain([&](WriteTx& tx) { return tx.DeleteCeremoniesExpiredBefore(ceremonies_before, chunk); }));
  AUTHD_RETURN_IF_ERROR(
      drain([&](WriteTx& tx) { return tx.DeleteTokensExpiredBefore(jti_below, tokens_before, chunk); }));
  return total;
}

}  // namespace authd::domain
