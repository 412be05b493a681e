#include "authd/store/store_vfs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

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

// A writer through the VFS to a new table t holding rows 1 to `rows`, all checkpointed into the
// database file (the WAL emptied).
sqlite3* CheckpointedTable(const std::string& path, int rows, int bytes) {
  sqlite3* writer = Open(path, StoreVfs());
  Exec(writer, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
  Exec(writer, "BEGIN; " + InsertRows(1, rows, bytes) + " COMMIT;");
  EXPECT_EQ(One(writer, "PRAGMA wal_checkpoint(TRUNCATE)"), "0");
  return writer;
}

// For a forked child, which uses no test macros: a connection through the VFS to a new table t
// holding rows 1 to `rows`, committed; null if any of that failed.
sqlite3* StartInChild(const std::string& path, int rows, int bytes) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, StoreVfs()) != SQLITE_OK) {
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
  const char* name = StoreVfs();
  ASSERT_NE(name, nullptr);
  ASSERT_NE(sqlite3_vfs_find(name), nullptr);
  EXPECT_NE(sqlite3_vfs_find(nullptr), sqlite3_vfs_find(name));
}

TEST(WalWriteBuffer, ACommitsFramesReachTheWalInOneWriteAndAreSeenAtOnce) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("a.db");
  sqlite3* db = Open(path, StoreVfs());
  Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
  sqlite3* other = Open(path, nullptr);
  ASSERT_EQ(One(other, "SELECT count(*) FROM t"), "0");

  const StoreVfsStats before = StoreVfsCounts();
  Exec(db, "BEGIN; " + InsertRows(1, 40, 1000) + " COMMIT;");
  const StoreVfsStats after = StoreVfsCounts();
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
  sqlite3* db = Open(path, StoreVfs());
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

// Runs `sql` in a child process, through `vfs` (null: SQLite's default one, as another program on
// the same database would); true when it exited cleanly.
bool InAnotherProcess(const std::string& path, const std::string& sql, const char* vfs = nullptr) {
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK) _exit(10);
    const std::string all = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; " + sql;
    if (sqlite3_exec(db, all.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) _exit(11);
    sqlite3_close(db);
    _exit(0);
  }
  int status = 0;
  return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A reader as the store opens one: through the VFS, asking for a map.
sqlite3* OpenMappedReader(const std::string& path) {
  sqlite3* db = Open(path, StoreVfs());
  EXPECT_EQ(sqlite3_exec(db, "PRAGMA query_only=ON; PRAGMA mmap_size=268435456;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  return db;
}

TEST(MappedDatabase, ReadersShareOneLastingMapAndSeeEveryCommit) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("m.db");
  const StoreVfsStats before = StoreVfsCounts();
  sqlite3* writer = CheckpointedTable(path, 400, 500);
  sqlite3* a = OpenMappedReader(path);
  sqlite3* b = OpenMappedReader(path);
  EXPECT_EQ(One(a, "PRAGMA mmap_size"), "268435456");
  int rows = 400;
  for (int i = 0; i < 60; ++i) {
    // Every commit changes the WAL, so each reader's next transaction drops its pages and asks
    // for the whole map to go; every few, the pages move into the file, which grows.
    ++rows;
    Exec(writer, InsertRows(rows, rows, 500));
    if (i % 10 == 9) {
      EXPECT_EQ(One(writer, "PRAGMA wal_checkpoint(PASSIVE)"), "0");
    }
    ASSERT_EQ(One(a, "SELECT count(*) FROM t"), std::to_string(rows));
    ASSERT_EQ(One(b, "SELECT sum(length(v)) FROM t"), std::to_string(rows * 500));
    ASSERT_EQ(One(b, "SELECT max(id) FROM t"), std::to_string(rows));
  }
  const StoreVfsStats after = StoreVfsCounts();
  // One map of the database for the writer (whose reads keep their pages in it) and both
  // readers, made once, and one of the WAL (made by the writer's checkpoint, the readers' too).
  EXPECT_EQ(after.maps - before.maps, 2u);
  EXPECT_GT(after.mapped_fetches - before.mapped_fetches, 1000u);
  // Pages not yet checkpointed are copied out of the WAL's map; the WAL was truncated above and
  // grew again under it, and was written from its start again after each full checkpoint.
  EXPECT_GT(after.mapped_wal_reads - before.mapped_wal_reads, 100u);
  EXPECT_EQ(One(a, "PRAGMA integrity_check"), "ok");
  sqlite3_close(a);
  sqlite3_close(b);
  sqlite3_close(writer);
}

TEST(MappedDatabase, AConnectionThatAsksForNoMapFetchesNothing) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("n.db");
  sqlite3* writer = CheckpointedTable(path, 200, 500);
  const StoreVfsStats before = StoreVfsCounts();
  sqlite3* plain = Open(path, StoreVfs());
  EXPECT_EQ(One(plain, "SELECT sum(length(v)) FROM t"), "100000");
  const StoreVfsStats after = StoreVfsCounts();
  EXPECT_EQ(after.maps, before.maps);
  EXPECT_EQ(after.mapped_fetches, before.mapped_fetches);
  sqlite3_close(plain);
  sqlite3_close(writer);
}

