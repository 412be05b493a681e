// The storage ports. The domain owns these interfaces; authd/store implements them on SQLite
// (a PostgreSQL store for several nodes is planned). A transaction object is used by one
// thread for the duration of one Read()/Write() call and must not escape it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authd/base/result.h"
#include "authd/domain/model.h"

namespace authd::domain {

class ReadTx {
 public:
  virtual ~ReadTx() = default;

  virtual Result<std::optional<User>> FindUserByName(std::string_view username) = 0;
  virtual Result<std::optional<User>> FindUserById(std::string_view id) = 0;
  // Users whose username contains `query` (empty: all), ordered by username, after `after`.
  virtual Result<std::vector<User>> ListUsers(std::string_view query, std::string_view after, int limit) = 0;

  virtual Result<std::vector<Credential>> ListCredentials(std::string_view user_id) = 0;
  virtual Result<std::optional<Credential>> FindCredential(std::string_view id) = 0;
  // The status of a credential record alone (what a verification checks of it).
  virtual Result<std::optional<std::string>> FindCredentialStatus(std::string_view id) = 0;
  // The statuses of a user and of one of their credentials, read together; nothing when the
  // credential is not that user's.
  struct ServiceStatus {
    std::string user, credential;
  };
  virtual Result<std::optional<ServiceStatus>> FindServiceStatus(std::string_view user_id,
                                                                 std::string_view credential_id) = 0;

  virtual Result<std::optional<Client>> FindClient(std::string_view client_id) = 0;
  virtual Result<std::optional<Client>> FindClientByYkvalId(int64_t ykval_id) = 0;

  virtual Result<std::vector<SigningKeyRecord>> ListSigningKeys() = 0;

  virtual Result<std::optional<TokenRecord>> FindTokenByJti(std::string_view jti) = 0;

  // Newest first: events with at_ms >= since_ms and seq < before_seq (0: no bound).
  virtual Result<std::vector<AuditEvent>> ListAudit(int64_t since_ms, int64_t before_seq, int limit) = 0;
  virtual Result<std::optional<AuditLink>> LastAuditLink() = 0;  // none while the log is empty
  // Oldest first; stops early when `fn` returns false.
  virtual Status ScanAudit(const std::function<bool(const AuditEvent&)>& fn) = 0;

  virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;

  // Whether a ceremony id was recorded as used (and has not expired since); `expires_at` is the
  // ceremony's own, as sealed in its handle.
  virtual Result<bool> CeremonyUsed(ByteView id, int64_t expires_at) = 0;
  // An enrolment code that is unused and unexpired at `now`.
  virtual Result<std::optional<EnrollmentCode>> FindLiveEnrollmentCode(ByteView code_hash, int64_t now) = 0;
  virtual Result<std::optional<WebAuthnCredential>> FindWebAuthnCredential(ByteView raw_id) = 0;
  virtual Result<std::vector<WebAuthnCredential>> ListWebAuthnCredentials(std::string_view user_id) = 0;

  virtual Result<std::vector<TotpCredential>> ListTotpCredentials(std::string_view user_id) = 0;
  // Those of the user's TOTP credentials whose credential record is active (what may verify a code).
  virtual Result<std::vector<TotpCredential>> ListActiveTotpCredentials(std::string_view user_id) = 0;
  virtual Result<std::optional<TotpEnrollment>> FindTotpEnrollment(ByteView id_hash) = 0;
  // What takes room among the user's credentials: those not revoked, and the unconfirmed TOTP
  // enrolments that have not expired at `now`.
  struct HeldCredentials {
    int64_t live = 0, pending = 0;
  };
  virtual Result<HeldCredentials> CountHeldCredentials(std::string_view user_id, int64_t now) = 0;
  virtual Result<std::optional<YubiOtpCredential>> FindYubiOtpCredential(std::string_view public_id) = 0;
  virtual Result<std::optional<FailureCounter>> FindFailureCounter(std::string_view subject) = 0;
};

class WriteTx : public ReadTx {
 public:
  // kUserExists when the username is taken.
  virtual Status InsertUser(const User& user) = 0;
  virtual Status UpdateUser(const User& user) = 0;

  virtual Status InsertCredential(const Credential& credential) = 0;
  // Returns false when no such credential of that user exists.
  virtual Result<bool> SetCredentialStatus(std::string_view user_id, std::string_view id,
                                           std::string_view status) = 0;

  virtual Status InsertEnrollmentCode(const EnrollmentCode& code) = 0;
  // Marks the code used if it belongs to the user, is unused and unexpired. Returns whether it
  // did (a conditional update: two concurrent callers cannot both succeed).
  virtual Result<bool> ConsumeEnrollmentCode(ByteView code_hash, std::string_view user_id, int64_t now) = 0;

  virtual Status InsertClient(Client& client) = 0;  // assigns client.ykval_id

  virtual Status InsertSigningKey(const SigningKeyRecord& key) = 0;
  virtual Status RetireSigningKeys(int64_t at) = 0;  // every key not yet retired
  virtual Result<int64_t> DeleteSigningKeysRetiredBefore(int64_t before) = 0;

  virtual Status InsertToken(const TokenRecord& token) = 0;
  // Each returns how many live tokens it revoked.
  virtual Result<int64_t> RevokeTokenByJti(std::string_view jti, int64_t at) = 0;
  virtual Result<int64_t> RevokeTokensOfUser(std::string_view user_id, int64_t at) = 0;
  virtual Result<int64_t> RevokeTokensOfCredential(std::string_view user_id, std::string_view credential_id,
                                                   int64_t at) = 0;
  // Deletes up to `limit` tokens that expired before `before`, among those whose jti sorts below
  // `jti_below` (jtis sort by issue time: see NewJti). Returns how many.
  virtual Result<int64_t> DeleteTokensExpiredBefore(std::string_view jti_below, int64_t before, int limit) = 0;

