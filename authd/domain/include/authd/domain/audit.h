// The audit log: every state change and every authentication attempt, MAC-chained so that a
// removed, reordered or altered event is detected by Verify().
#pragma once

#include <string>

#include "authd/base/clock.h"
#include "authd/base/json.h"
#include "authd/domain/keyring.h"
#include "authd/domain/store.h"

namespace authd::domain {

// Who asked, from where, in which request. Filled by the HTTP layer or by authctl.
struct AuditContext {
  std::string actor;       // "user:alice", "client:c_x", "authctl:root", "anonymous"
  std::string source;      // remote address, or "local"
  std::string request_id;
};

struct AuditEntry {
  std::string action;   // "user.create", "token.introspect", ...
  std::string target;   // "user:alice", "token:<jti>", ...
  std::string outcome;  // success | failure | denied
  std::string reason;   // error code when not success
  Json detail = Json::object();
  // True for authentication attempts: a failed one has its target pseudonymised when
  // pseudonymisation is on (the target may be a mistyped password-like username).
  bool attempt = false;
};

// An audit entry in one expression; `attempt` marks authentication attempts.
inline AuditEntry MakeEntry(std::string action, std::string target, std::string outcome, std::string reason,
                            bool attempt = true) {
  AuditEntry e;
  e.action = std::move(action);
  e.target = std::move(target);
  e.outcome = std::move(outcome);
  e.reason = std::move(reason);
  e.attempt = attempt;
  return e;
}

struct AuditVerifyReport {
  int64_t events = 0;
  bool intact = true;
  int64_t first_bad_seq = 0;
  std::string problem;
};

// Thread-safe (stateless beyond its references).
class AuditLog {
 public:
  AuditLog(const Keyring& keyring, const Clock& clock, bool pseudonymize)
      : keyring_(keyring), clock_(clock), pseudonymize_(pseudonymize) {}

  // Appends inside the caller's transaction, after the newest event.
  Status Append(WriteTx& tx, const AuditContext& ctx, const AuditEntry& entry) const;
  // Appends in a transaction of its own (for refusals, whose own transaction rolled back).
  Status AppendNow(Store& store, const AuditContext& ctx, const AuditEntry& entry) const;
  Result<AuditVerifyReport> Verify(Store& store) const;

  static Json ToJson(const AuditEvent& e);

 private:
  Bytes ChainMac(const AuditEvent& e) const;
  const Keyring& keyring_;
  const Clock& clock_;
  bool pseudonymize_;
};

}  // namespace authd::domain
