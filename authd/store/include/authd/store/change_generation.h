// A count of the changes to cached records, shared by every process that writes one database
// file (authd and authctl), so that a process may keep records in memory and learn at once, without
// a transaction, that any of them may have changed. The user and credential records are counted
// too, though not kept: a verification's write checks their statuses again only when the count
// moved since the verification read them.
//
// It lives in a small file beside the database (`<db>-gen`, mapped shared) holding two counters:
// `begun`, raised by a writer while it holds the database's write lock and before it commits a
// change to a cached kind of record, and `done`, raised to the writer's own number once that
// transaction has ended (committed or rolled back). A record read while begun == done, with
// begun unchanged after the read, is current for as long as begun stays the same. A writer that
// dies between the two leaves begun ahead of done: nothing is cached until a later writer, holding
// the write lock (so no other change can be in flight), sets done = begun.
//
// The file is like SQLite's own `-shm`: it is recreated when missing and must not be removed while
// authd runs (a writer that opened a new file would not be seen). Writes made without authd's store
// (the sqlite3 shell) are not counted; caches bound the age of what they keep for that reason.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "authd/base/result.h"

namespace authd::store {

class ChangeGeneration {
 public:
  // Maps `<db_path>-gen`, creating it (mode 0600) if needed. A store that cannot count its
  // changes must not write (another process's caches would miss them), so this failing fails
  // the store's opening.
  static Result<std::unique_ptr<ChangeGeneration>> Open(const std::string& db_path);
  ~ChangeGeneration();
  ChangeGeneration(const ChangeGeneration&) = delete;
  ChangeGeneration& operator=(const ChangeGeneration&) = delete;

  // Not 0: the current generation, to keep with records read from now on (check it again after
  // the read). 0: a change is being written; read, but keep nothing.
  uint64_t Stamp() const;
  // A writer, inside its write transaction and before a statement that changes a cached kind of
  // record runs. Once per transaction; later calls in the same one do nothing.
  void WillChange();
  // A writer, after its transaction has ended either way.
  void Settled();
  // A writer holding the database's write lock: no change can be in flight, so a count left behind
  // by a writer that died is closed.
  void Recover();

 private:
  ChangeGeneration(int fd, void* map);
  int fd_;
  uint64_t* counters_;  // [0] begun, [1] done; accessed through std::atomic_ref only
  uint64_t mine_ = 0;   // this writer's number while its transaction is open, else 0
};

}  // namespace authd::store