  // Records a ceremony id as used until `expires_at`; returns whether this was its first use (of
  // two concurrent callers only one sees true).
  virtual Result<bool> UseCeremony(ByteView id, int64_t expires_at) = 0;
  // Forgets up to `limit` used ceremony ids that expired before `before` (they can no longer be
  // presented), the earliest first. Returns how many.
  virtual Result<int64_t> DeleteCeremoniesExpiredBefore(int64_t before, int limit) = 0;

  // kCredentialExists when the raw id is registered already (to anyone).
  virtual Status InsertWebAuthnCredential(const WebAuthnCredential& credential) = 0;
  // Compare-and-set of the signature counter (§7.2 step 24): updates only if the stored count
  // is still `expected_count`, and then records `used_at` as the credential's last use. Returns
  // whether it did. (Each factor's Advance records the last use in the row it updates anyway.)
  virtual Result<bool> AdvanceWebAuthnCounter(ByteView raw_id, int64_t expected_count, int64_t new_count,
                                              bool backup_state, bool uv_initialized, int64_t used_at) = 0;
  virtual Status MarkCloneSuspected(ByteView raw_id) = 0;

  virtual Status InsertTotpEnrollment(const TotpEnrollment& enrollment) = 0;
  // Deletes it; returns whether it was there (of two concurrent callers only one sees true).
  virtual Result<bool> TakeTotpEnrollment(ByteView id_hash) = 0;
  virtual Result<int64_t> DeleteTotpEnrollmentsExpiredBefore(int64_t before) = 0;
  virtual Status InsertTotpCredential(const TotpCredential& credential) = 0;
  // Compare-and-set: moves last_step to `step` only if it is still below it (T01/T02), and then
  // records `used_at` as the credential's last use.
  virtual Result<bool> AdvanceTotpStep(std::string_view id, int64_t step, int64_t used_at) = 0;

  // kCredentialExists when the public id is registered already.
  virtual Status InsertYubiOtpCredential(const YubiOtpCredential& credential) = 0;
  // Frees a revoked key's public id for a new registration (its credentials row stays as history).
  virtual Status DeleteYubiOtpCredential(std::string_view public_id) = 0;
  // Compare-and-set: stores the counters (and the request's nonce and OTP) only if they are
  // strictly after the stored ones, lexicographically (Y01/Y03), with `used_at` as the key's last use.
  virtual Result<bool> AdvanceYubiOtpCounters(std::string_view public_id, int64_t use_counter, int64_t session_counter,
                                              std::string_view nonce, std::string_view otp, int64_t used_at) = 0;

  // Adds one consecutive failure atomically and returns the new count.
  virtual Result<int64_t> RecordFailure(std::string_view subject, std::string_view user_id, int64_t at) = 0;
  virtual Status SetLockedUntil(std::string_view subject, int64_t until) = 0;
  virtual Status ClearFailures(std::string_view subject) = 0;
  // Every counter of the user and of the user's credentials; returns how many it cleared.
  virtual Result<int64_t> ClearFailuresOfUser(std::string_view user_id) = 0;

  virtual Status AppendAudit(const AuditEvent& event) = 0;
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
};

// How many writes the store has committed, and in how many commits (group commit batches
// concurrent writes, so commits <= writes).
struct StoreStats {
  int64_t writes = 0;
  int64_t commits = 0;
  // Pages of the database file read past the readers' map: served from the store's page cache,
  // or read from the file (and kept). Zero for a store without one.
  int64_t page_cache_hits = 0;
  int64_t page_cache_misses = 0;
};

// Thread-safe. Write() runs `fn` in a durable transaction: its changes commit (and are on disk
// before Write returns) only if `fn` returns Ok, and are rolled back otherwise; the result of `fn`
// (or a storage error) is returned. Concurrent writes may share one transaction and commit (group
// commit), each isolated in its own savepoint, and `fn` may run on another caller's thread: it
// must only touch what it captured and the transaction, and must not call the store itself.
class Store {
 public:
  virtual ~Store() = default;
  virtual Status Read(const std::function<Status(ReadTx&)>& fn) = 0;
  virtual Status Write(const std::function<Status(WriteTx&)>& fn) = 0;
  // Write, then `then` with its result, which sees the write committed (or refused). With
  // `defer`, WriteThen may return at once: `fn` runs later in its batch, and `then` on the thread
  // that committed it, right after the commit, so a request's answer can leave without its own
  // thread waiting for the commit. A deferred `then` must capture what it needs by value, not
  // block, and may use the store (a write it makes runs at once, in a transaction of its own).
  // Without `defer`, or in a store that cannot defer, both have run when WriteThen returns.
  virtual void WriteThen(std::function<Status(WriteTx&)> fn, std::function<void(Status)> then, bool defer) {
    (void)defer;
    then(Write(fn));
  }
  // Cheap check that the store answers (readiness).
  virtual Status Ping() = 0;
  // A consistent copy of the whole store, taken online without blocking writers, as bytes that
  // RestoreSqliteImage (or the implementation's own restore) turns back into a store.
  virtual Result<Bytes> Snapshot() = 0;
  virtual std::string Describe() const = 0;
  virtual StoreStats Stats() const { return {}; }
  // For in-memory caches of records (RecordCache) and for writes that rely on what an earlier
  // read found: not 0, the generation of the stored records now, which moves on whenever a change
  // to a watched kind of record (a token revoked, a client changed, a user or a credential
  // record changed) is about to be committed, by this process or any other; 0 while such a change
  // is being written, or when the store cannot tell (then nothing may be kept or assumed).
  virtual uint64_t CacheStamp() const { return 0; }
};

}  // namespace authd::domain
