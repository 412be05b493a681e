#include "authd/store/sqlite_store.h"

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "authd/base/files.h"
#include "authd/base/log.h"
#include "authd/domain/policy.h"
#include "authd/store/change_generation.h"
#include "authd/store/migrations.h"
#include "authd/store/store_vfs.h"

namespace authd::store {
namespace {

using domain::AuditLink;
using domain::AuditEvent;
using domain::Client;
using domain::Credential;
using domain::EnrollmentCode;
using domain::SigningKeyRecord;
using domain::TokenRecord;
using domain::User;

// Shared between the store and its connections: once set, writes are refused (P7, fsyncgate).
struct Health {
  std::atomic<bool> corrupt{false};
  std::atomic<bool> io_failed{false};
};

Error SqlError(int rc, const char* what, Health* health) {
  int primary = rc & 0xFF;
  Log(LogLevel::kError, "storage_error", {{"op", what}, {"sqlite", sqlite3_errstr(rc)}, {"rc", rc}});
  switch (primary) {
    case SQLITE_FULL:
      return Err(ErrorCode::kStorageFull, "the database disk is full");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      if (health) health->corrupt = true;
      Log(LogLevel::kError, "storage_corrupt", {{"action", "writes refused until an operator restores the database"}});
      return Err(ErrorCode::kStorageCorrupt, "the database is damaged; writes are refused");
    case SQLITE_IOERR:
      if (health) health->io_failed = true;
      Log(LogLevel::kError, "storage_io_failure", {{"action", "writes refused until authd restarts"}});
      return Err(ErrorCode::kStorageUnavailable, "the database could not be written");
    default:
      return Err(ErrorCode::kStorageUnavailable, "the database is not available");
  }
}

// A cached prepared statement in use. Resets and clears bindings when it goes out of scope.
class Query {
 public:
  // `changes`: set when the statement changes a cached kind of record; told before it runs.
  Query(sqlite3_stmt* stmt, Health* health, ChangeGeneration* changes = nullptr)
      : stmt_(stmt), health_(health), changes_(changes) {}
  ~Query() {
    if (!stmt_) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(Query&& other) noexcept
      : stmt_(other.stmt_), health_(other.health_), changes_(other.changes_), last_rc_(other.last_rc_) {
    other.stmt_ = nullptr;
  }
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Query& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Query& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Query& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& Bind(int i, ByteView v) {
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(stmt_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& Bind(int i, const Bytes& v) { return Bind(i, ByteView(v)); }

  // true: a row is ready; false: done.
  Result<bool> Step() {
    if (changes_) changes_->WillChange();
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    last_rc_ = sqlite3_extended_errcode(sqlite3_db_handle(stmt_));
    if ((last_rc_ & 0xFF) == SQLITE_CONSTRAINT) {
      return Err(ErrorCode::kConflict, "constraint");
    }
    return SqlError(last_rc_, sqlite3_sql(stmt_), health_);
  }
  Status Run() {
    auto r = Step();
    if (!r) return r.error();
    return Ok();
  }
  int last_rc() const { return last_rc_; }

  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  Bytes Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    if (!p || n <= 0) return {};
    auto b = static_cast<const uint8_t*>(p);
    return Bytes(b, b + n);
  }

 private:
  sqlite3_stmt* stmt_;
  Health* health_;
  ChangeGeneration* changes_;
  int last_rc_ = SQLITE_OK;
};

// The tables whose changes the store counts (CacheStamp): introspection's tokens and clients,
// cached in memory, and the user and credential records, whose statuses a verification's write
// checks again only when one of them may have changed since its read (Core::StillInService).
// Verifications themselves change none of these but tokens, which they only insert.
bool IsCountedTable(const char* table) {
  return table && (std::strcmp(table, "tokens") == 0 || std::strcmp(table, "clients") == 0 ||
                   std::strcmp(table, "users") == 0 || std::strcmp(table, "credentials") == 0);
}

// Whether a statement may change a cached record, told by SQLite's authorizer while it compiles
// the statement (so triggers and upserts count too). A plain `INSERT INTO tokens ...` or
// `INSERT INTO clients ...` adds a record that no cache holds yet; an update, a delete, an
// insert that may replace, or a change of schema may change one that a cache holds.
struct ChangeClassifier {
  const char* sql;
  bool changes_cached = false;

  static int Authorize(void* self, int action, const char* a1, const char*, const char*, const char*) {
    auto* c = static_cast<ChangeClassifier*>(self);
    switch (action) {
      case SQLITE_INSERT:
        if (IsCountedTable(a1) && !IsPlainInsert(c->sql, a1)) c->changes_cached = true;
        break;
      case SQLITE_UPDATE:
      case SQLITE_DELETE:
        if (IsCountedTable(a1)) c->changes_cached = true;
        break;
      case SQLITE_CREATE_TABLE:
      case SQLITE_CREATE_TRIGGER:
      case SQLITE_CREATE_VIEW:
      case SQLITE_CREATE_VTABLE:
      case SQLITE_DROP_TABLE:
      case SQLITE_DROP_TRIGGER:
      case SQLITE_DROP_VIEW:
      case SQLITE_DROP_VTABLE:
      case SQLITE_ALTER_TABLE:
      case SQLITE_ATTACH:
        c->changes_cached = true;
        break;
      default:
        break;
    }
    return SQLITE_OK;
  }

  static bool IsPlainInsert(const char* sql, const char* table) {
    const std::string want = std::string("INSERT INTO ") + table + " ";
    return std::strncmp(sql, want.c_str(), want.size()) == 0;
  }
};

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// One connection and its statement cache. Used by one thread at a time.
class Connection {
 public:
  Connection(std::unique_ptr<sqlite3, DbDeleter> db, Health* health) : db_(std::move(db)), health_(health) {}

  sqlite3* raw() { return db_.get(); }
  Health* health() { return health_; }

  Status Exec(const char* sql) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK) return SqlError(sqlite3_extended_errcode(db_.get()), "exec", health_);
    return Ok();
  }

  // One cached statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT ...): no parse per call.
  Status Run(const char* sql) {
    auto q = Prepare(sql);
    if (!q) return q.error();
    return q->Run();
  }

  // Statements are cached by the address of their (static) SQL text. On a connection that counts
  // changes, each statement is classified once, as it is compiled.
  Result<Query> Prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      ChangeClassifier classifier{sql};
      if (changes_) sqlite3_set_authorizer(db_.get(), &ChangeClassifier::Authorize, &classifier);
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (changes_) sqlite3_set_authorizer(db_.get(), nullptr, nullptr);
      if (rc != SQLITE_OK) {
        Log(LogLevel::kError, "storage_prepare_failed", {{"sql", sql}, {"error", sqlite3_errmsg(db_.get())}});
        return SqlError(rc, "prepare", health_);
      }
      it = cache_.emplace(sql, Cached{std::unique_ptr<sqlite3_stmt, StmtDeleter>(stmt), classifier.changes_cached})
               .first;
    }
    return Query(it->second.stmt.get(), health_, it->second.changes_cached ? changes_ : nullptr);
  }

  // The writer's connection counts its changes to cached records here.
  void CountChangesIn(ChangeGeneration* changes) { changes_ = changes; }

 private:
  struct Cached {
    std::unique_ptr<sqlite3_stmt, StmtDeleter> stmt;
    bool changes_cached;
  };
  std::unique_ptr<sqlite3, DbDeleter> db_;
  Health* health_;
  ChangeGeneration* changes_ = nullptr;
  // Declared after db_ so that the statements are finalized before the connection closes.
  std::map<const char*, Cached> cache_;
};

#define AUTHD_PREPARE(q, sql) AUTHD_ASSIGN_OR_RETURN(Query q, conn_.Prepare(sql))

User ReadUser(const Query& q) {
  User u;
  u.id = q.Text(0);
  u.username = q.Text(1);
  u.display_name = q.Text(2);
  u.status = q.Text(3);
  u.roles = domain::SplitList(q.Text(4));
  u.created_at = q.Int(5);
  u.updated_at = q.Int(6);
  return u;
}

Credential ReadCredential(const Query& q) {
  Credential c;
  c.id = q.Text(0);
  c.user_id = q.Text(1);
  c.type = q.Text(2);
  c.nickname = q.Text(3);
  c.status = q.Text(4);
  c.info = q.Text(5);
  c.created_at = q.Int(6);
  c.last_used_at = q.Int(7);
  return c;
}

