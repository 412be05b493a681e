#include "authd/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "authd/domain/plan.h"
#include "authd/store/change_generation.h"
#include "authd/store/migrations.h"
#include "util/temp_dir.h"

namespace authd::store {
namespace {

using domain::ReadTx;
using domain::User;
using domain::WriteTx;

std::string Pragma(const std::string& path, const char* pragma) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, pragma, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// A store on `path`; null (and the test failed) if it does not open.
std::unique_ptr<domain::Store> MustOpen(const std::string& path) {
  auto s = OpenSqliteStore(path);
  EXPECT_TRUE(s) << (s ? "" : s.error().detail);
  return s ? std::move(s.value()) : nullptr;
}

User NewUser(const std::string& name) {
  User u;
  u.id = "id-" + name;
  u.username = name;
  u.display_name = name;
  u.created_at = u.updated_at = 1;
  return u;
}

TEST(SqliteStore, CreatesPrivateFileInWalModeAndMigratesOnce) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s) << s.error().detail;
    ASSERT_TRUE((*s)->Ping());
  }
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Pragma(path, "PRAGMA journal_mode"), "wal");
  const std::string all = std::to_string(SqliteMigrations().size());
  const std::string newest = std::to_string(SqliteMigrations().back().version);
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM schema_migrations"), all);
  // Reopening applies nothing twice.
  ASSERT_TRUE(OpenSqliteStore(path));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM schema_migrations"), all);
  EXPECT_EQ(Pragma(path, "SELECT value FROM meta WHERE key = 'schema'"), newest);
}

// SQLite's memory statistics take one process-wide mutex on every allocation; the store turns
// them off before its first connection, so they stay at zero however much SQLite allocates.
TEST(SqliteStore, MemoryStatisticsAreOffSoAllocationsTakeNoGlobalLock) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("m.db"));
  ASSERT_TRUE(s) << s.error().detail;
  ASSERT_TRUE((*s)->Write([](WriteTx& tx) { return tx.InsertUser(NewUser("mallory")); }));
  ASSERT_TRUE((*s)->Read([](ReadTx& tx) -> Status {
    auto u = tx.FindUserByName("mallory");
    if (!u) return u.error();
    return *u ? Ok() : Err(ErrorCode::kNotFound, "missing");
  }));
  EXPECT_EQ(sqlite3_memory_used(), 0);
  EXPECT_EQ(sqlite3_memory_highwater(0), 0);
}

TEST(SqliteStore, FailedTransactionLeavesNothingBehind) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(s);
  auto& store = **s;
  Status st = store.Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("alice")));
    return Err(ErrorCode::kSignatureInvalid, "later step failed");
  });
  EXPECT_EQ(st.code(), ErrorCode::kSignatureInvalid);
  std::optional<User> found;
  ASSERT_TRUE(store.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(found, tx.FindUserByName("alice"));
    return Ok();
  }));
  EXPECT_FALSE(found.has_value());
}

// A user's credentials come back in a fixed order whatever order they were written in: by id
// (byte order) for WebAuthn and TOTP keys, by creation time then id for the credential list.
TEST(SqliteStore, AUsersCredentialsAreListedInTheirDocumentedOrder) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(s);
  const std::vector<std::string> written = {"m", "Z", "b", "a~", "a", "zz"};  // rowids follow this order
  const std::vector<int64_t> created = {5, 9, 5, 1, 9, 3};
  ASSERT_TRUE((*s)->Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("alice")));
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("bob")));
    for (size_t i = 0; i < written.size(); ++i) {
      for (const char* owner : {"id-alice", "id-bob"}) {
        const std::string id = std::string(owner) + "/" + written[i];
        domain::Credential c;
        c.id = id;
        c.user_id = owner;
        c.type = "totp";
        c.created_at = created[i];
        AUTHD_RETURN_IF_ERROR(tx.InsertCredential(c));
        domain::TotpCredential t;
        t.id = id;
        t.user_id = owner;
        t.secret_sealed = Bytes(8, 1);
        AUTHD_RETURN_IF_ERROR(tx.InsertTotpCredential(t));
        domain::WebAuthnCredential w;
        w.raw_id = Bytes(id.begin(), id.end());
        w.id = id;
        w.user_id = owner;
        w.public_key = Bytes(8, 2);
        w.aaguid = Bytes(16, 0);
        AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(w));
      }
    }
    return Ok();
  }));
  std::vector<std::string> creds, totp, webauthn;
  ASSERT_TRUE((*s)->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto c, tx.ListCredentials("id-alice"));
    for (const auto& x : c) creds.push_back(x.id.substr(9));
    AUTHD_ASSIGN_OR_RETURN(auto t, tx.ListTotpCredentials("id-alice"));
    for (const auto& x : t) totp.push_back(x.id.substr(9));
    AUTHD_ASSIGN_OR_RETURN(auto w, tx.ListWebAuthnCredentials("id-alice"));
    for (const auto& x : w) webauthn.push_back(x.id.substr(9));
    return Ok();
  }));
  EXPECT_EQ(creds, (std::vector<std::string>{"a~", "zz", "b", "m", "Z", "a"}));
  const std::vector<std::string> by_id = {"Z", "a", "a~", "b", "m", "zz"};
  EXPECT_EQ(totp, by_id);
  EXPECT_EQ(webauthn, by_id);
}

TEST(SqliteStore, DuplicateUsernameIsAConflictNotACrash) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("alice")); }));
  User dup = NewUser("alice");
  dup.id = "other";
  EXPECT_EQ((*s)->Write([&](WriteTx& tx) { return tx.InsertUser(dup); }).code(), ErrorCode::kUserExists);
}

