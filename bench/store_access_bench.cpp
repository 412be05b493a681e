// Poco::Data (SQLite connector) against the sqlite3 C API on authd's hottest read: a token
// record looked up by its jti (introspection, Bearer authentication), its stored SHA-256 read
// for the comparison. Both use one prepared statement, re-executed; the table is authd's own
// (schema version 5: keyed by time-ordered jti, WITHOUT ROWID).
//
// Run: build/bench/store_access_bench --benchmark_repetitions=5

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <Poco/Data/Session.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Statement.h>

#include <cstdio>
#include <string>
#include <vector>

#include "authd/base/crypto.h"

namespace {

constexpr int kRows = 20000;

struct Fixture {
  std::string path;
  std::vector<std::string> jtis;

  Fixture() {
    char tmpl[] = "/tmp/authd-bench-XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path = tmpl;
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; CREATE TABLE tokens (jti TEXT PRIMARY KEY, token_hash BLOB NOT NULL,"
                 " user_id TEXT, username TEXT, credential_id TEXT, audience TEXT, client_id TEXT, amr TEXT,"
                 " roles TEXT, issued_at INTEGER, expires_at INTEGER, auth_time INTEGER, revoked_at INTEGER)"
                 " WITHOUT ROWID;"
                 "BEGIN;",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO tokens VALUES (?1, ?2, 'user-id', 'alice', 'cred', 'aud', 'client', 'hwk',"
                           " '', 1700000000, 1700000300, 1700000000, 0)",
                       -1, &ins, nullptr);
    for (int i = 0; i < kRows; ++i) {
      authd::Bytes h = authd::Sha256(authd::AsBytes("token-" + std::to_string(i)));
      char jti[32];
      std::snprintf(jti, sizeof jti, "01KW%022d", i);  // time-ordered, as NewJti makes them
      sqlite3_bind_text(ins, 1, jti, -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(ins, 2, h.data(), static_cast<int>(h.size()), SQLITE_TRANSIENT);
      sqlite3_step(ins);
      sqlite3_reset(ins);
      jtis.emplace_back(jti);
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT;", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  ~Fixture() {
    std::remove(path.c_str());
    std::remove((path + "-wal").c_str());
    std::remove((path + "-shm").c_str());
  }
};

Fixture& Data() {
  static Fixture f;
  return f;
}

constexpr const char* kQuery =
    "SELECT token_hash, user_id, username, credential_id, audience, client_id, amr, roles, issued_at, expires_at,"
    " auth_time, revoked_at FROM tokens WHERE jti = ?";

void BM_TokenLookup_Sqlite3Api(benchmark::State& state) {
  Fixture& f = Data();
  sqlite3* db = nullptr;
  sqlite3_open_v2(f.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v3(db, kQuery, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
  size_t i = 0;
  for (auto _ : state) {
    const auto& key = f.jtis[i++ % f.jtis.size()];
    sqlite3_bind_text(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) state.SkipWithError("row missing");
    const auto* hash = static_cast<const uint8_t*>(sqlite3_column_blob(st, 0));
    authd::Bytes stored(hash, hash + sqlite3_column_bytes(st, 0));
    std::string user(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    std::string name(reinterpret_cast<const char*>(sqlite3_column_text(st, 2)));
    std::string cred(reinterpret_cast<const char*>(sqlite3_column_text(st, 3)));
    std::string aud(reinterpret_cast<const char*>(sqlite3_column_text(st, 4)));
    std::string client(reinterpret_cast<const char*>(sqlite3_column_text(st, 5)));
    std::string amr(reinterpret_cast<const char*>(sqlite3_column_text(st, 6)));
    std::string roles(reinterpret_cast<const char*>(sqlite3_column_text(st, 7)));
    int64_t iat = sqlite3_column_int64(st, 8), exp = sqlite3_column_int64(st, 9);
    int64_t at = sqlite3_column_int64(st, 10), rev = sqlite3_column_int64(st, 11);
    benchmark::DoNotOptimize(stored.size() + user.size() + name.size() + cred.size() + aud.size() + client.size() +
                             amr.size() + roles.size() + static_cast<size_t>(iat + exp + at + rev));
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}
BENCHMARK(BM_TokenLookup_Sqlite3Api);

void BM_TokenLookup_PocoData(benchmark::State& state) {
  Fixture& f = Data();
  Poco::Data::SQLite::Connector::registerConnector();
  Poco::Data::Session session("SQLite", f.path);
  using Poco::Data::Keywords::into;
  using Poco::Data::Keywords::use;
  Poco::Data::BLOB hash;
  std::string jti, user, name, cred, aud, client, amr, roles;
  Poco::Int64 iat = 0, exp = 0, at = 0, rev = 0;
  Poco::Data::Statement st(session);
  st << kQuery, into(hash), into(user), into(name), into(cred), into(aud), into(client), into(amr), into(roles),
      into(iat), into(exp), into(at), into(rev), use(jti);
  size_t i = 0;
  for (auto _ : state) {
    jti = f.jtis[i++ % f.jtis.size()];
    if (st.execute() != 1) state.SkipWithError("row missing");
    benchmark::DoNotOptimize(hash.size() + user.size() + name.size() + cred.size() + aud.size() + client.size() +
                             amr.size() + roles.size() + static_cast<size_t>(iat + exp + at + rev));
  }
}
BENCHMARK(BM_TokenLookup_PocoData);

}  // namespace

BENCHMARK_MAIN();