Client ReadClient(const Query& q) {
  Client c;
  c.client_id = q.Text(0);
  c.name = q.Text(1);
  c.secret_hash = q.Blob(2);
  c.ykval_id = q.Int(3);
  c.ykval_key_sealed = q.Blob(4);
  c.scopes = domain::SplitList(q.Text(5));
  c.allowed_ips = domain::SplitList(q.Text(6));
  c.status = q.Text(7);
  c.created_at = q.Int(8);
  return c;
}

// Tokens are keyed by jti, which sorts by issue time (domain::NewJti). Tokens issued before
// schema version 5 have random 22-character jtis; their key is the jti behind ten zeros.
constexpr std::string_view kLegacyJtiKeyPrefix = "0000000000";
constexpr size_t kLegacyJtiLength = 22;

std::string TokenKey(std::string_view jti) {
  if (jti.size() == kLegacyJtiLength) return std::string(kLegacyJtiKeyPrefix) + std::string(jti);
  return std::string(jti);
}

std::string JtiOfKey(std::string key) {
  if (key.size() == kLegacyJtiKeyPrefix.size() + kLegacyJtiLength && key.rfind(kLegacyJtiKeyPrefix, 0) == 0) {
    key.erase(0, kLegacyJtiKeyPrefix.size());
  }
  return key;
}

TokenRecord ReadToken(const Query& q) {
  TokenRecord t;
  t.jti = JtiOfKey(q.Text(0));
  t.token_hash = q.Blob(1);
  t.user_id = q.Text(2);
  t.username = q.Text(3);
  t.credential_id = q.Text(4);
  t.audience = q.Text(5);
  t.client_id = q.Text(6);
  t.amr = domain::SplitList(q.Text(7));
  t.roles = domain::SplitList(q.Text(8));
  t.issued_at = q.Int(9);
  t.expires_at = q.Int(10);
  t.auth_time = q.Int(11);
  t.revoked_at = q.Int(12);
  return t;
}

AuditEvent ReadAudit(const Query& q) {
  AuditEvent e;
  e.seq = q.Int(0);
  e.at_ms = q.Int(1);
  e.actor = q.Text(2);
  e.action = q.Text(3);
  e.target = q.Text(4);
  e.outcome = q.Text(5);
  e.source = q.Text(6);
  e.request_id = q.Text(7);
  e.reason = q.Text(8);
  e.detail = q.Text(9);
  e.prev_hash = q.Blob(10);
  e.hash = q.Blob(11);
  return e;
}

#define TOKEN_COLS \
  "jti, token_hash, user_id, username, credential_id, audience, client_id, amr, roles, issued_at, expires_at, auth_time, revoked_at"
#define AUDIT_COLS \
  "seq, at_ms, actor, action, target, outcome, source, request_id, reason, detail, prev_hash, hash"
#define CLIENT_COLS \
  "client_id, name, secret_hash, ykval_id, ykval_key_sealed, scopes, allowed_ips, status, created_at"
#define CRED_COLS "id, user_id, type, nickname, status, info, created_at, last_used_at"
// A credential read: its last use is the later of its own column (times from before schema 7,
// and YubiKeys whose factor row was freed) and its factor row's, which verifications write.
#define CRED_READ                                                                                          \
  "SELECT c.id, c.user_id, c.type, c.nickname, c.status, c.info, c.created_at, "                         \
  "max(c.last_used_at, coalesce(CASE c.type "                                                            \
  "WHEN 'webauthn' THEN (SELECT f.last_used_at FROM webauthn_credentials f WHERE f.id = c.id) "          \
  "WHEN 'totp' THEN (SELECT f.last_used_at FROM totp_credentials f WHERE f.id = c.id) "                  \
  "WHEN 'yubiotp' THEN (SELECT f.last_used_at FROM yubiotp_credentials f WHERE f.id = c.id) END, 0)) "   \
  "FROM credentials c "
#define WEBAUTHN_COLS \
  "raw_id, id, user_id, public_key, alg, sign_count, uv_initialized, backup_eligible, backup_state, transports, " \
  "aaguid, fmt, attestation_type, discoverable, appid, clone_suspected"
// Read with the status of the credential record, which triggers keep in the row (schema 8), or
// from the record itself while the row is one that schema 8's fill has not reached yet.
#define WEBAUTHN_READ_COLS \
  WEBAUTHN_COLS ", coalesce(status, (SELECT c.status FROM credentials c WHERE c.id = webauthn_credentials.id))"
// Where schema 8's fill of existing rows keeps its progress (the last rowid done) until it is done.
constexpr const char* kWebAuthnStatusFill = "webauthn_status_fill";

domain::WebAuthnCredential ReadWebAuthn(const Query& q) {
  domain::WebAuthnCredential c;
  c.raw_id = q.Blob(0);
  c.id = q.Text(1);
  c.user_id = q.Text(2);
  c.public_key = q.Blob(3);
  c.alg = q.Int(4);
  c.sign_count = q.Int(5);
  c.uv_initialized = q.Int(6) != 0;
  c.backup_eligible = q.Int(7) != 0;
  c.backup_state = q.Int(8) != 0;
  c.transports = domain::SplitList(q.Text(9));
  c.aaguid = q.Blob(10);
  c.fmt = q.Text(11);
  c.attestation_type = q.Text(12);
  c.discoverable = q.Int(13) != 0;
  c.appid = q.Text(14);
  c.clone_suspected = q.Int(15) != 0;
  if (!q.IsNull(16)) c.status = q.Text(16);
  return c;
}

#define TOTP_COLS "id, user_id, secret_sealed, algorithm, digits, period, last_step"
#define TOTP_ENROLL_COLS \
  "id_hash, credential_id, user_id, secret_sealed, algorithm, digits, period, actor, enrollment_code_hash, " \
  "created_at, expires_at"
#define YUBIOTP_COLS "public_id, id, user_id, secret_sealed, use_counter, session_counter, last_nonce, last_otp"

domain::TotpCredential ReadTotp(const Query& q) {
  domain::TotpCredential c;
  c.id = q.Text(0);
  c.user_id = q.Text(1);
  c.secret_sealed = q.Blob(2);
  c.algorithm = q.Text(3);
  c.digits = q.Int(4);
  c.period = q.Int(5);
  c.last_step = q.Int(6);
  return c;
}

domain::TotpEnrollment ReadTotpEnrollment(const Query& q) {
  domain::TotpEnrollment e;
  e.id_hash = q.Blob(0);
  e.credential_id = q.Text(1);
  e.user_id = q.Text(2);
  e.secret_sealed = q.Blob(3);
  e.algorithm = q.Text(4);
  e.digits = q.Int(5);
  e.period = q.Int(6);
  e.actor = q.Text(7);
  e.enrollment_code_hash = q.Blob(8);
  e.created_at = q.Int(9);
  e.expires_at = q.Int(10);
  return e;
}

domain::YubiOtpCredential ReadYubiOtp(const Query& q) {
  domain::YubiOtpCredential c;
  c.public_id = q.Text(0);
  c.id = q.Text(1);
  c.user_id = q.Text(2);
  c.secret_sealed = q.Blob(3);
  c.use_counter = q.Int(4);
  c.session_counter = q.Int(5);
  c.last_nonce = q.Text(6);
  c.last_otp = q.Text(7);
  return c;
}

#define USER_COLS "id, username, display_name, status, roles, created_at, updated_at"

class SqliteTx final : public domain::WriteTx {
 public:
  explicit SqliteTx(Connection& conn) : conn_(conn) {}

  template <typename T, typename F>
  Result<std::optional<T>> One(Query& q, F read) {
    AUTHD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<T>();
    return std::optional<T>(read(q));
  }
  // A user's rows in id order (byte order, as SQLite's BINARY collation sorts TEXT), sorted here:
  // the user_id indexes do not hold that order, and ORDER BY would make SQLite build a temporary
  // B-tree on every call for a handful of rows.
  template <typename T>
  static Result<std::vector<T>> SortedById(Result<std::vector<T>> rows) {
    if (rows) std::sort(rows->begin(), rows->end(), [](const T& a, const T& b) { return a.id < b.id; });
    return rows;
  }

