#include "authd/store/wal_write_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace authd::store {
namespace {

// Frames gathered past this are written at once (a commit of one batch is far smaller).
constexpr size_t kMaxPending = size_t{1} << 20;
// The default VFS writes at most 128 KiB - 1 per call (its write masks the length to 17 bits and
// reports anything short as a full disk), so a longer run goes in pieces of this size.
constexpr size_t kMaxWrite = size_t{124} << 10;

std::atomic<uint64_t> g_writes{0};
std::atomic<uint64_t> g_flushes{0};

sqlite3_vfs* g_real = nullptr;  // the default VFS, which does the work
sqlite3_vfs g_vfs{};

// The bytes written to a WAL file and not yet passed on: one contiguous run from `start`.
struct Pending {
  sqlite3_int64 start = 0;
  std::vector<unsigned char> data;
};

// A WAL file opened through this VFS. SQLite sees `base`; the default VFS's own file follows it in
// the same allocation.
struct BufferedFile {
  sqlite3_file base;
  sqlite3_file* real;
  Pending* pending;
};

constexpr size_t kRealOffset = (sizeof(BufferedFile) + 7) & ~size_t{7};

BufferedFile* Self(sqlite3_file* f) { return reinterpret_cast<BufferedFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Self(f)->real; }

int WriteThrough(sqlite3_file* f, const unsigned char* bytes, size_t n, sqlite3_int64 off) {
  sqlite3_file* real = Real(f);
  for (size_t done = 0; done < n;) {
    const size_t piece = std::min(n - done, kMaxWrite);
    g_flushes.fetch_add(1, std::memory_order_relaxed);
    const int rc = real->pMethods->xWrite(real, bytes + done, static_cast<int>(piece),
                                          off + static_cast<sqlite3_int64>(done));
    if (rc != SQLITE_OK) return rc;
    done += piece;
  }
  return SQLITE_OK;
}

int Flush(sqlite3_file* f) {
  Pending& p = *Self(f)->pending;
  if (p.data.empty()) return SQLITE_OK;
  const int rc = WriteThrough(f, p.data.data(), p.data.size(), p.start);
  // Written or not, the run is done with: a failed write fails SQLite's commit, which then
  // writes its frames again from where the WAL last ended.
  p.data.clear();
  return rc;
}

int Close(sqlite3_file* f) {
  const int flushed = Flush(f);
  sqlite3_file* real = Real(f);
  const int closed = real->pMethods->xClose(real);
  delete Self(f)->pending;
  Self(f)->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
}

int Write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  g_writes.fetch_add(1, std::memory_order_relaxed);
  Pending& p = *Self(f)->pending;
  const auto n = static_cast<size_t>(amt);
  const sqlite3_int64 end = p.start + static_cast<sqlite3_int64>(p.data.size());
  const auto* bytes = static_cast<const unsigned char*>(buf);
  if (!p.data.empty() && off >= p.start && off + amt <= end) {
    // A frame of this transaction written again (SQLite then rewrites the checksums after it).
    std::memcpy(p.data.data() + (off - p.start), bytes, n);
    return SQLITE_OK;
  }
  if ((p.data.empty() || off == end) && p.data.size() + n <= kMaxPending) {
    if (p.data.empty()) p.start = off;
    p.data.insert(p.data.end(), bytes, bytes + n);
    return SQLITE_OK;
  }
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  if (n > kMaxPending) return WriteThrough(f, bytes, n, off);
  p.start = off;
  p.data.assign(bytes, bytes + n);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xTruncate(Real(f), size);
}

int Sync(sqlite3_file* f, int flags) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xSync(Real(f), flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFileSize(Real(f), size);
}

int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); }

int FileControl(sqlite3_file* f, int op, void* arg) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}

int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }

// Version 1: SQLite maps and shares memory through the database file, never through its WAL.
const sqlite3_io_methods kMethods = {
    1,           Close,       Read,       Write,    Truncate,          Sync,
    FileSize,    Lock,        Unlock,     CheckReservedLock, FileControl, SectorSize,
    DeviceCharacteristics, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  // Everything but a WAL is the default VFS's file, in the memory SQLite gave for this one.
  if ((flags & SQLITE_OPEN_WAL) == 0) return g_real->xOpen(g_real, name, file, flags, out_flags);
  BufferedFile* self = Self(file);
  self->base.pMethods = nullptr;
  self->pending = nullptr;
  self->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  self->real->pMethods = nullptr;
  int rc = g_real->xOpen(g_real, name, self->real, flags, out_flags);
  if (rc == SQLITE_OK) {
    self->pending = new (std::nothrow) Pending;
    if (!self->pending) rc = SQLITE_NOMEM;
  }
  if (rc != SQLITE_OK) {
    if (self->real->pMethods) self->real->pMethods->xClose(self->real);
    return rc;
  }
  self->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the default one's, called as itself.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real->xDelete(g_real, name, sync_dir); }
int Access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*DlSym(sqlite3_vfs*, void* lib, const char* sym))(void) { return g_real->xDlSym(g_real, lib, sym); }
void DlClose(sqlite3_vfs*, void* lib) { g_real->xDlClose(g_real, lib); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

}  // namespace

const char* WalWriteBufferVfs() {
  static std::once_flag once;
  static const char* name = nullptr;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (!g_real) return;
    // Version 2 at most: the system-call hooks of version 3 stay the default VFS's.
    g_vfs = sqlite3_vfs{.iVersion = std::min(g_real->iVersion, 2),
                        .szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile,
                        .mxPathname = g_real->mxPathname,
                        .pNext = nullptr,
                        .zName = "authd-wal-write-buffer",
                        .pAppData = nullptr,
                        .xOpen = Open,
                        .xDelete = Delete,
                        .xAccess = Access,
                        .xFullPathname = FullPathname,
                        .xDlOpen = DlOpen,
                        .xDlError = DlError,
                        .xDlSym = DlSym,
                        .xDlClose = DlClose,
                        .xRandomness = Randomness,
                        .xSleep = Sleep,
                        .xCurrentTime = CurrentTime,
                        .xGetLastError = GetLastError,
                        .xCurrentTimeInt64 = g_real->iVersion >= 2 ? CurrentTimeInt64 : nullptr,
                        .xSetSystemCall = nullptr,
                        .xGetSystemCall = nullptr,
                        .xNextSystemCall = nullptr};
    if (sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK) name = g_vfs.zName;
  });
  return name;  // null (the default VFS) if it could not be registered
}

WalWriteBufferStats WalWriteBufferCounts() {
  return {g_writes.load(std::memory_order_relaxed), g_flushes.load(std::memory_order_relaxed)};
}

}  // namespace authd::store
