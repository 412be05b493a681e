#include "authd/store/wal_write_buffer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "util/temp_dir.h"

namespace authd::store {
namespace {

// A connection as the store opens one (WAL, synchronous=FULL), through the buffering VFS or, with
// `vfs` null, through SQLite's default one.
sqlite3* Open(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  return db;
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
}

std::string One(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  std::string out = "(error)";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  return out;
}

// Rows big enough that each transaction below changes many pages.
std::string InsertRows(int from, int to, int bytes) {
  return "WITH RECURSIVE n(i) AS (SELECT " + std::to_string(from) + " UNION ALL SELECT i + 1 FROM n WHERE i < " +
         std::to_string(to) + ") INSERT INTO t SELECT i, randomblob(" + std::to_string(bytes) + ") FROM n;";
}

// For a forked child, which uses no test macros: a connection through the VFS to a new table t
// holding rows 1 to `rows`, committed; null if any of that failed.
sqlite3* StartInChild(const std::string& path, int rows, int bytes) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WalWriteBufferVfs()) != SQLITE_OK) {
    return nullptr;
  }
  const std::string sql = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); BEGIN; " +
                          InsertRows(1, rows, bytes) + " COMMIT;";
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return nullptr;
  return db;
}

// What the default VFS finds in the file afterwards: whole, with `count` rows up to id `max_id`.
void ExpectRows(const std::string& path, int count, int max_id) {
  sqlite3* db = Open(path, nullptr);
  EXPECT_EQ(One(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(One(db, "SELECT count(*) FROM t"), std::to_string(count));
  EXPECT_EQ(One(db, "SELECT max(id) FROM t"), std::to_string(max_id));
  sqlite3_close(db);
}

TEST(WalWriteBuffer, IsRegisteredAndNotTheDefault) {
  const char* name = WalWriteBufferVfs();
  ASSERT_NE(name, nullptr);
  ASSERT_NE(sqlite3_vfs_find(name), nullptr);
  EXPECT_NE(sqlite3_vfs_find(nullptr), sqlite3_vfs_find(name));
}

TEST(WalWriteBuffer, ACommitsFramesReachTheWalInOneWriteAndAreSeenAtOnce) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("a.db");
  sqlite3* db = Open(path, WalWriteBufferVfs());
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
  sqlite3* other = Open(path, nullptr);
  ASSERT_EQ(One(other, "SELECT count(*) FROM t"), "0");

  const WalWriteBufferStats before = WalWriteBufferCounts();
  Exec(db, "BEGIN; " + InsertRows(1, 40, 1000) + " COMMIT;");
  const WalWriteBufferStats after = WalWriteBufferCounts();
  // About ten pages, each a frame header and a page: twenty writes or more, passed on as one.
  EXPECT_GE(after.writes - before.writes, 20u);
  EXPECT_EQ(after.flushes - before.flushes, 1u);
  // Another connection, through the default VFS, reads the commit as soon as it returned.
  EXPECT_EQ(One(other, "SELECT count(*) FROM t"), "40");
  EXPECT_EQ(One(other, "SELECT sum(length(v)) FROM t"), "40000");
  sqlite3_close(other);
  sqlite3_close(db);
}

TEST(WalWriteBuffer, ACommitStaysAndAnUnfinishedTransactionGoesWhenTheProcessIsKilled) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("k.db");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* db = StartInChild(path, 100, 500);
    if (!db) _exit(10);
    // Pages of this one spill to the WAL (a tiny cache) and more wait in memory when it dies.
    sqlite3_exec(db, ("PRAGMA cache_size=4; BEGIN; " + InsertRows(101, 400, 500)).c_str(), nullptr, nullptr, nullptr);
    raise(SIGKILL);
    _exit(3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ExpectRows(path, 100, 100);
}

// The frames are written at the commit, so that is where a full disk is met: the commit fails,
// nothing of it stays, and the next commit, with room again, is whole.
TEST(WalWriteBuffer, AWriteThatFailsFailsItsCommitAndLeavesTheDatabaseWhole) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("f.db");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* db = StartInChild(path, 10, 100);
    if (!db) _exit(10);
    signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    rlimit small = old;
    small.rlim_cur = 256 * 1024;  // the WAL may not grow past this
    setrlimit(RLIMIT_FSIZE, &small);
    const int rc = sqlite3_exec(db, ("BEGIN; " + InsertRows(11, 200, 3000) + " COMMIT;").c_str(), nullptr, nullptr,
                                nullptr);
    if (rc == SQLITE_OK) _exit(11);
    sqlite3_exec(db, "ROLLBACK;", nullptr, nullptr, nullptr);
    setrlimit(RLIMIT_FSIZE, &old);
    if (sqlite3_exec(db, ("BEGIN; " + InsertRows(11, 15, 100) + " COMMIT;").c_str(), nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      _exit(12);
    }
    sqlite3_close(db);
    _exit((rc & 0xFF) == SQLITE_FULL || (rc & 0xFF) == SQLITE_IOERR ? 0 : 13);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ExpectRows(path, 15, 15);
}

TEST(WalWriteBuffer, SpilledAndRewrittenFramesAndCheckpointsKeepTheDatabaseWhole) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("s.db");
  sqlite3* db = Open(path, WalWriteBufferVfs());
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
  Exec(db, "BEGIN; " + InsertRows(1, 300, 300) + " COMMIT;");
  // A cache of a few pages: the transaction spills pages to the WAL, reads them back and writes
  // some again before it commits (SQLite then rewrites the checksums of the frames after them).
  Exec(db, "PRAGMA cache_size=3;");
  Exec(db,
       "BEGIN; UPDATE t SET v = zeroblob(310) WHERE id % 2 = 0; UPDATE t SET v = zeroblob(320) WHERE id % 3 = 0; "
       "UPDATE t SET v = zeroblob(330) WHERE id % 5 = 0; COMMIT;");
  // More than the VFS keeps in memory at once, in one transaction.
  Exec(db, "PRAGMA cache_size=-8000; BEGIN; " + InsertRows(1001, 1800, 3000) + " COMMIT;");
  sqlite3* other = Open(path, nullptr);
  const std::string expected_sum = One(db, "SELECT sum(length(v)) FROM t");
  EXPECT_EQ(One(other, "SELECT count(*) FROM t"), "1100");
  EXPECT_EQ(One(other, "SELECT sum(length(v)) FROM t"), expected_sum);
  EXPECT_EQ(One(other, "SELECT length(v) FROM t WHERE id = 30"), "330");
  EXPECT_EQ(One(other, "SELECT length(v) FROM t WHERE id = 7"), "300");
  sqlite3_close(other);
  // The WAL copied into the database and emptied, then written again from its start.
  EXPECT_EQ(One(db, "PRAGMA wal_checkpoint(TRUNCATE)"), "0");
  Exec(db, "BEGIN; DELETE FROM t WHERE id > 1500; COMMIT;");
  sqlite3_close(db);
  db = Open(path, nullptr);
  EXPECT_EQ(One(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(One(db, "SELECT count(*) FROM t"), "800");
  EXPECT_EQ(One(db, "SELECT length(v) FROM t WHERE id = 30"), "330");
  sqlite3_close(db);
}

}  // namespace
}  // namespace authd::store