  template <typename T, typename F>
  Result<std::vector<T>> All(Query& q, F read) {
    std::vector<T> out;
    while (true) {
      AUTHD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(read(q));
    }
    return out;
  }
  Result<int64_t> Changes(Query& q) {
    AUTHD_RETURN_IF_ERROR(q.Run());
    return static_cast<int64_t>(sqlite3_changes(conn_.raw()));
  }

  Result<std::optional<User>> FindUserByName(std::string_view username) override {
    AUTHD_PREPARE(q, "SELECT " USER_COLS " FROM users WHERE username = ?1");
    q.Bind(1, username);
    return One<User>(q, ReadUser);
  }
  Result<std::optional<User>> FindUserById(std::string_view id) override {
    AUTHD_PREPARE(q, "SELECT " USER_COLS " FROM users WHERE id = ?1");
    q.Bind(1, id);
    return One<User>(q, ReadUser);
  }
  Result<std::vector<User>> ListUsers(std::string_view query, std::string_view after, int limit) override {
    AUTHD_PREPARE(q, "SELECT " USER_COLS " FROM users WHERE username > ?1 AND instr(username, ?2) > 0 "
                     "ORDER BY username LIMIT ?3");
    std::string lowered(query);
    for (char& c : lowered) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    q.Bind(1, after).Bind(2, lowered).Bind(3, limit);
    return All<User>(q, ReadUser);
  }

