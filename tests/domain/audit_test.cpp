#include "authd/domain/audit.h"

#include <sqlite3.h>

#include "domain/fixture.h"

namespace authd::domain {
namespace {

using AuditTest = CoreFixture;

void Sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST_F(AuditTest, EveryStateChangeIsRecordedWithContext) {
  MakeUser("alice");
  ASSERT_TRUE(core_->IssueEnrollmentCode(Ctx(), "alice", 0));
  auto events = core_->ListAudit(0, 0, 10);
  ASSERT_TRUE(events);
  ASSERT_GE(events->size(), 2u);
  EXPECT_EQ((*events)[0].action, "enrollment_code.issue");
  EXPECT_EQ((*events)[1].action, "user.create");
  EXPECT_EQ((*events)[1].target, "user:alice");
  EXPECT_EQ((*events)[1].actor, "authctl:test");
  EXPECT_EQ((*events)[1].source, "127.0.0.1");
  EXPECT_EQ((*events)[1].request_id, "req-1");
  EXPECT_EQ((*events)[1].outcome, "success");
}

TEST_F(AuditTest, VerifyDetectsAlteredRemovedAndReorderedEvents) {
  MakeUser("alice");
  MakeUser("bob");
  MakeUser("carol");
  auto ok = core_->audit().Verify(*store_);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->intact);
  EXPECT_GE(ok->events, 3);

  Sql(dir_.File("authd.db"), "UPDATE audit SET outcome = 'failure' WHERE seq = 2");
  auto altered = core_->audit().Verify(*store_);
  ASSERT_TRUE(altered);
  EXPECT_FALSE(altered->intact);
  EXPECT_EQ(altered->first_bad_seq, 2);
  EXPECT_EQ(altered->problem, "event was altered");
}

TEST_F(AuditTest, VerifyDetectsDeletion) {
  MakeUser("alice");
  MakeUser("bob");
  MakeUser("carol");
  Sql(dir_.File("authd.db"), "DELETE FROM audit WHERE seq = 2");
  auto r = core_->audit().Verify(*store_);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->intact);
  EXPECT_EQ(r->problem, "event 2 is missing");
}

TEST_F(AuditTest, VerifyDetectsAForgedChainWithoutTheKey) {
  MakeUser("alice");
  // An attacker with SQL access rewrites a row and recomputes a plain SHA-256 "hash": the
  // chain is a MAC under a key derived from the master key, so it still fails.
  Sql(dir_.File("authd.db"), "UPDATE audit SET target = 'user:mallory', hash = randomblob(32) WHERE seq = 1");
  auto r = core_->audit().Verify(*store_);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->intact);
  EXPECT_EQ(r->first_bad_seq, 1);
}

TEST_F(AuditTest, PseudonymisesAddressesAndFailedAttemptTargets) {
  AuditLog log(*keyring_, clock_, true);
  AuditEntry failed{"token.authenticate", "user:alice", "failure", "invalid_token", Json::object(), true};
  AuditEntry change{"user.create", "user:bob", "success", "", Json::object(), false};
  ASSERT_TRUE(log.AppendNow(*store_, Ctx(), failed));
  ASSERT_TRUE(log.AppendNow(*store_, Ctx(), change));
  auto events = core_->ListAudit(0, 0, 2);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].target.rfind("ps:", 0), 0u);
  EXPECT_EQ((*events)[1].source.rfind("ps:", 0), 0u);
  EXPECT_EQ((*events)[1].target, keyring_->Pseudonym("user:alice"));  // stable, so events correlate
  EXPECT_EQ((*events)[0].target, "user:bob");
  EXPECT_TRUE(core_->audit().Verify(*store_)->intact);
}

}  // namespace
}  // namespace authd::domain
