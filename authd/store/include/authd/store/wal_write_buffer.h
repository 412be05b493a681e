// A SQLite VFS that gathers the writes SQLite makes to a write-ahead log into one write.
//
// SQLite writes each WAL frame with two pwrite calls (its 24-byte header, then the page), so a
// commit of n pages costs 2n system calls before its fsync. Through this VFS the frames of a
// commit are kept in memory, in order, and written with one pwrite just before the WAL is
// synced; any other use of the WAL file (a read, its size, a truncation, closing it) writes them
// first, so nothing in SQLite ever sees the file without them. Every other file (the database,
// its -shm) is the default VFS's own, untouched.
//
// Correct only with `PRAGMA synchronous=FULL` (authd's only setting): a commit then syncs the WAL
// before it publishes the new frames in the wal-index, so no other connection or process can
// look for frames that are still in this process's memory. Nothing is acknowledged before that
// sync, so frames lost with the process (SIGKILL) belong to a commit that never returned.
#pragma once

#include <cstdint>

namespace authd::store {

// The VFS's name, registered on first use (not as the default VFS).
const char* WalWriteBufferVfs();

struct WalWriteBufferStats {
  uint64_t writes = 0;   // writes SQLite made to WAL files
  uint64_t flushes = 0;  // writes made to the files in their place (a long run takes several)
};

// Counts since the process started, over every connection opened through the VFS.
WalWriteBufferStats WalWriteBufferCounts();

}  // namespace authd::store