  Result<std::vector<Credential>> ListCredentials(std::string_view user_id) override {
    // Sorted here, as SortedById says why.
    AUTHD_PREPARE(q, CRED_READ "WHERE c.user_id = ?1");
    q.Bind(1, user_id);
    AUTHD_ASSIGN_OR_RETURN(auto rows, All<Credential>(q, ReadCredential));
    std::sort(rows.begin(), rows.end(),
              [](const Credential& a, const Credential& b) { return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id); });
    return rows;
  }
  Result<std::optional<Credential>> FindCredential(std::string_view id) override {
    AUTHD_PREPARE(q, CRED_READ "WHERE c.id = ?1");
    q.Bind(1, id);
    return One<Credential>(q, ReadCredential);
  }

  Result<std::optional<std::string>> FindCredentialStatus(std::string_view id) override {
    AUTHD_PREPARE(q, "SELECT status FROM credentials WHERE id = ?1");
    q.Bind(1, id);
    return One<std::string>(q, [](const Query& r) { return r.Text(0); });
  }
  Result<std::optional<ServiceStatus>> FindServiceStatus(std::string_view user_id,
                                                         std::string_view credential_id) override {
    AUTHD_PREPARE(q, "SELECT u.status, c.status FROM credentials c JOIN users u ON u.id = c.user_id "
                     "WHERE c.id = ?2 AND c.user_id = ?1");
    q.Bind(1, user_id).Bind(2, credential_id);
    return One<ServiceStatus>(q, [](const Query& r) { return ServiceStatus{r.Text(0), r.Text(1)}; });
  }
  Result<std::optional<Client>> FindClient(std::string_view client_id) override {
    AUTHD_PREPARE(q, "SELECT " CLIENT_COLS " FROM clients WHERE client_id = ?1");
    q.Bind(1, client_id);
    return One<Client>(q, ReadClient);
  }
  Result<std::optional<Client>> FindClientByYkvalId(int64_t ykval_id) override {
    AUTHD_PREPARE(q, "SELECT " CLIENT_COLS " FROM clients WHERE ykval_id = ?1");
    q.Bind(1, ykval_id);
    return One<Client>(q, ReadClient);
  }

  Result<std::vector<SigningKeyRecord>> ListSigningKeys() override {
    AUTHD_PREPARE(q, "SELECT kid, alg, public_jwk, private_sealed, created_at, retired_at FROM signing_keys "
                     "ORDER BY created_at DESC, kid");
    return All<SigningKeyRecord>(q, [](const Query& r) {
      SigningKeyRecord k;
      k.kid = r.Text(0);
      k.alg = r.Text(1);
      k.public_jwk = r.Text(2);
      k.private_sealed = r.Blob(3);
      k.created_at = r.Int(4);
      k.retired_at = r.Int(5);
      return k;
    });
  }

  Result<std::optional<TokenRecord>> FindTokenByJti(std::string_view jti) override {
    AUTHD_PREPARE(q, "SELECT " TOKEN_COLS " FROM tokens WHERE jti = ?1");
    q.Bind(1, TokenKey(jti));
    return One<TokenRecord>(q, ReadToken);
  }

  Result<std::vector<AuditEvent>> ListAudit(int64_t since_ms, int64_t before_seq, int limit) override {
    AUTHD_PREPARE(q, "SELECT " AUDIT_COLS " FROM audit WHERE at_ms >= ?1 AND (?2 = 0 OR seq < ?2) "
                     "ORDER BY seq DESC LIMIT ?3");
    q.Bind(1, since_ms).Bind(2, before_seq).Bind(3, limit);
    return All<AuditEvent>(q, ReadAudit);
  }
  Result<std::optional<AuditLink>> LastAuditLink() override {
    AUTHD_PREPARE(q, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    return One<AuditLink>(q, [](const Query& row) { return AuditLink{row.Int(0), row.Blob(1)}; });
  }
  Status ScanAudit(const std::function<bool(const AuditEvent&)>& fn) override {
    AUTHD_PREPARE(q, "SELECT " AUDIT_COLS " FROM audit ORDER BY seq");
    while (true) {
      AUTHD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row || !fn(ReadAudit(q))) break;
    }
    return Ok();
  }

  Result<std::optional<std::string>> GetMeta(std::string_view key) override {
    AUTHD_PREPARE(q, "SELECT value FROM meta WHERE key = ?1");
    q.Bind(1, key);
    return One<std::string>(q, [](const Query& r) { return r.Text(0); });
  }

  Result<bool> CeremonyUsed(ByteView id, int64_t expires_at) override {
    AUTHD_PREPARE(q, "SELECT 1 FROM used_ceremonies WHERE expires_at = ?2 AND id = ?1");
    q.Bind(1, id).Bind(2, expires_at);
    return q.Step();
  }
  Result<std::optional<EnrollmentCode>> FindLiveEnrollmentCode(ByteView code_hash, int64_t now) override {
    AUTHD_PREPARE(q, "SELECT code_hash, user_id, created_by, created_at, expires_at, consumed_at FROM enrollment_codes "
                     "WHERE code_hash = ?1 AND consumed_at = 0 AND expires_at > ?2");
    q.Bind(1, code_hash).Bind(2, now);
    return One<EnrollmentCode>(q, [](const Query& r) {
      EnrollmentCode c;
      c.code_hash = r.Blob(0);
      c.user_id = r.Text(1);
      c.created_by = r.Text(2);
      c.created_at = r.Int(3);
      c.expires_at = r.Int(4);
      c.consumed_at = r.Int(5);
      return c;
    });
  }
  Result<std::optional<domain::WebAuthnCredential>> FindWebAuthnCredential(ByteView raw_id) override {
    AUTHD_PREPARE(q, "SELECT " WEBAUTHN_READ_COLS " FROM webauthn_credentials WHERE raw_id = ?1");
    q.Bind(1, raw_id);
    return One<domain::WebAuthnCredential>(q, ReadWebAuthn);
  }
  Result<std::vector<domain::WebAuthnCredential>> ListWebAuthnCredentials(std::string_view user_id) override {
    AUTHD_PREPARE(q, "SELECT " WEBAUTHN_READ_COLS " FROM webauthn_credentials WHERE user_id = ?1");
    q.Bind(1, user_id);
    return SortedById(All<domain::WebAuthnCredential>(q, ReadWebAuthn));
  }

  Result<std::vector<domain::TotpCredential>> ListTotpCredentials(std::string_view user_id) override {
    AUTHD_PREPARE(q, "SELECT " TOTP_COLS " FROM totp_credentials WHERE user_id = ?1");
    q.Bind(1, user_id);
    return SortedById(All<domain::TotpCredential>(q, ReadTotp));
  }
  Result<std::vector<domain::TotpCredential>> ListActiveTotpCredentials(std::string_view user_id) override {
    AUTHD_PREPARE(q, "SELECT t.id, t.user_id, t.secret_sealed, t.algorithm, t.digits, t.period, t.last_step "
                     "FROM totp_credentials t JOIN credentials c ON c.id = t.id WHERE t.user_id = ?1 AND c.status = ?2");
    q.Bind(1, user_id).Bind(2, domain::kStatusActive);
    return SortedById(All<domain::TotpCredential>(q, ReadTotp));
  }
  Result<std::optional<domain::TotpEnrollment>> FindTotpEnrollment(ByteView id_hash) override {
    AUTHD_PREPARE(q, "SELECT " TOTP_ENROLL_COLS " FROM totp_enrollments WHERE id_hash = ?1");
    q.Bind(1, id_hash);
    return One<domain::TotpEnrollment>(q, ReadTotpEnrollment);
  }
  Result<HeldCredentials> CountHeldCredentials(std::string_view user_id, int64_t now) override {
    AUTHD_PREPARE(q, "SELECT (SELECT count(*) FROM credentials WHERE user_id = ?1 AND status <> 'revoked'), "
                     "(SELECT count(*) FROM totp_enrollments WHERE user_id = ?1 AND expires_at > ?2)");
    q.Bind(1, user_id);
    q.Bind(2, now);
    AUTHD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return HeldCredentials{};
    return HeldCredentials{q.Int(0), q.Int(1)};
  }

  Result<std::optional<domain::YubiOtpCredential>> FindYubiOtpCredential(std::string_view public_id) override {
    AUTHD_PREPARE(q, "SELECT " YUBIOTP_COLS " FROM yubiotp_credentials WHERE public_id = ?1");
    q.Bind(1, public_id);
    return One<domain::YubiOtpCredential>(q, ReadYubiOtp);
  }
  Result<std::optional<domain::FailureCounter>> FindFailureCounter(std::string_view subject) override {
    AUTHD_PREPARE(q, "SELECT subject, user_id, failures, last_failure_at, locked_until FROM failure_counters "
                     "WHERE subject = ?1");
    q.Bind(1, subject);
    return One<domain::FailureCounter>(q, [](const Query& r) {
      domain::FailureCounter f;
      f.subject = r.Text(0);
      f.user_id = r.Text(1);
      f.failures = r.Int(2);
      f.last_failure_at = r.Int(3);
      f.locked_until = r.Int(4);
      return f;
    });
  }

  // --- writes --------------------------------------------------------------------------
  Status InsertTotpEnrollment(const domain::TotpEnrollment& e) override {
    AUTHD_PREPARE(q, "INSERT INTO totp_enrollments (" TOTP_ENROLL_COLS ") VALUES "
                     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    q.Bind(1, e.id_hash).Bind(2, e.credential_id).Bind(3, e.user_id).Bind(4, e.secret_sealed).Bind(5, e.algorithm)
        .Bind(6, e.digits).Bind(7, e.period).Bind(8, e.actor).Bind(9, e.enrollment_code_hash).Bind(10, e.created_at)
        .Bind(11, e.expires_at);
    return q.Run();
  }
  Result<bool> TakeTotpEnrollment(ByteView id_hash) override {
    AUTHD_PREPARE(q, "DELETE FROM totp_enrollments WHERE id_hash = ?1");
    q.Bind(1, id_hash);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }
  Result<int64_t> DeleteTotpEnrollmentsExpiredBefore(int64_t before) override {
    AUTHD_PREPARE(q, "DELETE FROM totp_enrollments WHERE expires_at < ?1");
    q.Bind(1, before);
    return Changes(q);
  }
  Status InsertTotpCredential(const domain::TotpCredential& c) override {
    AUTHD_PREPARE(q, "INSERT INTO totp_credentials (" TOTP_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    q.Bind(1, c.id).Bind(2, c.user_id).Bind(3, c.secret_sealed).Bind(4, c.algorithm).Bind(5, c.digits)
        .Bind(6, c.period).Bind(7, c.last_step);
    return q.Run();
  }
  Result<bool> AdvanceTotpStep(std::string_view id, int64_t step, int64_t used_at) override {
    AUTHD_PREPARE(q, "UPDATE totp_credentials SET last_step = ?2, last_used_at = ?3 WHERE id = ?1 AND last_step < ?2");
    q.Bind(1, id).Bind(2, step).Bind(3, used_at);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }
  Status InsertYubiOtpCredential(const domain::YubiOtpCredential& c) override {
    AUTHD_PREPARE(q, "INSERT INTO yubiotp_credentials (" YUBIOTP_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.Bind(1, c.public_id).Bind(2, c.id).Bind(3, c.user_id).Bind(4, c.secret_sealed).Bind(5, c.use_counter)
        .Bind(6, c.session_counter).Bind(7, c.last_nonce).Bind(8, c.last_otp);
    Status s = q.Run();
    if (!s && s.code() == ErrorCode::kConflict) return Err(ErrorCode::kCredentialExists, "this YubiKey is registered");
    return s;
  }
  Status DeleteYubiOtpCredential(std::string_view public_id) override {
    // The credentials row stays as history and keeps the key's last use (schema 7).
    {
      AUTHD_PREPARE(keep, "UPDATE credentials SET last_used_at = max(last_used_at, "
                          "(SELECT f.last_used_at FROM yubiotp_credentials f WHERE f.public_id = ?1)) "
                          "WHERE id = (SELECT f.id FROM yubiotp_credentials f WHERE f.public_id = ?1)");
      keep.Bind(1, public_id);
      AUTHD_RETURN_IF_ERROR(keep.Run());
    }
    AUTHD_PREPARE(q, "DELETE FROM yubiotp_credentials WHERE public_id = ?1");
    q.Bind(1, public_id);
    return q.Run();
  }
  Result<bool> AdvanceYubiOtpCounters(std::string_view public_id, int64_t use_counter, int64_t session_counter,
                                      std::string_view nonce, std::string_view otp, int64_t used_at) override {
    AUTHD_PREPARE(q, "UPDATE yubiotp_credentials SET use_counter = ?2, session_counter = ?3, last_nonce = ?4, "
                     "last_otp = ?5, last_used_at = ?6 WHERE public_id = ?1 AND "
                     "(use_counter < ?2 OR (use_counter = ?2 AND session_counter < ?3))");
    q.Bind(1, public_id).Bind(2, use_counter).Bind(3, session_counter).Bind(4, nonce).Bind(5, otp).Bind(6, used_at);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }
  Result<int64_t> RecordFailure(std::string_view subject, std::string_view user_id, int64_t at) override {
    AUTHD_PREPARE(q, "INSERT INTO failure_counters (subject, user_id, failures, last_failure_at) VALUES (?1, ?2, 1, ?3) "
                     "ON CONFLICT(subject) DO UPDATE SET failures = failures + 1, last_failure_at = ?3 "
                     "RETURNING failures");
    q.Bind(1, subject).Bind(2, user_id).Bind(3, at);
    AUTHD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Err(ErrorCode::kInternal, "the failure counter did not update");
    const int64_t n = q.Int(0);
    AUTHD_ASSIGN_OR_RETURN(bool more, q.Step());
    (void)more;
    return n;
  }
  Status SetLockedUntil(std::string_view subject, int64_t until) override {
    AUTHD_PREPARE(q, "UPDATE failure_counters SET locked_until = ?2 WHERE subject = ?1");
    q.Bind(1, subject).Bind(2, until);
    return q.Run();
  }
  Status ClearFailures(std::string_view subject) override {
    AUTHD_PREPARE(q, "DELETE FROM failure_counters WHERE subject = ?1");
    q.Bind(1, subject);
    return q.Run();
  }
  Result<int64_t> ClearFailuresOfUser(std::string_view user_id) override {
    AUTHD_PREPARE(q, "DELETE FROM failure_counters WHERE user_id = ?1");
    q.Bind(1, user_id);
    return Changes(q);
  }
  Result<bool> UseCeremony(ByteView id, int64_t expires_at) override {
    AUTHD_PREPARE(q, "INSERT INTO used_ceremonies (expires_at, id) VALUES (?2, ?1) ON CONFLICT DO NOTHING");
    q.Bind(1, id).Bind(2, expires_at);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }
  Result<int64_t> DeleteCeremoniesExpiredBefore(int64_t before, int limit) override {
    AUTHD_PREPARE(q, "DELETE FROM used_ceremonies WHERE (expires_at, id) IN "
                     "(SELECT expires_at, id FROM used_ceremonies WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)");
    q.Bind(1, before).Bind(2, limit);
    return Changes(q);
  }
  Status InsertWebAuthnCredential(const domain::WebAuthnCredential& c) override {
    AUTHD_PREPARE(q, "INSERT INTO webauthn_credentials (" WEBAUTHN_COLS ") VALUES "
                     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    q.Bind(1, c.raw_id).Bind(2, c.id).Bind(3, c.user_id).Bind(4, c.public_key).Bind(5, c.alg).Bind(6, c.sign_count)
        .Bind(7, int64_t{c.uv_initialized}).Bind(8, int64_t{c.backup_eligible}).Bind(9, int64_t{c.backup_state})
        .Bind(10, domain::JoinList(c.transports)).Bind(11, c.aaguid).Bind(12, c.fmt).Bind(13, c.attestation_type)
        .Bind(14, int64_t{c.discoverable}).Bind(15, c.appid).Bind(16, int64_t{c.clone_suspected});
    Status s = q.Run();
    if (!s && s.code() == ErrorCode::kConflict) return Err(ErrorCode::kCredentialExists, "credential already registered");
    return s;
  }
  Result<bool> AdvanceWebAuthnCounter(ByteView raw_id, int64_t expected_count, int64_t new_count, bool backup_state,
                                      bool uv_initialized, int64_t used_at) override {
    AUTHD_PREPARE(q, "UPDATE webauthn_credentials SET sign_count = ?3, backup_state = ?4, "
                     "uv_initialized = MAX(uv_initialized, ?5), last_used_at = ?6 WHERE raw_id = ?1 AND sign_count = ?2");
    q.Bind(1, raw_id).Bind(2, expected_count).Bind(3, new_count).Bind(4, int64_t{backup_state})
        .Bind(5, int64_t{uv_initialized}).Bind(6, used_at);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }
  Status MarkCloneSuspected(ByteView raw_id) override {
    AUTHD_PREPARE(q, "UPDATE webauthn_credentials SET clone_suspected = 1 WHERE raw_id = ?1");
    q.Bind(1, raw_id);
    return q.Run();
  }
  Status InsertUser(const User& u) override {
    AUTHD_PREPARE(q, "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    q.Bind(1, u.id).Bind(2, u.username).Bind(3, u.display_name).Bind(4, u.status)
        .Bind(5, domain::JoinList(u.roles)).Bind(6, u.created_at).Bind(7, u.updated_at);
    Status s = q.Run();
    if (!s && s.code() == ErrorCode::kConflict) return Err(ErrorCode::kUserExists, "a user with that username exists");
    return s;
  }
  Status UpdateUser(const User& u) override {
    AUTHD_PREPARE(q, "UPDATE users SET display_name = ?2, status = ?3, roles = ?4, updated_at = ?5 WHERE id = ?1");
    q.Bind(1, u.id).Bind(2, u.display_name).Bind(3, u.status).Bind(4, domain::JoinList(u.roles)).Bind(5, u.updated_at);
    return q.Run();
  }

  Status InsertCredential(const Credential& c) override {
    AUTHD_PREPARE(q, "INSERT INTO credentials (" CRED_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.Bind(1, c.id).Bind(2, c.user_id).Bind(3, c.type).Bind(4, c.nickname).Bind(5, c.status).Bind(6, c.info)
        .Bind(7, c.created_at).Bind(8, c.last_used_at);
    Status s = q.Run();
    if (!s && s.code() == ErrorCode::kConflict) return Err(ErrorCode::kCredentialExists, "credential already registered");
    return s;
  }
  Result<bool> SetCredentialStatus(std::string_view user_id, std::string_view id, std::string_view status) override {
    AUTHD_PREPARE(q, "UPDATE credentials SET status = ?3 WHERE id = ?1 AND user_id = ?2");
    q.Bind(1, id).Bind(2, user_id).Bind(3, status);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n > 0;
  }

  Status InsertEnrollmentCode(const EnrollmentCode& c) override {
    AUTHD_PREPARE(q, "INSERT INTO enrollment_codes (code_hash, user_id, created_by, created_at, expires_at, consumed_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, 0)");
    q.Bind(1, c.code_hash).Bind(2, c.user_id).Bind(3, c.created_by).Bind(4, c.created_at).Bind(5, c.expires_at);
    return q.Run();
  }
  Result<bool> ConsumeEnrollmentCode(ByteView code_hash, std::string_view user_id, int64_t now) override {
    AUTHD_PREPARE(q, "UPDATE enrollment_codes SET consumed_at = ?3 "
                     "WHERE code_hash = ?1 AND user_id = ?2 AND consumed_at = 0 AND expires_at > ?3");
    q.Bind(1, code_hash).Bind(2, user_id).Bind(3, now);
    AUTHD_ASSIGN_OR_RETURN(int64_t n, Changes(q));
    return n == 1;
  }

  Status InsertClient(Client& c) override {
    {
      AUTHD_PREPARE(next, "SELECT COALESCE(MAX(ykval_id), 0) + 1 FROM clients");
      AUTHD_ASSIGN_OR_RETURN(bool row, next.Step());
      c.ykval_id = row ? next.Int(0) : 1;
    }
    AUTHD_PREPARE(q, "INSERT INTO clients (" CLIENT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    q.Bind(1, c.client_id).Bind(2, c.name).Bind(3, c.secret_hash).Bind(4, c.ykval_id).Bind(5, c.ykval_key_sealed)
        .Bind(6, domain::JoinList(c.scopes)).Bind(7, domain::JoinList(c.allowed_ips)).Bind(8, c.status)
        .Bind(9, c.created_at);
    return q.Run();
  }

  Status InsertSigningKey(const SigningKeyRecord& k) override {
    AUTHD_PREPARE(q, "INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, created_at, retired_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.Bind(1, k.kid).Bind(2, k.alg).Bind(3, k.public_jwk).Bind(4, k.private_sealed).Bind(5, k.created_at)
        .Bind(6, k.retired_at);
    return q.Run();
  }
  Status RetireSigningKeys(int64_t at) override {
    AUTHD_PREPARE(q, "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at = 0");
    q.Bind(1, at);
    return q.Run();
  }
  Result<int64_t> DeleteSigningKeysRetiredBefore(int64_t before) override {
    AUTHD_PREPARE(q, "DELETE FROM signing_keys WHERE retired_at <> 0 AND retired_at < ?1");
    q.Bind(1, before);
    return Changes(q);
  }

  Status InsertToken(const TokenRecord& t) override {
    AUTHD_PREPARE(q, "INSERT INTO tokens (" TOKEN_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    q.Bind(1, TokenKey(t.jti)).Bind(2, t.token_hash).Bind(3, t.user_id).Bind(4, t.username).Bind(5, t.credential_id)
        .Bind(6, t.audience).Bind(7, t.client_id).Bind(8, domain::JoinList(t.amr)).Bind(9, domain::JoinList(t.roles))
        .Bind(10, t.issued_at).Bind(11, t.expires_at).Bind(12, t.auth_time).Bind(13, t.revoked_at);
    return q.Run();
  }
  Result<int64_t> RevokeTokenByJti(std::string_view jti, int64_t at) override {
    AUTHD_PREPARE(q, "UPDATE tokens SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at = 0 AND expires_at > ?2");
    q.Bind(1, TokenKey(jti)).Bind(2, at);
    return Changes(q);
  }
  Result<int64_t> RevokeTokensOfUser(std::string_view user_id, int64_t at) override {
    AUTHD_PREPARE(q, "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at = 0 AND expires_at > ?2");
    q.Bind(1, user_id).Bind(2, at);
    return Changes(q);
  }
  Result<int64_t> RevokeTokensOfCredential(std::string_view user_id, std::string_view credential_id,
                                           int64_t at) override {
    AUTHD_PREPARE(q, "UPDATE tokens SET revoked_at = ?3 WHERE user_id = ?1 AND credential_id = ?2 "
                     "AND credential_id <> '' AND revoked_at = 0 AND expires_at > ?3");
    q.Bind(1, user_id).Bind(2, credential_id).Bind(3, at);
    return Changes(q);
  }
  Result<int64_t> DeleteTokensExpiredBefore(std::string_view jti_below, int64_t before, int limit) override {
    AUTHD_PREPARE(q, "DELETE FROM tokens WHERE jti IN "
                     "(SELECT jti FROM tokens WHERE jti < ?3 AND expires_at < ?1 LIMIT ?2)");
    q.Bind(1, before).Bind(2, limit).Bind(3, jti_below);
    return Changes(q);
  }

  Status AppendAudit(const AuditEvent& e) override {
    AUTHD_PREPARE(q, "INSERT INTO audit (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    q.Bind(1, e.seq).Bind(2, e.at_ms).Bind(3, e.actor).Bind(4, e.action).Bind(5, e.target).Bind(6, e.outcome)
        .Bind(7, e.source).Bind(8, e.request_id).Bind(9, e.reason).Bind(10, e.detail).Bind(11, e.prev_hash)
        .Bind(12, e.hash);
    return q.Run();
  }
  Status PutMeta(std::string_view key, std::string_view value) override {
    AUTHD_PREPARE(q, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
    q.Bind(1, key).Bind(2, value);
    return q.Run();
  }

  // Schema 8's fill, one step: copies the credential record's status into the WebAuthn rows with
  // rowids in the next `span` after the one meta's kWebAuthnStatusFill holds, and moves that on.
  // Rows added since the upgrade have it from the triggers already. Done (true, and the progress
  // forgotten) once past the highest rowid, or when there is nothing to fill.
  Result<bool> FillWebAuthnStatuses(int64_t span) {
    AUTHD_ASSIGN_OR_RETURN(auto from_text, GetMeta(kWebAuthnStatusFill));
    if (!from_text) return true;
    const int64_t from = std::strtoll(from_text->c_str(), nullptr, 10);
    AUTHD_PREPARE(top, "SELECT coalesce(max(rowid), 0) FROM webauthn_credentials");
    AUTHD_ASSIGN_OR_RETURN(bool row, top.Step());
    if (!row || from >= top.Int(0)) {
      AUTHD_PREPARE(q, "DELETE FROM meta WHERE key = ?1");
      q.Bind(1, kWebAuthnStatusFill);
      AUTHD_RETURN_IF_ERROR(q.Run());
      return true;
    }
    AUTHD_PREPARE(q, "UPDATE webauthn_credentials SET status = "
                     "(SELECT c.status FROM credentials c WHERE c.id = webauthn_credentials.id) "
                     "WHERE rowid > ?1 AND rowid <= ?2 AND status IS NULL");
    q.Bind(1, from).Bind(2, from + span);
    AUTHD_RETURN_IF_ERROR(q.Run());
    AUTHD_RETURN_IF_ERROR(PutMeta(kWebAuthnStatusFill, std::to_string(from + span)));
    return false;
  }

 private:
  Connection& conn_;
};

// Process-wide SQLite settings, made once before the first connection opens. Memory statistics
// off: with them on (Debian's default), every allocation SQLite makes takes one global mutex,
// which the reader connections of every request thread then contend for; authd never reads them.
void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) {
      Log(LogLevel::kWarn, "storage_config_ignored", {{"setting", "memstatus"}});  // already initialised
    }
  });
}

Result<std::unique_ptr<Connection>> OpenConnection(const std::string& path, const SqliteOptions& opt, Health* health,
                                                   bool create) {
  ConfigureSqliteOnce();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  // The WAL's frames are written once per commit, not twice per page, and the database is read
  // through a lasting map where a connection asks for one (store_vfs.h); the first relies on the
  // synchronous=FULL set below.
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, StoreVfs());
  std::unique_ptr<sqlite3, DbDeleter> db(raw);
  if (rc != SQLITE_OK) {
    Log(LogLevel::kError, "storage_open_failed", {{"path", path}, {"error", raw ? sqlite3_errmsg(raw) : "out of memory"}});
    return Err(ErrorCode::kStorageUnavailable, "cannot open the database at " + path);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), opt.busy_timeout_ms);
  auto conn = std::make_unique<Connection>(std::move(db), health);
  // WAL with synchronous=FULL: a committed transaction survives power loss (SECURITY.md S04).
  AUTHD_RETURN_IF_ERROR(conn->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return conn;
}

class SqliteStore final : public domain::Store {
 public:
  SqliteStore(std::string path, SqliteOptions opt) : path_(std::move(path)), opt_(opt) {}

  Status Open() {
    struct stat st{};
    bool exists = ::stat(path_.c_str(), &st) == 0;
    if (!exists) {
      // Create the file 0600 before SQLite does: it holds hashes and sealed secrets.
      mode_t old = ::umask(077);
      auto w = OpenConnection(path_, opt_, &health_, true);
      ::umask(old);
      if (!w) return w.error();
      writer_ = std::move(w.value());
    } else {
      AUTHD_ASSIGN_OR_RETURN(writer_, OpenConnection(path_, opt_, &health_, false));
    }
    // Statement journals in memory: each write of a batch runs in a savepoint whose journal
    // SQLite otherwise spills to a temporary file past 64 KiB (a registration batch wrote more to
    // that file than to the WAL). They are bounded by the pages one batch changes.
    AUTHD_RETURN_IF_ERROR(writer_->Exec("PRAGMA temp_store=MEMORY;"));
    // The count of changes to cached records, beside the database (0600, like it).
    AUTHD_ASSIGN_OR_RETURN(changes_, ChangeGeneration::Open(path_));
    writer_->CountChangesIn(changes_.get());
    // A small database is checked before anything is served; a large one (where the check takes
    // seconds) while authd serves, on a connection of its own: damage found then refuses writes
    // and fails readiness, as damage met at run time does.
    bool check_later = false;
    if (opt_.quick_check) {
      struct stat db{}, wal{};
      const int64_t size = (::stat(path_.c_str(), &db) == 0 ? db.st_size : 0) +
                           (::stat((path_ + "-wal").c_str(), &wal) == 0 ? wal.st_size : 0);
      check_later = size > opt_.check_before_open_max_bytes;
      if (!check_later) AUTHD_RETURN_IF_ERROR(QuickCheck(*writer_));
    }
    AUTHD_RETURN_IF_ERROR(Migrate());
    // Under the write lock no change can be in flight: close any count a dead writer left open.
    AUTHD_RETURN_IF_ERROR(writer_->Run("BEGIN IMMEDIATE"));
    changes_->Recover();
    AUTHD_RETURN_IF_ERROR(writer_->Run("COMMIT"));
    for (int i = 0; i < opt_.readers; ++i) {
      AUTHD_ASSIGN_OR_RETURN(auto r, OpenConnection(path_, opt_, &health_, false));
      // Readers take pages from the map instead of reading them (store_vfs.h). Mapped pages
      // count in the process's resident size, so the map stops at 256 MiB.
      AUTHD_RETURN_IF_ERROR(r->Exec("PRAGMA query_only=ON; PRAGMA mmap_size=268435456;"));
      idle_readers_.push_back(std::move(r));
    }
    // Read before the writer thread owns its connection.
    std::optional<std::string> fill;
    if (opt_.fill_in_background) {
      AUTHD_ASSIGN_OR_RETURN(fill, SqliteTx(*writer_).GetMeta(kWebAuthnStatusFill));
    }
    writer_thread_ = std::thread([this] { WriterLoop(); });
    if (fill) fill_thread_ = std::thread([this, from = *fill] { FillLoop(from); });
    if (check_later) {
      AUTHD_ASSIGN_OR_RETURN(checker_, OpenConnection(path_, opt_, &health_, false));
      AUTHD_RETURN_IF_ERROR(checker_->Exec("PRAGMA query_only=ON;"));
      // It reads every page once: keeping them would only push the pages in use out.
      sqlite3_file_control(checker_->raw(), "main", kStoreVfsUncached, nullptr);
      check_thread_ = std::thread([this] {
        Log(LogLevel::kInfo, "storage_check_started", {{"path", path_}, {"mode", "in the background"}});
        const auto start = std::chrono::steady_clock::now();
        Status s = QuickCheck(*checker_);
        if (stopping_) return;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        if (s) Log(LogLevel::kInfo, "storage_check_passed", {{"path", path_}, {"ms", static_cast<int64_t>(ms.count())}});
      });
    }
    return Ok();
  }

  ~SqliteStore() override {
    if (fill_thread_.joinable()) {
      {
        std::lock_guard lock(fill_mu_);
        stopping_ = true;
      }
      fill_cv_.notify_one();
      fill_thread_.join();
    }
    if (writer_thread_.joinable()) {
      {
        std::lock_guard lock(queue_mu_);
        closing_ = true;
      }
      queue_cv_.notify_one();
      writer_thread_.join();  // after every queued write has run
    }
    if (check_thread_.joinable()) {
      stopping_ = true;
      sqlite3_interrupt(checker_->raw());
      check_thread_.join();
    }
  }

  Status Read(const std::function<Status(domain::ReadTx&)>& fn) override {
    std::unique_ptr<Connection> conn;
    {
      std::unique_lock lock(readers_mu_);
      readers_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
    Status s = conn->Run("BEGIN");
    if (s) {
      SqliteTx tx(*conn);
      s = fn(tx);
      Status end = conn->Run("COMMIT");
      if (!end) (void)conn->Run("ROLLBACK");
      if (s && !end) s = end;
    }
    {
      std::lock_guard lock(readers_mu_);
      idle_readers_.push_back(std::move(conn));
    }
    readers_cv_.notify_one();
    return s;
  }

  // Group commit. Each write is queued for the store's writer thread, which runs every queued
  // write (up to kMaxBatch) in one transaction, each inside its own savepoint so that a write
  // whose function fails is rolled back alone, commits once (one fsync for the whole batch), and
  // only then gives each write its result: a waiting caller is woken, a deferred write's `then`
  // runs on the writer thread. Nobody is answered before the commit that holds their write is on
  // disk (SECURITY.md P1); a failed commit fails every write in it.
  Status Write(const std::function<Status(domain::WriteTx&)>& fn) override {
    if (auto refused = Refused()) return *refused;
    PendingWrite self;
    self.fn = &fn;
    if (OnWriterThread()) {
      RunAlone(self);
      return std::move(self.result);
    }
    Enqueue(&self);
    std::unique_lock mine(self.mu);
    self.cv.wait(mine, [&] { return self.done; });
    return std::move(self.result);
  }

  void WriteThen(std::function<Status(domain::WriteTx&)> fn, std::function<void(Status)> then, bool defer) override {
    if (!defer || OnWriterThread()) {
      then(Write(fn));
      return;
    }
    if (auto refused = Refused()) {
      then(std::move(*refused));
      return;
    }
    auto w = std::make_unique<PendingWrite>();
    w->owned_fn = std::move(fn);
    w->fn = &w->owned_fn;
    w->then = std::move(then);
    Enqueue(w.release());  // the writer thread deletes it once `then` has run
  }

  domain::StoreStats Stats() const override {
    const StoreVfsStats vfs = StoreVfsCounts();  // the process's, over every database it opened
    std::lock_guard lock(queue_mu_);
    return {writes_, commits_, static_cast<int64_t>(vfs.cached_reads), static_cast<int64_t>(vfs.cache_misses)};
  }

  Status Ping() override {
    if (health_.corrupt) return Err(ErrorCode::kStorageCorrupt, "the database is damaged");
    if (health_.io_failed) return Err(ErrorCode::kStorageUnavailable, "the database could not be written");
    return Read([](domain::ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(auto v, tx.GetMeta("schema"));
      (void)v;
      return Ok();
    });
  }

  std::string Describe() const override { return "sqlite:" + path_; }

  uint64_t CacheStamp() const override { return changes_ ? changes_->Stamp() : 0; }

  Result<Bytes> Snapshot() override {
    // The backup API copies a consistent snapshot of the source (a reader connection, so writers
    // go on) into an in-memory database, which is then serialised: no plain copy touches disk.
    std::unique_ptr<Connection> conn;
    {
      std::unique_lock lock(readers_mu_);
      readers_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
    Result<Bytes> out = Err(ErrorCode::kStorageUnavailable, "the snapshot failed");
    sqlite3* mem_raw = nullptr;
    if (sqlite3_open_v2(":memory:", &mem_raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
      std::unique_ptr<sqlite3, DbDeleter> mem(mem_raw);
      sqlite3_backup* b = sqlite3_backup_init(mem.get(), "main", conn->raw(), "main");
      int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
      sqlite3_backup_finish(b);
      if (rc == SQLITE_DONE) {
        sqlite3_int64 size = 0;
        unsigned char* data = sqlite3_serialize(mem.get(), "main", &size, 0);
        if (data) {
          Bytes image(data, data + size);
          sqlite3_free(data);
          // Header bytes 18-19 say "WAL" (2) in a copy of a WAL database; a standalone image
          // says rollback (1). authd switches the restored file back to WAL when it opens it.
          if (image.size() >= 100 && image[18] == 2 && image[19] == 2) image[18] = image[19] = 1;
          out = std::move(image);
        }
      } else {
        out = SqlError(rc, "backup", &health_);
      }
    }
    {
      std::lock_guard lock(readers_mu_);
      idle_readers_.push_back(std::move(conn));
    }
    readers_cv_.notify_one();
    return out;
  }

 private:
  static constexpr size_t kMaxBatch = 64;

  struct PendingWrite {
    const std::function<Status(domain::WriteTx&)>* fn = nullptr;
    std::function<Status(domain::WriteTx&)> owned_fn;  // a deferred write's own copy
    std::function<void(Status)> then;                  // set for a deferred write
    Status result = Ok();                              // written by the writer before `done`
    std::mutex mu;                // guards done and cv: a waiting caller's own
    bool done = false;            // its write is committed (or failed) and `result` says which
    std::condition_variable cv;
  };

  std::optional<Status> Refused() const {
    if (health_.corrupt) return Status(Err(ErrorCode::kStorageCorrupt, "the database is damaged; writes are refused"));
    if (health_.io_failed) return Status(Err(ErrorCode::kStorageUnavailable, "the database could not be written; restart authd"));
    return std::nullopt;
  }

  bool OnWriterThread() const { return writer_thread_.get_id() == std::this_thread::get_id(); }

  void Enqueue(PendingWrite* w) {
    {
      std::lock_guard lock(queue_mu_);
      queue_.push_back(w);
    }
    queue_cv_.notify_one();  // no system call unless the writer sleeps
  }

  // A write made on the writer thread itself (by a deferred write's `then`): its own batch, now.
  void RunAlone(PendingWrite& w) {
    std::vector<PendingWrite*> one{&w};
    RunBatch(one);
    changes_->Settled();
    std::lock_guard lock(queue_mu_);
    ++writes_;
    ++commits_;
  }

  // The writer thread: batches until the store closes and its queue is empty.
  void WriterLoop() {
    std::vector<PendingWrite*> batch;
    std::vector<std::unique_ptr<PendingWrite>> deferred;
    for (;;) {
      {
        std::unique_lock lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        const size_t n = std::min(queue_.size(), kMaxBatch);
        batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      }
      RunBatch(batch);
      changes_->Settled();
      {
        std::lock_guard lock(queue_mu_);
        writes_ += static_cast<int64_t>(batch.size());
        ++commits_;
      }
      // Waiting callers first (a notify each, under the caller's own lock: the caller can
      // return, and its PendingWrite end, only once this thread has let go of it, so nothing of
      // a waiting caller's is touched after its notify), then the deferred writes' answers.
      deferred.clear();
      for (PendingWrite* w : batch) {
        if (w->then) {
          deferred.emplace_back(w);
          continue;
        }
        std::lock_guard theirs(w->mu);
        w->done = true;
        w->cv.notify_one();
      }
      for (auto& w : deferred) {
        try {
          w->then(std::move(w->result));
        } catch (const std::exception& e) {
          Log(LogLevel::kError, "deferred_write_failed", {{"error", std::string(e.what()).substr(0, 200)}});
        }
      }
      deferred.clear();
    }
  }

  void RunBatch(const std::vector<PendingWrite*>& batch) {
    Connection& db = *writer_;
    Status begun = db.Run("BEGIN IMMEDIATE");
    if (!begun) {
      for (PendingWrite* w : batch) w->result = begun;
      return;
    }
    SqliteTx tx(db);
    const bool single = batch.size() == 1;
    for (size_t i = 0; i < batch.size(); ++i) {
      PendingWrite* w = batch[i];
      Status s = single ? Status(Ok()) : db.Run("SAVEPOINT w");
      if (s) {
        try {
          s = (*w->fn)(tx);
        } catch (const std::exception&) {
          // Rolled back alone, like a write that failed; it must not end the batch for the rest.
          s = Err(ErrorCode::kInternal, "the write failed");
        }
      }
      if (!s && sqlite3_get_autocommit(db.raw())) {
        // SQLite ended the whole transaction itself (an I/O error, a full disk): nothing of this
        // batch was committed, so every write in it fails with this error.
        for (PendingWrite* other : batch) other->result = s;
        return;
      }
      if (!single) {
        Status undo = s ? Status(Ok()) : db.Run("ROLLBACK TO w");
        Status released = undo ? db.Run("RELEASE w") : undo;
        if (!released) {
          for (PendingWrite* other : batch) other->result = released;
          if (!sqlite3_get_autocommit(db.raw())) (void)db.Run("ROLLBACK");
          return;
        }
      }
      w->result = std::move(s);
    }
    if (single && !batch.front()->result) {
      (void)db.Run("ROLLBACK");
      return;
    }
    Status committed = db.Run("COMMIT");
    if (!committed) {
      // Never acknowledge a write whose commit failed; leave no transaction open.
      if (!sqlite3_get_autocommit(db.raw())) (void)db.Run("ROLLBACK");
      for (PendingWrite* w : batch) {
        if (w->result) w->result = committed;
      }
    }
  }

  // Schema 8's fill of the WebAuthn rows it found (FillWebAuthnStatuses), a step per write
  // through the writer's queue, so that each is batched with the requests' writes and holds the
  // writer briefly, with a pause between two. A step that fails (another process holding the
  // write lock past the busy timeout, a full disk) is tried again a second later; the fill stops
  // when the store refuses writes or closes, and goes on from where it was at the next open.
  void FillLoop(const std::string& from) {
    Log(LogLevel::kInfo, "storage_fill_started",
        {{"path", path_}, {"what", "the status of each WebAuthn key's row"}, {"after_rowid", from}});
    const auto start = std::chrono::steady_clock::now();
    int64_t steps = 0;
    bool failing = false;
    for (;;) {
      bool done = false;
      Status s = Write([&](domain::WriteTx& tx) -> Status {
        AUTHD_ASSIGN_OR_RETURN(done, static_cast<SqliteTx&>(tx).FillWebAuthnStatuses(opt_.fill_span));
        return Ok();
      });
      if (!s && Refused()) {
        Log(LogLevel::kWarn, "storage_fill_stopped",
            {{"path", path_}, {"error", s.error().detail}, {"advice", "it goes on when authd starts again"}});
        return;
      }
      if (!s && !failing) {
        Log(LogLevel::kWarn, "storage_fill_waiting", {{"path", path_}, {"error", s.error().detail}, {"retry_ms", 1000}});
      }
      failing = !s;
      if (s) ++steps;
      if (s && done) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        Log(LogLevel::kInfo, "storage_fill_done", {{"path", path_}, {"steps", steps}, {"ms", static_cast<int64_t>(ms.count())}});
        return;
      }
      std::unique_lock lock(fill_mu_);
      const auto pause = failing ? std::chrono::milliseconds(1000) : opt_.fill_pause;
      if (fill_cv_.wait_for(lock, pause, [&] { return stopping_.load(); })) return;
    }
  }

  Status QuickCheck(Connection& conn) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(conn.raw(), "PRAGMA quick_check", -1, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, StmtDeleter> stmt(raw);
    if (rc != SQLITE_OK) return SqlError(sqlite3_extended_errcode(conn.raw()), "quick_check", &health_);
    std::string first;
    rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt.get(), 0);
      first = t ? reinterpret_cast<const char*>(t) : "";
    } else if (rc != SQLITE_DONE) {
      if (stopping_) return Err(ErrorCode::kStorageUnavailable, "the check was stopped");
      return SqlError(sqlite3_extended_errcode(conn.raw()), "quick_check", &health_);
    }
    if (first != "ok") {
      health_.corrupt = true;
      Log(LogLevel::kError, "storage_corrupt", {{"path", path_}, {"quick_check", first.substr(0, 200)}});
      return Err(ErrorCode::kStorageCorrupt, "the database at " + path_ + " failed its integrity check (" +
                                                 first.substr(0, 120) + "); restore it from a backup");
    }
    return Ok();
  }

  Status Migrate() {
    AUTHD_RETURN_IF_ERROR(writer_->Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)"));
    for (const auto& m : SqliteMigrations()) {
      bool applied = false;
      {
        AUTHD_ASSIGN_OR_RETURN(Query q, writer_->Prepare("SELECT 1 FROM schema_migrations WHERE version = ?1"));
        q.Bind(1, m.version);
        AUTHD_ASSIGN_OR_RETURN(applied, q.Step());
      }
      if (applied) continue;
      // Each migration is one transaction: a crash leaves it wholly applied or not at all. It
      // may change any table, so it counts as a change to cached records.
      AUTHD_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
      changes_->WillChange();
      Status s = writer_->Exec(m.sql);
      if (s) {
        AUTHD_ASSIGN_OR_RETURN(Query q, writer_->Prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%s','now'))"));
        q.Bind(1, m.version).Bind(2, m.name);
        s = q.Run();
      }
      if (s) {
        AUTHD_ASSIGN_OR_RETURN(Query q, writer_->Prepare(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1"));
        q.Bind(1, std::to_string(m.version));
        s = q.Run();
      }
      if (s) s = writer_->Exec("COMMIT");
      if (!s) (void)writer_->Exec("ROLLBACK");
      changes_->Settled();
      if (!s) {
        Log(LogLevel::kError, "migration_failed", {{"version", m.version}, {"name", m.name}});
        return s;
      }
      Log(LogLevel::kInfo, "migration_applied", {{"version", m.version}, {"name", m.name}});
    }
    return Ok();
  }

  std::string path_;
  SqliteOptions opt_;
  Health health_;
  std::unique_ptr<ChangeGeneration> changes_;  // before writer_, which points at it
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> checker_;  // the background integrity check's own connection
  std::atomic<bool> stopping_{false};
  std::thread check_thread_;
  std::mutex fill_mu_;
  std::condition_variable fill_cv_;  // wakes the fill's pause when the store closes
  std::thread fill_thread_;
  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // the writer waits here for writes
  std::deque<PendingWrite*> queue_;
  bool closing_ = false;  // under queue_mu_
  std::thread writer_thread_;
  int64_t writes_ = 0;
  int64_t commits_ = 0;
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
};

}  // namespace

Status WriteSqliteImage(ByteView image, const std::string& path) {
  // Check the image in memory first: it must be a whole, intact database.
  {
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      sqlite3_close(raw);
      return Err(ErrorCode::kStorageUnavailable, "out of memory");
    }
    std::unique_ptr<sqlite3, DbDeleter> db(raw);
    auto* buf = static_cast<unsigned char*>(sqlite3_malloc64(image.size()));
    if (!buf) return Err(ErrorCode::kStorageUnavailable, "out of memory");
    std::copy(image.begin(), image.end(), buf);
    int rc = sqlite3_deserialize(db.get(), "main", buf, static_cast<sqlite3_int64>(image.size()),
                                 static_cast<sqlite3_int64>(image.size()),
                                 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    sqlite3_stmt* st = nullptr;
    std::string verdict;
    if (rc == SQLITE_OK && sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      verdict = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
    if (verdict != "ok") return Err(ErrorCode::kStorageCorrupt, "the backup does not hold an intact database");
  }
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((path + suffix).c_str());
  Status written = WriteFileDurably(path, image);
  if (!written) return Err(ErrorCode::kStorageUnavailable, written.error().detail);
  return Ok();
}

Result<std::unique_ptr<domain::Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(path, options);
  Status opened = store->Open();
  if (!opened && opened.code() == ErrorCode::kStorageCorrupt && opened.error().detail.find(path) == std::string::npos) {
    // Damage found before the integrity check ran (an unreadable header or schema): say the same.
    return Err(ErrorCode::kStorageCorrupt,
               "the database at " + path + " failed its integrity check (damaged pages); restore it from a backup");
  }
  AUTHD_RETURN_IF_ERROR(opened);
  return std::unique_ptr<domain::Store>(std::move(store));
}

}  // namespace authd::store