TEST(SqliteStore, CommittedWritesAreVisibleToAnotherConnection) {
  testing::TempDir dir;
  auto a = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(a);
  ASSERT_TRUE((*a)->Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("alice")); }));
  auto b = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(b);
  std::optional<User> found;
  ASSERT_TRUE((*b)->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(found, tx.FindUserByName("alice"));
    return Ok();
  }));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, "id-alice");
}

TEST(SqliteStore, UsedCeremoniesGoEarliestFirstAtMostALimitAtATime) {
  testing::TempDir dir;
  auto store = MustOpen(dir.File("a.db"));
  // Ten ids expiring at 100..109 (added latest first), and one that expires at 500.
  ASSERT_TRUE(store->Write([&](WriteTx& tx) -> Status {
    for (int i = 9; i >= -1; --i) {
      const bool late = i < 0;
      AUTHD_ASSIGN_OR_RETURN(bool first, tx.UseCeremony(Bytes(16, late ? 0xee : static_cast<uint8_t>(i)), late ? 500 : 100 + i));
      if (!first) return Err(ErrorCode::kConflict, "used twice");
    }
    return Ok();
  }));
  const auto used = [&](uint8_t fill, int64_t expires_at) {
    bool is = false;
    EXPECT_TRUE(store->Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(is, tx.CeremonyUsed(Bytes(16, fill), expires_at));
      return Ok();
    }));
    return is;
  };
  const auto purge = [&](int64_t before, int limit) {
    int64_t n = -1;
    EXPECT_TRUE(store->Write([&](WriteTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(n, tx.DeleteCeremoniesExpiredBefore(before, limit));
      return Ok();
    }));
    return n;
  };
  EXPECT_EQ(purge(200, 4), 4);  // 100..103
  for (int i = 0; i < 10; ++i) EXPECT_EQ(used(static_cast<uint8_t>(i), 100 + i), i >= 4) << i;
  EXPECT_EQ(purge(107, 100), 3);  // 104..106: only those expired before 107
  EXPECT_TRUE(used(7, 107));
  EXPECT_EQ(purge(200, 100), 3);
  EXPECT_EQ(purge(200, 100), 0);
  EXPECT_TRUE(used(0xee, 500));  // not expired: kept
}

// A store on a fresh file, kept open for the test.
class GroupCommit : public ::testing::Test {
 protected:
  void SetUp() override {
    owned_ = MustOpen(path);
    ASSERT_TRUE(owned_);
  }
  testing::TempDir dir;
  const std::string path = dir.File("a.db");
  std::unique_ptr<domain::Store> owned_;
};

// Group commit: concurrent writes share commits, yet each one succeeds or fails on its own; a
// write whose function fails leaves nothing behind even when it shared a transaction.
TEST_F(GroupCommit, ConcurrentWritesShareCommitsAndFailAlone) {
  auto& store = *owned_;
  const domain::StoreStats before = store.Stats();
  constexpr int kThreads = 8, kPerThread = 40;
  std::atomic<int> ok{0}, failed{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string name = "u" + std::to_string(t) + "-" + std::to_string(i);
        const bool fail = i % 3 == 0;
        Status st = store.Write([&](WriteTx& tx) -> Status {
          AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser(name)));
          if (fail) return Err(ErrorCode::kSignatureInvalid, "refused after its insert");
          return Ok();
        });
        if (fail ? st.code() == ErrorCode::kSignatureInvalid : static_cast<bool>(st)) {
          (fail ? failed : ok)++;
        } else {
          wrong++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  const int expected_ok = kThreads * (kPerThread - (kPerThread + 2) / 3);
  EXPECT_EQ(ok.load(), expected_ok);
  // What is on disk is exactly the writes that were acknowledged, read by another connection.
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM users"), std::to_string(expected_ok));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM users WHERE CAST(substr(username, instr(username, '-') + 1) AS "
                         "INTEGER) % 3 = 0"),
            "0");
  const domain::StoreStats after = store.Stats();
  EXPECT_EQ(after.writes - before.writes, kThreads * kPerThread);
  EXPECT_LT(after.commits - before.commits, after.writes - before.writes) << "no two writes ever shared a commit";
}

// A deferred write returns at once; its `then` runs on the writer thread once the write is
// committed (another connection sees it from there), in order with the other writes, and may
// itself write (at once, in a transaction of its own) and read.
TEST_F(GroupCommit, DeferredWritesAnswerAfterTheirCommitOnTheWriterThread) {
  auto& store = *owned_;
  constexpr int kWrites = 50;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, refused = 0, unseen = 0, on_caller = 0, nested_ok = 0;
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < kWrites; ++i) {
    const std::string name = "d" + std::to_string(i);
    const bool fail = i % 5 == 4;
    store.WriteThen(
        [name, fail](WriteTx& tx) -> Status {
          AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser(name)));
          if (fail) return Err(ErrorCode::kSignatureInvalid, "refused after its insert");
          return Ok();
        },
        [&, name, fail](Status st) {
          // Committed before this runs: a connection of another store finds it (or not, if refused).
          const std::string count = Pragma(path, ("SELECT count(*) FROM users WHERE username = '" + name + "'").c_str());
          Status nested = store.Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("after-" + name)); });
          std::lock_guard lock(mu);
          if (std::this_thread::get_id() == caller) on_caller++;
          if (fail ? st.code() == ErrorCode::kSignatureInvalid : static_cast<bool>(st)) {
            (fail ? refused : answered)++;
          }
          if (count != (fail ? "0" : "1")) unseen++;
          if (nested) nested_ok++;
          cv.notify_all();
        },
        /*defer=*/true);
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered + refused == kWrites; }))
        << answered << " answered, " << refused << " refused";
  }
  EXPECT_EQ(answered, kWrites - kWrites / 5);
  EXPECT_EQ(refused, kWrites / 5);
  EXPECT_EQ(unseen, 0) << "a deferred write was answered before its commit";
  EXPECT_EQ(on_caller, 0) << "a deferred answer ran on the caller's thread";
  EXPECT_EQ(nested_ok, kWrites);
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM users"), std::to_string(kWrites - kWrites / 5 + kWrites));
  // Without `defer`, the answer has come when WriteThen returns, on the caller's thread.
  bool inline_done = false;
  store.WriteThen([](WriteTx& tx) { return tx.InsertUser(NewUser("inline")); },
                  [&](Status st) { inline_done = st && std::this_thread::get_id() == caller; }, false);
  EXPECT_TRUE(inline_done);
}

