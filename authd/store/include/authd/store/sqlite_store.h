// The SQLite implementation of the domain's Store: WAL, synchronous=FULL (a committed write is
// on disk), one writer connection, a pool of reader connections, versioned transactional
// migrations and an integrity check at open.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "authd/domain/store.h"

namespace authd::store {

struct SqliteOptions {
  int readers = 4;
  int busy_timeout_ms = 5000;
  bool quick_check = true;  // refuse to open a damaged file (SECURITY.md P7)
  // Larger files (database and WAL) are checked in the background after opening, so that start-up
  // does not wait seconds: damage found then refuses writes and fails Ping (readiness).
  int64_t check_before_open_max_bytes = 64 << 20;
  // An upgrade's rewrite of existing rows (schema 8's statuses in the WebAuthn rows) runs after
  // opening, `fill_span` rowids per write, `fill_pause` between two; reads do not depend on it.
  bool fill_in_background = true;
  int64_t fill_span = 250;
  std::chrono::milliseconds fill_pause{8};
};

// Opens (creating if needed, mode 0600) and migrates the database at `path`.
// kStorageCorrupt when the integrity check fails; kStorageUnavailable when it cannot be opened.
Result<std::unique_ptr<domain::Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options = {});

// Writes a database image made by Snapshot() to `path` (mode 0600, fsynced), after checking that
// it is an intact SQLite database. kStorageCorrupt when it is not; kStorageUnavailable when the
// file cannot be written.
Status WriteSqliteImage(ByteView image, const std::string& path);

}  // namespace authd::store