// Another process empties most of the table, vacuums and checkpoints, so the file shrinks under
// the reader's map; then it grows again. The reader reads only what is there, whole.
TEST(MappedDatabase, AFileShrunkAndGrownByAnotherProcessIsReadWhole) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("v.db");
  sqlite3* writer = CheckpointedTable(path, 2000, 1000);
  sqlite3_close(writer);
  sqlite3* reader = OpenMappedReader(path);
  ASSERT_EQ(One(reader, "SELECT sum(length(v)) FROM t"), "2000000");
  struct stat big{};
  ASSERT_EQ(::stat(path.c_str(), &big), 0);

  ASSERT_TRUE(InAnotherProcess(path, "DELETE FROM t WHERE id > 100; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
                               StoreVfs()));
  struct stat small{};
  ASSERT_EQ(::stat(path.c_str(), &small), 0);
  ASSERT_LT(small.st_size, big.st_size / 4);  // the file did shrink under the map

  EXPECT_EQ(One(reader, "SELECT count(*) FROM t"), "100");
  EXPECT_EQ(One(reader, "SELECT sum(length(v)) FROM t"), "100000");
  EXPECT_EQ(One(reader, "PRAGMA integrity_check"), "ok");
  writer = Open(path, StoreVfs());
  Exec(writer, "BEGIN; " + InsertRows(5001, 6000, 1000) + " COMMIT;");
  EXPECT_EQ(One(writer, "PRAGMA wal_checkpoint(TRUNCATE)"), "0");
  EXPECT_EQ(One(reader, "SELECT count(*) FROM t"), "1100");
  EXPECT_EQ(One(reader, "SELECT sum(length(v)) FROM t"), "1100000");
  EXPECT_EQ(One(reader, "PRAGMA integrity_check"), "ok");
  sqlite3_close(writer);
  sqlite3_close(reader);
}

// --- The page cache of pages read from the database file --------------------------------------

// A database of `accounts` rows with a balance each (100 to start with) and enough padding that
// the table spans many pages, all checkpointed into the file.
void Accounts(const std::string& path, int accounts) {
  sqlite3* db = Open(path, StoreVfs());
  Exec(db, "CREATE TABLE a(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, pad BLOB);");
  Exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
               std::to_string(accounts) + ") INSERT INTO a SELECT i, 100, randomblob(300) FROM n; COMMIT;");
  EXPECT_EQ(One(db, "PRAGMA wal_checkpoint(TRUNCATE)"), "0");
  sqlite3_close(db);
}

// A reader without a map reads every page with pread, and keeps them: its next transactions copy
// them from the cache. Another process then changes every row and checkpoints, passively (the
// WAL stays, nBackfill moves, and the reader reads the changed pages from the file) and then
// with TRUNCATE (the WAL starts again): the reader sees each change, never a kept page.
TEST(PageCache, PagesReadAreKeptAndAnotherProcesssCheckpointsAreSeen) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("c.db");
  Accounts(path, 4000);
  sqlite3* reader = Open(path, StoreVfs());
  Exec(reader, "PRAGMA query_only=ON;");
  sqlite3* other = Open(path, StoreVfs());
  Exec(other, "CREATE TABLE note(v);");
  ASSERT_EQ(One(reader, "SELECT sum(balance) FROM a"), "400000");
  // A commit elsewhere: SQLite drops the reader's own cache at its next transaction.
  Exec(other, "INSERT INTO note VALUES (1);");
  const StoreVfsStats before = StoreVfsCounts();
  ASSERT_EQ(One(reader, "SELECT sum(balance) FROM a"), "400000");
  const StoreVfsStats kept = StoreVfsCounts();
  EXPECT_GT(kept.cached_reads - before.cached_reads, 300u);  // the table is over 300 pages
  EXPECT_EQ(kept.cache_fills, before.cache_fills);

  ASSERT_TRUE(InAnotherProcess(path, "UPDATE a SET balance = balance + 1; PRAGMA wal_checkpoint(PASSIVE);"));
  EXPECT_EQ(One(reader, "SELECT sum(balance) FROM a"), "404000");
  EXPECT_EQ(One(reader, "SELECT min(balance) || ' ' || max(balance) FROM a"), "101 101");
  ASSERT_TRUE(InAnotherProcess(path, "UPDATE a SET balance = balance * 2; PRAGMA wal_checkpoint(TRUNCATE);"));
  EXPECT_EQ(One(reader, "SELECT sum(balance) FROM a"), "808000");
  EXPECT_EQ(One(reader, "SELECT min(balance) || ' ' || max(balance) FROM a"), "202 202");
  const StoreVfsStats after = StoreVfsCounts();
  EXPECT_GE(after.cache_resets - kept.cache_resets, 2u);
  EXPECT_EQ(One(reader, "PRAGMA integrity_check"), "ok");
  sqlite3_close(other);
  sqlite3_close(reader);
}