// A plan whose answer cannot be made (its finish throws) still answers its caller, with an
// internal error, and the writer goes on.
TEST_F(GroupCommit, APlanWhoseFinishFailsStillAnswersItsCaller) {
  auto& store = *owned_;
  domain::Plan<int> plan;
  plan.write = [](WriteTx& tx) { return tx.InsertUser(NewUser("planned")); };
  plan.finish = [](Status) -> Result<int> { throw std::runtime_error("a bug"); };
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<int>> got;
  domain::Carry<int>(store, std::move(plan), [&](Result<int> r) {
    std::lock_guard lock(mu);
    got = std::move(r);
    cv.notify_all();
  }, true);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.has_value(); }));
  }
  EXPECT_EQ(got->code(), ErrorCode::kInternal);
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM users WHERE username = 'planned'"), "1");
  EXPECT_TRUE(store.Write([](WriteTx& tx) { return tx.InsertUser(NewUser("after")); }));
}

// Closing a store runs every deferred write still queued and gives it its answer first.
TEST(SqliteStore, ClosingAStoreAnswersItsQueuedDeferredWrites) {
  testing::TempDir dir;
  const std::string path = dir.File("a.db");
  std::atomic<int> answered{0};
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) {
      (*s)->WriteThen([i](WriteTx& tx) { return tx.InsertUser(NewUser("q" + std::to_string(i))); },
                      [&](Status st) { if (st) answered++; }, true);
    }
  }
  EXPECT_EQ(answered.load(), 20);
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM users"), "20");
}

// A write function that throws is refused alone; the writer goes on.
TEST(SqliteStore, AWriteThatThrowsIsRefusedAloneAndTheWriterGoesOn) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(s);
  Status thrown = (*s)->Write([](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("thrower")));
    throw std::runtime_error("a bug");
  });
  EXPECT_EQ(thrown.code(), ErrorCode::kInternal);
  ASSERT_TRUE((*s)->Write([](WriteTx& tx) { return tx.InsertUser(NewUser("next")); }));
  std::optional<User> gone, next;
  ASSERT_TRUE((*s)->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(gone, tx.FindUserByName("thrower"));
    AUTHD_ASSIGN_OR_RETURN(next, tx.FindUserByName("next"));
    return Ok();
  }));
  EXPECT_FALSE(gone);
  EXPECT_TRUE(next);
}

// A write that conflicts (a duplicate) inside a shared transaction is refused alone.
TEST(SqliteStore, ConflictInsideABatchDoesNotSpoilTheOthers) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("a.db"));
  ASSERT_TRUE(s);
  auto& store = **s;
  ASSERT_TRUE(store.Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("taken")); }));
  std::atomic<int> conflicts{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        User u = NewUser(i % 2 ? "taken" : "n" + std::to_string(t) + "-" + std::to_string(i));
        u.id = "id" + std::to_string(t) + "-" + std::to_string(i);
        Status st = store.Write([&](WriteTx& tx) { return tx.InsertUser(u); });
        if (st) ok++;
        else if (st.code() == ErrorCode::kUserExists) conflicts++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6 * 15);
  EXPECT_EQ(conflicts.load(), 6 * 15);
  int64_t users = 0;
  ASSERT_TRUE(store.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto all, tx.ListUsers("", "", 1000));
    users = static_cast<int64_t>(all.size());
    return Ok();
  }));
  EXPECT_EQ(users, 1 + 6 * 15);
}

TEST(SqliteStore, RefusesACorruptFileLoudly) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s);
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*s)->Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("user" + std::to_string(i))); }));
    }
  }
  // Checkpoint so the data sits in the main file, then damage every b-tree page header
  // after the first (as a torn or misdirected write would).
  Pragma(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  std::string bytes = testing::ReadFile(path);
  ASSERT_GT(bytes.size(), 4096u * 3);
  for (size_t page = 1; page * 4096 < bytes.size(); ++page) {
    for (size_t i = page * 4096; i < page * 4096 + 12; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  }
  testing::WriteFile(path, bytes);
  auto s = OpenSqliteStore(path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kStorageCorrupt);
  EXPECT_NE(s.error().detail.find("integrity"), std::string::npos);
}

// A database too large to check before serving is checked in the background; damage found
// then refuses writes and fails Ping, as damage met at run time does.
TEST(SqliteStore, LargeDatabaseIsCheckedInTheBackground) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->Write([&](WriteTx& tx) -> Status {
      for (int i = 0; i < 2000; ++i) AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("user" + std::to_string(i))));
      return Ok();
    }));
  }
  Pragma(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  SqliteOptions background;
  background.check_before_open_max_bytes = 0;
  {
    auto s = OpenSqliteStore(path, background);  // intact: opens, and stays writable
    ASSERT_TRUE(s);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE((*s)->Ping());
    EXPECT_TRUE((*s)->Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("later")); }));
  }
  Pragma(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  // Damage the last pages (user rows and their index), which opening does not read.
  std::string bytes = testing::ReadFile(path);
  ASSERT_GT(bytes.size(), 4096u * 8);
  for (size_t i = bytes.size() - 3 * 4096; i < bytes.size(); i += 4096) {
    for (size_t j = i; j < i + 12; ++j) bytes[j] = static_cast<char>(bytes[j] ^ 0x5a);
  }
  testing::WriteFile(path, bytes);
  auto s = OpenSqliteStore(path, background);
  ASSERT_TRUE(s) << s.error().detail;
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = (*s)->Ping().code() == ErrorCode::kStorageCorrupt;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ((*s)->Write([&](WriteTx& tx) { return tx.InsertUser(NewUser("after")); }).code(), ErrorCode::kStorageCorrupt);
  // The default opens the same file not at all.
  EXPECT_EQ(OpenSqliteStore(path).code(), ErrorCode::kStorageCorrupt);
}

