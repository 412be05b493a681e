#include "authd/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

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

}  // namespace
}  // namespace authd::store
