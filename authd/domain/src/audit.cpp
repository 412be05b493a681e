#include "authd/domain/audit.h"

#include "authd/base/encoding.h"
#include "authd/base/log.h"

namespace authd::domain {
namespace {

void PutField(Bytes& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

Bytes AuditLog::ChainMac(const AuditEvent& e) const {
  // MAC over prev_hash and every field, each length-prefixed so fields cannot bleed together.
  Bytes data(e.prev_hash);
  PutField(data, std::to_string(e.seq));
  PutField(data, std::to_string(e.at_ms));
  for (const std::string* f : {&e.actor, &e.action, &e.target, &e.outcome, &e.source, &e.request_id,
                               &e.reason, &e.detail}) {
    PutField(data, *f);
  }
  return keyring_.AuditMac(data);
}

Status AuditLog::Append(WriteTx& tx, const AuditContext& ctx, const AuditEntry& entry) const {
  AUTHD_ASSIGN_OR_RETURN(auto last, tx.LastAuditLink());
  AuditEvent e;
  e.seq = last ? last->seq + 1 : 1;
  e.prev_hash = last ? last->hash : Bytes(32, 0);
  e.at_ms = clock_.NowMillis();
  e.actor = ctx.actor.empty() ? "anonymous" : ctx.actor;
  e.action = entry.action;
  e.target = entry.target;
  e.outcome = entry.outcome;
  e.source = ctx.source;
  e.request_id = ctx.request_id;
  e.reason = entry.reason;
  e.detail = DumpJson(entry.detail.is_object() ? entry.detail : Json::object());
  if (pseudonymize_) {
    if (!e.source.empty() && e.source != "local") e.source = keyring_.Pseudonym(e.source);
    if (entry.attempt && entry.outcome != "success" && !e.target.empty()) {
      e.target = keyring_.Pseudonym(e.target);
    }
  }
  e.hash = ChainMac(e);
  return tx.AppendAudit(e);
}

Status AuditLog::AppendNow(Store& store, const AuditContext& ctx, const AuditEntry& entry) const {
  Status s = store.Write([&](WriteTx& tx) { return Append(tx, ctx, entry); });
  if (!s) {
    Log(LogLevel::kError, "audit_write_failed",
        {{"action", entry.action}, {"code", std::string(ErrorCodeName(s.code()))}});
  }
  return s;
}

Result<AuditVerifyReport> AuditLog::Verify(Store& store) const {
  AuditVerifyReport report;
  Bytes prev(32, 0);
  int64_t expected_seq = 1;
  Status s = store.Read([&](ReadTx& tx) {
    return tx.ScanAudit([&](const AuditEvent& e) {
      ++report.events;
      auto fail = [&](std::string why) {
        report.intact = false;
        report.first_bad_seq = e.seq;
        report.problem = std::move(why);
        return false;
      };
      if (e.seq != expected_seq) return fail("event " + std::to_string(expected_seq) + " is missing");
      if (!SafeEquals(e.prev_hash, prev)) return fail("link to the previous event is broken");
      if (!SafeEquals(ChainMac(e), e.hash)) return fail("event was altered");
      prev = e.hash;
      ++expected_seq;
      return true;
    });
  });
  if (!s) return s.error();
  return report;
}

Json AuditLog::ToJson(const AuditEvent& e) {
  Json j = {{"seq", e.seq},       {"time", Rfc3339(e.at_ms / 1000)}, {"actor", e.actor},
            {"action", e.action}, {"target", e.target},             {"outcome", e.outcome},
            {"source", e.source}, {"request_id", e.request_id}};
  if (!e.reason.empty()) j["reason"] = e.reason;
  auto detail = ParseJsonStrict(e.detail);
  if (detail.ok() && detail->is_object() && !detail->empty()) j["detail"] = std::move(detail.value());
  return j;
}

}  // namespace authd::domain