TEST(SqliteStore, NotADatabaseIsRefused) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  testing::WriteFile(path, std::string(8192, 'x'));
  auto s = OpenSqliteStore(path);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.code() == ErrorCode::kStorageCorrupt || s.code() == ErrorCode::kStorageUnavailable);
}

TEST(SqliteStore, UnwritableLocationIsAClearError) {
  auto s = OpenSqliteStore("/nonexistent-dir/sub/a.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kStorageUnavailable);
  EXPECT_NE(s.error().detail.find("/nonexistent-dir/sub/a.db"), std::string::npos);
}

// Makes a database at schema `version` (the migrations up to it, as an older authd left it),
// then runs `sql` in it; whether that worked.
::testing::AssertionResult CreateAtVersion(const std::string& path, int version, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return ::testing::AssertionFailure() << "cannot open " << path;
  std::string all =
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);";
  for (const auto& m : SqliteMigrations()) {
    if (m.version > version) break;
    all += m.sql;
    all += ";INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" + m.name + "', 1);";
  }
  all += sql;
  char* err = nullptr;
  const int rc = sqlite3_exec(db, all.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return ::testing::AssertionFailure() << message;
  return ::testing::AssertionSuccess();
}

// A database at schema version 4 (tokens with random jtis, used ceremonies keyed by id) keeps
// its live tokens and used ceremony ids through version 5, and they are purged as new ones are.
TEST(SqliteStore, VersionFiveKeepsOlderTokensFindableAndPurgeable) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  ASSERT_TRUE(CreateAtVersion(
      path, 4,
      "INSERT INTO tokens (jti, token_hash, user_id, username, credential_id, audience, client_id, amr, roles, "
      "issued_at, expires_at, auth_time) VALUES "
      "('legacyJtiOf22Character', x'01', 'u1', 'alice', 'c1', 'aud', '', 'hwk', '', 100, 400, 100), "
      "('-egacyJtiOf22Character', x'02', 'u1', 'alice', 'c1', 'aud', '', 'hwk', '', 100, 9999999999, 100);"
      "INSERT INTO used_ceremonies (id, expires_at) VALUES (x'0102', 500);"));
  auto s = OpenSqliteStore(path);
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(Pragma(path, "SELECT value FROM meta WHERE key = 'schema'"), std::to_string(SqliteMigrations().back().version));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tokens' "
                         "AND name NOT LIKE 'sqlite_autoindex%'"), "1");
  ASSERT_TRUE((*s)->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto t, tx.FindTokenByJti("legacyJtiOf22Character"));
    EXPECT_TRUE(t && t->jti == "legacyJtiOf22Character" && t->token_hash == Bytes{1} && t->expires_at == 400);
    AUTHD_ASSIGN_OR_RETURN(bool used, tx.CeremonyUsed(Bytes{1, 2}, 500));
    EXPECT_TRUE(used);
    AUTHD_ASSIGN_OR_RETURN(used, tx.CeremonyUsed(Bytes{1, 2}, 501));
    EXPECT_FALSE(used);
    return Ok();
  }));
  // A token with a time-ordered jti above the purge bound and the two older ones: the purge
  // takes only the expired older one (the older ones sort below any bound after time zero).
  domain::TokenRecord fresh;
  fresh.jti = "01KW0000000000000000000000";
  fresh.token_hash = Bytes{3};
  fresh.user_id = "u1";
  fresh.username = "alice";
  fresh.credential_id = "c1";
  fresh.audience = "aud";
  fresh.issued_at = 100;
  fresh.expires_at = 400;
  int64_t purged = -1, revoked = -1;
  ASSERT_TRUE((*s)->Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertToken(fresh));
    AUTHD_ASSIGN_OR_RETURN(purged, tx.DeleteTokensExpiredBefore("01KV", 1000, 100));
    return Ok();
  }));
  EXPECT_EQ(purged, 1);
  ASSERT_TRUE((*s)->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(revoked, tx.RevokeTokensOfCredential("u1", "c1", 200));
    return Ok();
  }));
  EXPECT_EQ(revoked, 2);  // at 200: the older unexpired one and the fresh one (issued after the bound)
  ASSERT_TRUE((*s)->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto gone, tx.FindTokenByJti("legacyJtiOf22Character"));
    EXPECT_FALSE(gone);
    AUTHD_ASSIGN_OR_RETURN(auto kept, tx.FindTokenByJti("-egacyJtiOf22Character"));
    EXPECT_TRUE(kept && kept->revoked_at == 200);
    AUTHD_ASSIGN_OR_RETURN(auto now, tx.FindTokenByJti(fresh.jti));
    EXPECT_TRUE(now && now->revoked_at == 200);
    return Ok();
  }));
}