// A connection that opts out (the store's integrity check) reads the file without keeping pages.
TEST(PageCache, AConnectionThatOptsOutNeitherFillsNorUsesIt) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("u.db");
  Accounts(path, 4000);
  sqlite3* checker = Open(path, StoreVfs());
  ASSERT_EQ(sqlite3_file_control(checker, "main", kStoreVfsUncached, nullptr), SQLITE_OK);
  const StoreVfsStats before = StoreVfsCounts();
  EXPECT_EQ(One(checker, "PRAGMA quick_check"), "ok");
  EXPECT_EQ(One(checker, "SELECT sum(balance) FROM a"), "400000");
  const StoreVfsStats after = StoreVfsCounts();
  EXPECT_EQ(after.cache_fills, before.cache_fills);
  EXPECT_EQ(after.cached_reads, before.cached_reads);
  // The same reads through a connection that keeps pages: over 300 of them kept.
  sqlite3* reader = Open(path, StoreVfs());
  EXPECT_EQ(One(reader, "SELECT sum(balance) FROM a"), "400000");
  EXPECT_GT(StoreVfsCounts().cache_fills - after.cache_fills, 300u);
  sqlite3_close(reader);
  sqlite3_close(checker);
}

// Transfers between accounts keep the total; a writer of this process and one of another process
// make them while both checkpoint often, and readers of this process, some mapped and some not,
// check the total and the count in every transaction. A page kept past a checkpoint that changed
// it shows as a wrong total (or a damaged B-tree).
TEST(PageCache, ReadersNeverSeeAPageACheckpointChanged) {
  authd::testing::TempDir dir;
  const std::string path = dir.File("s.db");
  constexpr int kAccounts = 6000;
  Accounts(path, kAccounts);
  const std::string total = std::to_string(100 * kAccounts);
  const std::string count = std::to_string(kAccounts);
  // Transfers: 40 accounts a transaction, spread over the table.
  auto transfers = [](int64_t round) {
    std::string sql = "BEGIN IMMEDIATE;";
    for (int64_t k = 0; k < 40; ++k) {
      const int64_t from = 1 + (round * 7919 + k * 104729) % kAccounts;
      const int64_t to = 1 + (round * 15485863 + k * 32452843 + 1) % kAccounts;
      sql += " UPDATE a SET balance = balance - 1 WHERE id = " + std::to_string(from) + ";";
      sql += " UPDATE a SET balance = balance + 1 WHERE id = " + std::to_string(to) + ";";
    }
    return sql + " COMMIT;";
  };
  // Another process (started before this one has threads): its own transfers, each followed by a
  // checkpoint, some truncating the WAL.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) _exit(10);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;", nullptr, nullptr, nullptr) != SQLITE_OK) {
      _exit(11);
    }
    for (int round = 1000; round < 1150; ++round) {
      if (sqlite3_exec(db, transfers(round).c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) _exit(12);
      // Without waiting: a checkpoint that finds the WAL busy leaves it to the next one.
      sqlite3_busy_timeout(db, 0);
      const char* ckpt = round % 5 == 0 ? "PRAGMA wal_checkpoint(TRUNCATE);" : "PRAGMA wal_checkpoint(PASSIVE);";
      sqlite3_exec(db, ckpt, nullptr, nullptr, nullptr);
      sqlite3_busy_timeout(db, 5000);
    }
    sqlite3_close(db);
    _exit(0);
  }
  const StoreVfsStats before = StoreVfsCounts();
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, checks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      sqlite3* db = r == 0 ? OpenMappedReader(path) : Open(path, StoreVfs());
      if (r == 2) sqlite3_exec(db, "PRAGMA mmap_size=65536;", nullptr, nullptr, nullptr);  // mostly past the map
      while (!stop.load()) {
        if (One(db, "SELECT sum(balance) || ' ' || count(*) FROM a") != total + " " + count) ++wrong;
        ++checks;
      }
      sqlite3_close(db);
    });
  }
  sqlite3* writer = Open(path, StoreVfs());
  sqlite3_busy_timeout(writer, 5000);
  for (int round = 0; round < 150; ++round) {
    Exec(writer, transfers(round));
    if (round % 3 == 0) sqlite3_exec(writer, "PRAGMA wal_checkpoint(PASSIVE);", nullptr, nullptr, nullptr);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(wrong.load(), 0) << "of " << checks.load() << " checks";
  EXPECT_GT(checks.load(), 20);
  const StoreVfsStats after = StoreVfsCounts();
  EXPECT_GT(after.cached_reads - before.cached_reads, 1000u);
  EXPECT_GT(after.cache_resets - before.cache_resets, 10u);
  EXPECT_EQ(One(writer, "SELECT sum(balance) FROM a"), total);
  EXPECT_EQ(One(writer, "PRAGMA integrity_check"), "ok");
  sqlite3_close(writer);
}

}  // namespace
}  // namespace authd::store
