// The SQLite VFS the store opens its files through: SQLite's default one, with two changes.
//
// The WAL's writes are gathered into one. SQLite writes each WAL frame with two pwrite calls
// (its 24-byte header, then the page), so a commit of n pages costs 2n system calls before its
// fsync. Here the frames of a commit are kept in memory, in order, and written with one pwrite
// just before the WAL is synced; any other use of the WAL file (a read, its size, a truncation,
// closing it) writes them first, so nothing in SQLite ever sees the file without them. Correct
// only with `PRAGMA synchronous=FULL` (authd's only setting): a commit then syncs the WAL before
// it publishes the new frames in the wal-index, so no other connection or process can look for
// frames that are still in this process's memory. Nothing is acknowledged before that sync, so
// frames lost with the process (SIGKILL) belong to a commit that never returned.
//
// The database file and its WAL are read through lasting maps. SQLite maps a database file for
// a connection that asks for it (`PRAGMA mmap_size`), but its maps do not last: a reader that
// begins after the WAL changed drops its pages and unmaps the whole file (xUnfetch(0, 0)), so
// under a steady stream of writes every read transaction mapped the file again and faulted its
// pages back in, costing more than the reads it saved. Here a file has one read-only shared map,
// made once and shared by every connection of the process to that file; "unmap everything" only
// makes the next page fetched read the file's size again, and pages are handed out only below
// that size. Reads of WAL frames (pages not yet checkpointed, which every reader meets) are
// copied out of the WAL's map in the same way instead of read with pread. SQLite never asks for
// a page past the size of its own snapshot, nor for a frame past the end of the WAL it has seen,
// and no checkpoint (of any process) shrinks either file while a reader may still need it: the
// guarantee SQLite's own maps rely on. As with those, an I/O error on a mapped page is a SIGBUS
// rather than an error code. Writes go through the default VFS's file, which a shared map shows
// at once. The -shm file and temporary files are the default VFS's own, untouched.
//
// Pages of the database file read with pread (past the map, or by a connection without one) are
// kept in one page cache per file (32 MiB at most, a clock replacing the least used), because
// SQLite drops each connection's own page cache at every read transaction that begins after a
// write, so every login read the upper levels of its B-trees again. Its entries hold for one
// epoch: the WAL's salts and the count of frames checkpoints have copied into the file
// (nBackfill), both read from the wal-index that every process on the file shares. In WAL mode
// only a checkpoint writes the database file, and it raises nBackfill after writing (a restart of
// the WAL changes the salts); a reader reads a page from the file only when its snapshot has no
// frame of it in the WAL past nBackfill, and a checkpoint copies only frames that every reader's
// snapshot holds, so no page a reader takes from the file changes while it reads. A page is
// served from the cache only in the epoch in which it was read, so a checkpoint by any process,
// authctl or the sqlite3 shell included, empties the cache for everyone; a write or truncation
// of the file by this process empties it too.
#pragma once

#include <cstdint>

namespace authd::store {

// The VFS's name, registered on first use (not as the default VFS).
const char* StoreVfs();

// At most this much of a database file is mapped; pages past it are read with pread.
inline constexpr int64_t kStoreVfsMaxMap = int64_t{1} << 30;

// sqlite3_file_control(db, "main", kStoreVfsUncached, nullptr): this connection's reads of the
// database file neither use nor fill the page cache (a connection that reads every page once,
// such as an integrity check, would only push the pages in use out of it).
inline constexpr int kStoreVfsUncached = 0x41555448;

struct StoreVfsStats {
  uint64_t writes = 0;          // writes SQLite made to WAL files
  uint64_t flushes = 0;         // writes made to the files in their place (a long run takes several)
  uint64_t maps = 0;            // maps of database files made
  uint64_t mapped_fetches = 0;  // pages handed to SQLite from a map instead of read
  uint64_t mapped_wal_reads = 0;  // reads of a WAL copied from its map instead of read
  uint64_t cached_reads = 0;      // database pages copied from the page cache instead of read
  uint64_t cache_fills = 0;       // database pages read and kept in the page cache
  uint64_t cache_misses = 0;      // database pages the page cache did not hold, read from the file
  uint64_t cache_resets = 0;      // times the page cache started again (a checkpoint, a write)
};

// Counts since the process started, over every connection opened through the VFS.
StoreVfsStats StoreVfsCounts();

}  // namespace authd::store