// Schema 7: a verification writes the credential's last use into its factor's row, which it
// updates anyway, and not into its credentials row; reads give the later of the two, so times
// from before the upgrade stay, and a YubiKey whose row is freed for a new registration keeps its
// last use in the credentials row it leaves as history.
TEST(SqliteStore, LastUseIsWrittenWithTheFactorsOwnUpdate) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  ASSERT_TRUE(CreateAtVersion(
      path, 6,
      "INSERT INTO users (id, username, display_name, status, roles, created_at, updated_at) "
      "VALUES ('u1', 'alice', 'Alice', 'active', '', 1, 1);"
      "INSERT INTO credentials (id, user_id, type, nickname, status, info, created_at, last_used_at) VALUES "
      "('w1', 'u1', 'webauthn', '', 'active', '{}', 1, 50), ('t1', 'u1', 'totp', '', 'active', '{}', 2, 50), "
      "('y1', 'u1', 'yubiotp', '', 'active', '{}', 3, 50), ('t2', 'u1', 'totp', '', 'active', '{}', 4, 0);"
      "INSERT INTO webauthn_credentials (raw_id, id, user_id, public_key, alg, sign_count, uv_initialized, "
      "backup_eligible, backup_state, transports, aaguid, fmt, attestation_type) "
      "VALUES (x'77', 'w1', 'u1', x'00', -7, 5, 0, 0, 0, '', x'00', 'none', 'none');"
      "INSERT INTO totp_credentials (id, user_id, secret_sealed, algorithm, digits, period, last_step) VALUES "
      "('t1', 'u1', x'00', 'SHA1', 6, 30, 10), ('t2', 'u1', x'00', 'SHA1', 6, 30, -1);"
      "INSERT INTO yubiotp_credentials (public_id, id, user_id, secret_sealed) VALUES ('cccccccccccb', 'y1', 'u1', x'00');"));
  auto s = MustOpen(path);
  ASSERT_TRUE(s);
  auto last_use = [&](const char* id) -> int64_t {
    int64_t at = -1;
    EXPECT_TRUE(s->Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(auto c, tx.FindCredential(id));
      if (c) at = c->last_used_at;
      AUTHD_ASSIGN_OR_RETURN(auto all, tx.ListCredentials("u1"));
      for (const auto& one : all) {
        if (one.id == id) {
          EXPECT_EQ(one.last_used_at, at) << id;
        }
      }
      return Ok();
    }));
    return at;
  };
  EXPECT_EQ(last_use("w1"), 50);
  EXPECT_EQ(last_use("t1"), 50);
  EXPECT_EQ(last_use("y1"), 50);
  EXPECT_EQ(last_use("t2"), 0);

  ASSERT_TRUE(s->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(bool w, tx.AdvanceWebAuthnCounter(Bytes{0x77}, 5, 6, false, false, 70));
    AUTHD_ASSIGN_OR_RETURN(bool t, tx.AdvanceTotpStep("t1", 11, 71));
    AUTHD_ASSIGN_OR_RETURN(bool t2, tx.AdvanceTotpStep("t2", 3, 73));
    AUTHD_ASSIGN_OR_RETURN(bool y, tx.AdvanceYubiOtpCounters("cccccccccccb", 1, 0, "", "otp", 72));
    EXPECT_TRUE(w && t && t2 && y);
    // A refused advance records no use.
    AUTHD_ASSIGN_OR_RETURN(bool again, tx.AdvanceTotpStep("t1", 11, 99));
    EXPECT_FALSE(again);
    return Ok();
  }));
  EXPECT_EQ(last_use("w1"), 70);
  EXPECT_EQ(last_use("t1"), 71);
  EXPECT_EQ(last_use("y1"), 72);
  EXPECT_EQ(last_use("t2"), 73);
  // None of those uses wrote the credentials rows.
  EXPECT_EQ(Pragma(path, "SELECT group_concat(last_used_at) FROM credentials"), "50,50,50,0");

  ASSERT_TRUE(s->Write([&](WriteTx& tx) { return tx.DeleteYubiOtpCredential("cccccccccccb"); }));
  EXPECT_EQ(last_use("y1"), 72);
  EXPECT_EQ(Pragma(path, "SELECT last_used_at FROM credentials WHERE id = 'y1'"), "72");
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM yubiotp_credentials"), "0");
}

// A database at schema 7 with `keys` WebAuthn keys of one user, 'w1' to 'wN', whose credential
// records have the status `status_sql` gives for their number i.
::testing::AssertionResult CreateSevenWithKeys(const std::string& path, int keys, const std::string& status_sql) {
  const std::string n = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                        std::to_string(keys) + ") ";
  return CreateAtVersion(
      path, 7,
      "INSERT INTO users (id, username, display_name, status, roles, created_at, updated_at) "
      "VALUES ('u1', 'alice', 'Alice', 'active', '', 1, 1);" +
          n + "INSERT INTO credentials (id, user_id, type, nickname, status, info, created_at) "
          "SELECT 'w' || i, 'u1', 'webauthn', '', " + status_sql + ", '{}', i FROM n;" +
          n + "INSERT INTO webauthn_credentials (raw_id, id, user_id, public_key, alg, sign_count, uv_initialized, "
          "backup_eligible, backup_state, transports, aaguid, fmt, attestation_type) "
          "SELECT CAST(printf('%08d', i) AS BLOB), 'w' || i, 'u1', x'00', -7, 0, 0, 0, 0, '', x'00', 'none', 'none' FROM n;");
}

// Opens the store on `path` with `opt` and waits (at most 5 s) until the fill's first step is done.
std::unique_ptr<domain::Store> OpenAfterFirstFillStep(const std::string& path, const SqliteOptions& opt) {
  auto opened = OpenSqliteStore(path, opt);
  EXPECT_TRUE(opened) << (opened ? "" : opened.error().detail);
  if (!opened) return nullptr;
  const std::string first = std::to_string(opt.fill_span);
  for (int i = 0; i < 500 && Pragma(path, "SELECT value FROM meta WHERE key = 'webauthn_status_fill'") != first; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::move(opened.value());
}

// Waits (at most 10 s) until schema 8's fill is done in the database at `path`.
bool FillDone(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (Pragma(path, "SELECT count(*) FROM meta WHERE key = 'webauthn_status_fill'") == "0") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A step of schema 8's fill that meets the write lock held by another process past the busy
// timeout is tried again later; the fill still finishes without a restart.
TEST(SqliteStore, SchemaEightsFillWaitsOutAnotherWriter) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  ASSERT_TRUE(CreateSevenWithKeys(path, 300, "'active'"));
  SqliteOptions opt;
  opt.busy_timeout_ms = 20;
  opt.fill_span = 100;
  opt.fill_pause = std::chrono::milliseconds(400);
  auto s = OpenAfterFirstFillStep(path, opt);
  ASSERT_TRUE(s);
  // Another process takes the write lock during the pause and keeps it past the next step.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  ASSERT_TRUE(FillDone(path));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status IS NULL"), "0");
}

// Schema 8's fill goes a step at a time while the store serves, leaves what other writes put in
// the rows, stops at once when the store closes (not after its pause) and goes on from where it
// stopped at the next open. Reads are right at every point of it.
TEST(SqliteStore, SchemaEightsFillGoesOnBesideWritesAndAfterAStop) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  ASSERT_TRUE(CreateSevenWithKeys(path, 1000, "CASE WHEN i % 3 = 0 THEN 'revoked' ELSE 'active' END"));
  const char* mismatches = "SELECT count(*) FROM webauthn_credentials w JOIN credentials c ON c.id = w.id "
                           "WHERE w.status IS NOT c.status";
  auto reads_match = [&](domain::Store& store) {
    int checked = 0;
    EXPECT_TRUE(store.Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(auto all, tx.ListWebAuthnCredentials("u1"));
      for (const auto& w : all) {
        AUTHD_ASSIGN_OR_RETURN(auto record, tx.FindCredentialStatus(w.id));
        EXPECT_EQ(w.status, record) << w.id;
        ++checked;
      }
      return Ok();
    }));
    return checked;
  };

  SqliteOptions slow;
  slow.fill_span = 100;
  slow.fill_pause = std::chrono::milliseconds(3000);
  auto s = OpenAfterFirstFillStep(path, slow);  // the first step runs at once; then it pauses
  ASSERT_TRUE(s);
  ASSERT_EQ(Pragma(path, "SELECT value FROM meta WHERE key = 'webauthn_status_fill'"), "100");
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status IS NULL"), "900");
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status IS NULL AND rowid <= 100"), "0");
  EXPECT_EQ(reads_match(*s), 1000);
  // Changes meanwhile, to rows filled and not: the triggers write them, the fill leaves them.
  ASSERT_TRUE(s->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(bool filled_one, tx.SetCredentialStatus("u1", "w7", "disabled"));
    AUTHD_ASSIGN_OR_RETURN(bool unfilled_one, tx.SetCredentialStatus("u1", "w999", "disabled"));
    EXPECT_TRUE(filled_one && unfilled_one);
    return Ok();
  }));
  EXPECT_EQ(Pragma(path, "SELECT group_concat(status) FROM webauthn_credentials WHERE id IN ('w7', 'w999')"),
            "disabled,disabled");
  const auto closing = std::chrono::steady_clock::now();
  s.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - closing, std::chrono::milliseconds(2000)) << "it waited out its pause";
  EXPECT_EQ(Pragma(path, "SELECT value FROM meta WHERE key = 'webauthn_status_fill'"), "100");

  // The next open goes on from rowid 100 to the end.
  s = MustOpen(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(FillDone(path));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status IS NULL"), "0");
  EXPECT_EQ(Pragma(path, mismatches), "0");
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status = 'disabled'"), "2");
  EXPECT_EQ(reads_match(*s), 1000);
}

// Schema 8: a WebAuthn credential's row carries its credential record's status, filled in after
// the upgrade and kept equal by triggers whoever writes (authd's store, or the sqlite3 shell), in
// either order of the two inserts; NULL where there is no credential record. Reads find the
// status before the fill as after it.
TEST(SqliteStore, WebAuthnRowsCarryTheirCredentialRecordsStatus) {
  testing::TempDir dir;
  std::string path = dir.File("a.db");
  auto row = [](const char* raw, const char* id) {
    return std::string("INSERT INTO webauthn_credentials (raw_id, id, user_id, public_key, alg, sign_count, "
                       "uv_initialized, backup_eligible, backup_state, transports, aaguid, fmt, attestation_type) "
                       "VALUES (x'") + raw + "', '" + id + "', 'u1', x'00', -7, 0, 0, 0, 0, '', x'00', 'none', 'none');";
  };
  ASSERT_TRUE(CreateAtVersion(
      path, 7,
      "INSERT INTO users (id, username, display_name, status, roles, created_at, updated_at) "
      "VALUES ('u1', 'alice', 'Alice', 'active', '', 1, 1);"
      "INSERT INTO credentials (id, user_id, type, nickname, status, info, created_at) VALUES "
      "('w1', 'u1', 'webauthn', '', 'active', '{}', 1), ('w2', 'u1', 'webauthn', '', 'revoked', '{}', 2);" +
          row("01", "w1") + row("02", "w2") + row("03", "w3")));
  SqliteOptions unfilled;
  unfilled.fill_in_background = false;
  auto opened = OpenSqliteStore(path, unfilled);
  ASSERT_TRUE(opened) << opened.error().detail;
  auto s = std::move(opened.value());
  auto status = [&](uint8_t raw) {
    std::optional<std::string> out;
    EXPECT_TRUE(s->Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(auto w, tx.FindWebAuthnCredential(Bytes{raw}));
      EXPECT_TRUE(w) << int{raw};
      if (w) out = w->status;
      AUTHD_ASSIGN_OR_RETURN(auto all, tx.ListWebAuthnCredentials("u1"));
      for (const auto& one : all) {
        if (w && one.raw_id == w->raw_id) {
          EXPECT_EQ(one.status, out);
        }
      }
      return Ok();
    }));
    return out;
  };
  using S = std::optional<std::string>;
  // Not filled yet: the statuses come from the credential records.
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials WHERE status IS NULL"), "3");
  EXPECT_EQ(status(1), S("active"));
  EXPECT_EQ(status(2), S("revoked"));
  EXPECT_EQ(status(3), S());
  // Filled (the next open), and read the same from the rows.
  s.reset();
  s = MustOpen(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(FillDone(path));
  EXPECT_EQ(Pragma(path, "SELECT group_concat(coalesce(status, '-')) FROM webauthn_credentials ORDER BY rowid"),
            "active,revoked,-");
  EXPECT_EQ(status(1), S("active"));
  EXPECT_EQ(status(2), S("revoked"));
  EXPECT_EQ(status(3), S());

  ASSERT_TRUE(s->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(bool changed, tx.SetCredentialStatus("u1", "w1", "revoked"));
    EXPECT_TRUE(changed);
    return Ok();
  }));
  EXPECT_EQ(status(1), S("revoked"));

  // New keys: the credential record first, or the key's row first.
  auto key = [](uint8_t raw, const std::string& id) {
    domain::WebAuthnCredential w;
    w.raw_id = Bytes{raw};
    w.id = id;
    w.user_id = "u1";
    w.public_key = Bytes{0};
    w.alg = -7;
    w.aaguid = Bytes(16, 0);
    w.fmt = w.attestation_type = "none";
    return w;
  };
  auto record = [](const std::string& id, const char* state) {
    domain::Credential c;
    c.id = id;
    c.user_id = "u1";
    c.type = "webauthn";
    c.status = state;
    return c;
  };
  ASSERT_TRUE(s->Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(record("w4", "active")));
    AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(key(4, "w4")));
    AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(key(5, "w5")));
    return tx.InsertCredential(record("w5", "disabled"));
  }));
  EXPECT_EQ(status(4), S("active"));
  EXPECT_EQ(status(5), S("disabled"));

  // Another writer, outside authd's store.
  EXPECT_EQ(Pragma(path, "UPDATE credentials SET status = 'active' WHERE id = 'w2' RETURNING status"), "active");
  EXPECT_EQ(status(2), S("active"));
  EXPECT_EQ(Pragma(path, "SELECT count(*) FROM webauthn_credentials w JOIN credentials c ON c.id = w.id "
                         "WHERE w.status IS NOT c.status"),
            "0");
}

domain::TokenRecord NewToken(const std::string& jti) {
  domain::TokenRecord t;
  t.jti = jti;
  t.token_hash = Bytes(32, 7);
  t.user_id = "id-alice";
  t.username = "alice";
  t.audience = "aud";
  t.issued_at = 100;
  t.expires_at = 4000000000;
  return t;
}

domain::Client NewClient(const std::string& id) {
  domain::Client c;
  c.client_id = id;
  c.name = id;
  c.secret_hash = Bytes(32, 1);
  return c;
}

// The change generation beside the database: shared by every process that maps it, 0 while a
// change is being written, a new value once it has settled.
TEST(ChangeGeneration, IsSharedAndZeroWhileAChangeIsInFlight) {
  testing::TempDir dir;
  const std::string db = dir.File("g.db");
  auto opened_a = ChangeGeneration::Open(db);
  auto opened_b = ChangeGeneration::Open(db);  // as another process would
  ASSERT_TRUE(opened_a && opened_b);
  auto& a = *opened_a;
  auto& b = *opened_b;
  struct stat st{};
  ASSERT_EQ(stat((db + "-gen").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const uint64_t first = a->Stamp();
  EXPECT_NE(first, 0u);
  EXPECT_EQ(b->Stamp(), first);
  b->WillChange();
  b->WillChange();  // once per transaction
  EXPECT_EQ(a->Stamp(), 0u);
  b->Settled();
  const uint64_t second = a->Stamp();
  EXPECT_NE(second, 0u);
  EXPECT_NE(second, first);
  EXPECT_EQ(b->Stamp(), second);
  // Two writers one after the other, the first settling last: done never goes back.
  a->WillChange();
  a->Settled();
  const uint64_t third = a->Stamp();
  b->WillChange();
  auto c = ChangeGeneration::Open(db);
  ASSERT_TRUE(c);
  (*c)->WillChange();
  (*c)->Settled();
  b->Settled();
  EXPECT_NE(a->Stamp(), 0u);
  EXPECT_NE(a->Stamp(), third);
}

// A writer that dies between its count and its settling leaves nothing cacheable, until a store
// opens (under the write lock) and closes the count.
TEST(ChangeGeneration, AWriterThatDiedIsClosedByTheNextStoreToOpen) {
  testing::TempDir dir;
  const std::string db = dir.File("d.db");
  auto a = OpenSqliteStore(db);
  ASSERT_TRUE(a);
  const uint64_t before = (*a)->CacheStamp();
  ASSERT_NE(before, 0u);
  {
    auto dead = ChangeGeneration::Open(db);
    ASSERT_TRUE(dead);
    (*dead)->WillChange();
  }  // gone without Settled
  EXPECT_EQ((*a)->CacheStamp(), 0u);
  auto b = OpenSqliteStore(db);
  ASSERT_TRUE(b);
  EXPECT_NE((*a)->CacheStamp(), 0u);
  EXPECT_NE((*a)->CacheStamp(), before);
}

// Made by root beside a database another user owns (an operator's authctl before authd's first
// start), the file goes to that user, who must be able to open it.
TEST(ChangeGeneration, MadeByRootBelongsToTheDatabasesOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  testing::TempDir dir;
  const std::string db = dir.File("o.db");
  testing::WriteFile(db, "");
  ASSERT_EQ(chown(db.c_str(), 4242, 4343), 0);
  ASSERT_TRUE(ChangeGeneration::Open(db));
  struct stat st{};
  ASSERT_EQ(stat((db + "-gen").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_gid, 4343u);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A store that could not count its changes would leave other processes' caches stale, so it
// does not open, and says which file is wrong.
TEST(ChangeGeneration, AStoreThatCannotCountItsChangesDoesNotOpen) {
  testing::TempDir dir;
  const std::string db = dir.File("x.db");
  ASSERT_EQ(mkdir((db + "-gen").c_str(), 0700), 0);
  auto s = OpenSqliteStore(db);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kStorageUnavailable);
  EXPECT_NE(s.error().detail.find(db + "-gen"), std::string::npos) << s.error().detail;
}

// Only a change that may alter a cached record (introspection's tokens and clients) moves the
// generation, from this store or from another opened on the same file (authctl); new tokens, new
// clients and everything else a login writes leave the caches valid.
TEST(SqliteStore, CacheStampMovesOnlyWhenACachedRecordMayChange) {
  testing::TempDir dir;
  const std::string db = dir.File("c.db");
  auto s = OpenSqliteStore(db);
  auto other = OpenSqliteStore(db);
  ASSERT_TRUE(s && other);
  domain::Store& store = **s;
  const uint64_t start = store.CacheStamp();
  ASSERT_NE(start, 0u);
  domain::Client client = NewClient("app");
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("alice")));
    AUTHD_RETURN_IF_ERROR(tx.InsertToken(NewToken("01KV0000000000000000000001")));
    AUTHD_RETURN_IF_ERROR(tx.InsertClient(client));
    AUTHD_ASSIGN_OR_RETURN(bool first, tx.UseCeremony(Bytes(16, 3), 500));
    return first ? Ok() : Err(ErrorCode::kConflict, "ceremony");
  }));
  EXPECT_EQ(store.CacheStamp(), start);
  EXPECT_EQ((*other)->CacheStamp(), start);

  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RevokeTokenByJti("01KV0000000000000000000001", 200));
    (void)n;
    return Ok();
  }));
  const uint64_t after_revoke = store.CacheStamp();
  EXPECT_NE(after_revoke, 0u);
  EXPECT_NE(after_revoke, start);

  // The same from the other store: this one sees it without a transaction.
  ASSERT_TRUE((*other)->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RevokeTokensOfUser("id-alice", 300));
    (void)n;
    return Ok();
  }));
  EXPECT_NE(store.CacheStamp(), after_revoke);
  EXPECT_NE(store.CacheStamp(), 0u);

  // A change that fails and is rolled back still counts (it could have changed something).
  const uint64_t before_failed = store.CacheStamp();
  EXPECT_FALSE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RevokeTokensOfCredential("id-alice", "c1", 400));
    (void)n;
    return Err(ErrorCode::kConflict, "later step failed");
  }));
  EXPECT_NE(store.CacheStamp(), before_failed);
  EXPECT_NE(store.CacheStamp(), 0u);

  // Expired tokens purged: the records go, so the generation moves.
  const uint64_t before_purge = store.CacheStamp();
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.DeleteTokensExpiredBefore("01KZ", 4000000001, 10));
    (void)n;
    return Ok();
  }));
  EXPECT_NE(store.CacheStamp(), before_purge);
}

// A verification's write checks its user's and key's statuses again only when the stamp moved
// since its read (Core::StillInService): changes to user and credential records move it, the
// writes verifications make (counters, steps, failures, tokens inserted) do not.
TEST(SqliteStore, StatusChangesMoveTheStampAndVerificationWritesDoNot) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.File("s.db"));
  ASSERT_TRUE(s);
  domain::Store& store = **s;
  User alice = NewUser("alice");
  const Bytes raw = {1, 2, 3};
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(alice));
    AUTHD_RETURN_IF_ERROR(tx.InsertUser(NewUser("bob")));
    domain::Credential c;
    c.id = "k1";
    c.user_id = alice.id;
    c.type = "webauthn";
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(c));
    domain::WebAuthnCredential w;
    w.raw_id = raw;
    w.id = "k1";
    w.user_id = alice.id;
    w.public_key = Bytes(8, 2);
    w.aaguid = Bytes(16, 0);
    return tx.InsertWebAuthnCredential(w);
  }));
  auto statuses = [&](const std::string& user_id) {
    std::optional<ReadTx::ServiceStatus> out;
    EXPECT_TRUE(store.Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(out, tx.FindServiceStatus(user_id, "k1"));
      return Ok();
    }));
    return out;
  };
  auto now = statuses(alice.id);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->user, domain::kStatusActive);
  EXPECT_EQ(now->credential, domain::kStatusActive);
  EXPECT_FALSE(statuses("id-bob"));  // not bob's key

  const uint64_t before = store.CacheStamp();
  ASSERT_NE(before, 0u);
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(bool advanced, tx.AdvanceWebAuthnCounter(raw, 0, 5, false, true, 100));
    if (!advanced) return Err(ErrorCode::kConflict, "counter");
    AUTHD_RETURN_IF_ERROR(tx.InsertToken(NewToken("01KV0000000000000000000009")));
    AUTHD_ASSIGN_OR_RETURN(bool used, tx.UseCeremony(Bytes(16, 7), 500));
    return used ? Ok() : Err(ErrorCode::kConflict, "ceremony");
  }));
  EXPECT_EQ(store.CacheStamp(), before);

  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(bool found, tx.SetCredentialStatus(alice.id, "k1", domain::kStatusRevoked));
    return found ? Ok() : Err(ErrorCode::kNotFound, "k1");
  }));
  const uint64_t after_revoke = store.CacheStamp();
  EXPECT_NE(after_revoke, before);
  EXPECT_EQ(statuses(alice.id)->credential, domain::kStatusRevoked);

  alice.status = domain::kStatusDisabled;
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Status { return tx.UpdateUser(alice); }));
  EXPECT_NE(store.CacheStamp(), after_revoke);
  EXPECT_EQ(statuses(alice.id)->user, domain::kStatusDisabled);
}

}  // namespace
}  // namespace authd::store
