#include "authd/store/store_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
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
std::atomic<uint64_t> g_maps_made{0};
std::atomic<uint64_t> g_mapped_fetches{0};
std::atomic<uint64_t> g_mapped_wal_reads{0};
std::atomic<uint64_t> g_cached_reads{0};
std::atomic<uint64_t> g_cache_fills{0};
std::atomic<uint64_t> g_cache_misses{0};
std::atomic<uint64_t> g_cache_resets{0};

sqlite3_vfs* g_real = nullptr;  // the default VFS, which does the work
sqlite3_vfs g_vfs{};

// The bytes written to a WAL file and not yet passed on: one contiguous run from `start`.
struct Pending {
  sqlite3_int64 start = 0;
  std::vector<unsigned char> data;
};

// The start of every file this VFS opens itself: SQLite sees `base`; the default VFS's own file
// follows the whole struct in the same allocation.
struct Wrapped {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<Wrapped*>(f)->real; }

template <typename File>
constexpr size_t RealOffset() {
  return (sizeof(File) + 7) & ~size_t{7};
}

// Opens the default VFS's file behind `file`, a File (which starts with a Wrapped). On failure
// nothing is left open and SQLite sees no methods.
template <typename File>
int OpenReal(sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* w = reinterpret_cast<Wrapped*>(file);
  w->base.pMethods = nullptr;
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + RealOffset<File>());
  w->real->pMethods = nullptr;
  const int rc = g_real->xOpen(g_real, name, w->real, flags, out_flags);
  if (rc != SQLITE_OK && w->real->pMethods) w->real->pMethods->xClose(w->real);
  return rc;
}

// Forwarded alike for every kind of file.
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); }
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }

// --- Lasting maps (store_vfs.h) -----------------------------------------------------------------

// What the database file holds, as far as a reader can tell from the wal-index: the WAL's salts
// (new at each restart of the WAL) and how many of its frames checkpoints have copied into the
// file (nBackfill). Only a checkpoint, of any process, writes the database file in WAL mode, and
// it raises nBackfill once it has; so pages read from the file while this stays the same are the
// file's pages still.
struct Epoch {
  uint32_t salt0 = 0, salt1 = 0, backfill = 0;
  bool operator==(const Epoch&) const = default;
};

// The wal-index header (SQLite's file format, "walformat"): two copies of a 48-byte header, whose
// salts are at byte 32, then the checkpoint information, which starts with nBackfill.
Epoch ReadEpoch(const volatile void* shm) {
  const auto* words = static_cast<const volatile uint32_t*>(shm);
  Epoch e;
  e.salt0 = __atomic_load_n(&words[8], __ATOMIC_ACQUIRE);
  e.salt1 = __atomic_load_n(&words[9], __ATOMIC_ACQUIRE);
  e.backfill = __atomic_load_n(&words[24], __ATOMIC_ACQUIRE);
  return e;
}

// Pages of the database file read with pread (past the map, or by a connection without one),
// kept for the readers that come after: SQLite drops a connection's own page cache at every read
// transaction that begins after a write, so without this each transaction read the upper levels
// of its B-trees again. Everything goes at the first read that finds another epoch.
class PageCache {
 public:
  static constexpr size_t kPage = 4096;
  static constexpr uint32_t kSlots = 8192;  // 32 MiB

  bool Get(sqlite3_int64 off, void* out, const Epoch& now) {
    std::lock_guard lock(mu_);
    if (!known_ || !(epoch_ == now)) {
      Drop();
      Adopt(now);
      return false;
    }
    auto it = index_.find(off);
    if (it == index_.end()) return false;
    std::memcpy(out, pages_.get() + size_t{it->second} * kPage, kPage);
    used_bit_[it->second] = 1;
    g_cached_reads.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // `read_in`: the epoch read before the page was.
  void Put(sqlite3_int64 off, const void* page, const Epoch& read_in) {
    std::lock_guard lock(mu_);
    if (!known_) Adopt(read_in);
    if (!(epoch_ == read_in) || index_.count(off)) return;  // the file may have changed since
    if (!pages_) {
      // Left uninitialised: memory becomes resident only as slots fill.
      pages_.reset(new (std::nothrow) unsigned char[size_t{kSlots} * kPage]);
      if (!pages_) return;
      owner_.resize(kSlots);
      used_bit_.resize(kSlots);
    }
    uint32_t slot;
    if (filled_ < kSlots) {
      slot = filled_++;
    } else {  // the clock: the first slot not used since the hand last passed
      while (used_bit_[hand_]) {
        used_bit_[hand_] = 0;
        hand_ = (hand_ + 1) % kSlots;
      }
      slot = hand_;
      hand_ = (hand_ + 1) % kSlots;
      index_.erase(owner_[slot]);
    }
    std::memcpy(pages_.get() + size_t{slot} * kPage, page, kPage);
    g_cache_fills.fetch_add(1, std::memory_order_relaxed);
    owner_[slot] = off;
    used_bit_[slot] = 0;
    index_.emplace(off, slot);
  }
  // This process wrote or truncated the file: drop everything.
  void Reset() {
    std::lock_guard lock(mu_);
    Drop();
  }

 private:
  void Adopt(const Epoch& e) {
    epoch_ = e;
    known_ = true;
  }
  void Drop() {
    if (filled_ > 0) g_cache_resets.fetch_add(1, std::memory_order_relaxed);
    index_.clear();
    filled_ = 0;
    hand_ = 0;
    known_ = false;
  }

  std::mutex mu_;
  Epoch epoch_;
  bool known_ = false;
  std::unordered_map<sqlite3_int64, uint32_t> index_;
  std::unique_ptr<unsigned char[]> pages_;
  std::vector<sqlite3_int64> owner_;
  std::vector<uint8_t> used_bit_;
  uint32_t filled_ = 0, hand_ = 0;
};

// One read-only shared map of a file, shared by every file of the process open on its inode.
struct Mapping {
  dev_t dev = 0;
  ino_t ino = 0;
  unsigned char* base = nullptr;
  size_t length = 0;
  int users = 0;                          // guarded by g_maps_mu
  std::atomic<uint64_t> truncations{0};  // by this process, through any file on the inode
  PageCache pages;                        // database files only
};

std::mutex g_maps_mu;
std::vector<Mapping*> g_maps;  // guarded by g_maps_mu

Mapping* AcquireMapping(int fd, size_t length) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return nullptr;
  std::lock_guard lock(g_maps_mu);
  for (Mapping* m : g_maps) {
    if (m->dev == st.st_dev && m->ino == st.st_ino) {
      ++m->users;
      return m;
    }
  }
  void* base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return nullptr;
  auto* m = new (std::nothrow) Mapping;
  if (!m) {
    ::munmap(base, length);
    return nullptr;
  }
  m->dev = st.st_dev;
  m->ino = st.st_ino;
  m->base = static_cast<unsigned char*>(base);
  m->length = length;
  m->users = 1;
  g_maps.push_back(m);
  g_maps_made.fetch_add(1, std::memory_order_relaxed);
  return m;
}

void ReleaseMapping(Mapping* m) {
  std::lock_guard lock(g_maps_mu);
  if (--m->users > 0) return;
  std::erase(g_maps, m);
  ::munmap(m->base, m->length);
  delete m;
}

// What one open file sees through its inode's map: the bytes below the file's size as last read.
// Its own descriptor, read-only on the same path, makes the map and reads the size (the default
// VFS's descriptor is not reachable); without one the file is read as without a map.
struct FileView {
  int fd;
  size_t reserve;       // the length of the map, if this file makes it
  Mapping* map;         // null until first needed
  sqlite3_int64 valid;  // bytes that may be handed out
  uint64_t truncations; // the map's count when `valid` was read
  bool stale;           // the size is read again before the next use
  bool failed;          // no map could be made

  void Open(sqlite3_filename name, size_t length) {
    fd = name ? ::open(name, O_RDONLY | O_CLOEXEC) : -1;
    reserve = length;
    map = nullptr;
    valid = 0;
    truncations = 0;
    stale = true;
    failed = fd < 0;
  }
  void Close() {
    if (map) ReleaseMapping(map);
    map = nullptr;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  // The inode's map (and its page cache), made if need be; null if none can be.
  Mapping* Acquire() {
    if (!map && !failed) {
      map = AcquireMapping(fd, reserve);
      failed = map == nullptr;
    }
    return map;
  }
  // The file was truncated by this process: every view of it reads its size again.
  void Truncated() {
    if (map) map->truncations.fetch_add(1, std::memory_order_relaxed);
    stale = true;
  }
  // [off, off + n) in the map, or null (read it instead). At most `limit` bytes of the file are
  // handed out; `reread_on_miss`: a range past the size last read reads it again (a file that
  // grows as it is read, the WAL).
  const unsigned char* At(sqlite3_int64 off, sqlite3_int64 n, sqlite3_int64 limit, bool reread_on_miss) {
    if (off < 0 || n <= 0 || !Acquire()) return nullptr;
    const sqlite3_int64 most = std::min(limit, static_cast<sqlite3_int64>(map->length));
    if (off + n > most) return nullptr;
    const uint64_t seen = map->truncations.load(std::memory_order_relaxed);
    if (stale || seen != truncations || (reread_on_miss && off + n > valid)) {
      struct stat st{};
      if (::fstat(fd, &st) != 0) return nullptr;
      valid = std::min<sqlite3_int64>(st.st_size, most);
      truncations = seen;
      stale = false;
    }
    return off + n <= valid ? map->base + off : nullptr;
  }
};

// --- The WAL, its writes gathered (store_vfs.h) ------------------------------------------------

// At most this much of a WAL is mapped (it stays near 1,000 pages between checkpoints).
constexpr sqlite3_int64 kMaxWalMap = sqlite3_int64{64} << 20;

struct BufferedFile {
  Wrapped w;
  Pending* pending;
  FileView view;  // frames are read from it; SQLite reads only frames it knows are in the file
};

BufferedFile* Self(sqlite3_file* f) { return reinterpret_cast<BufferedFile*>(f); }

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
  Self(f)->view.Close();
  delete Self(f)->pending;
  Self(f)->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  if (const unsigned char* bytes = Self(f)->view.At(off, amt, kMaxWalMap, true)) {
    std::memcpy(buf, bytes, static_cast<size_t>(amt));
    g_mapped_wal_reads.fetch_add(1, std::memory_order_relaxed);
    return SQLITE_OK;
  }
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
  Self(f)->view.Truncated();
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

int FileControl(sqlite3_file* f, int op, void* arg) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}

// Version 1: SQLite maps and shares memory through the database file, never through its WAL.
const sqlite3_io_methods kMethods = {
    1,           Close,       Read,       Write,    Truncate,          Sync,
    FileSize,    Lock,        Unlock,     CheckReservedLock, FileControl, SectorSize,
    DeviceCharacteristics, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
};

// --- The database file, its pages handed out from the map (store_vfs.h) ------------------------

constexpr sqlite3_int64 kMaxMap = kStoreVfsMaxMap;

struct MappedFile {
  Wrapped w;
  FileView view;
  sqlite3_int64 limit;        // SQLITE_FCNTL_MMAP_SIZE: 0 hands out nothing
  const volatile void* shm;   // the wal-index's first region, once mapped (WAL mode)
  bool uncached;              // kStoreVfsUncached: reads neither use nor fill the page cache
};

MappedFile* Db(sqlite3_file* f) { return reinterpret_cast<MappedFile*>(f); }

int DbClose(sqlite3_file* f) {
  Db(f)->view.Close();
  return Real(f)->pMethods->xClose(Real(f));
}

// A whole page, read in WAL mode, comes from the inode's page cache when it holds it in the
// current epoch. Safe because a reader reads a page from the database file only when its
// snapshot has no frame of it in the WAL past nBackfill; a checkpoint copies only frames that
// every reader's snapshot holds, so no page a reader reads from the file changes under it, and
// once a checkpoint has changed pages of the file nBackfill (or, with the WAL restarted, the
// salts) differ and the cache starts again.
int DbRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  MappedFile* self = Db(f);
  Mapping* m = nullptr;
  if (self->shm && !self->uncached && amt == static_cast<int>(PageCache::kPage) && off % amt == 0) {
    m = self->view.Acquire();
  }
  if (!m) return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
  const Epoch before = ReadEpoch(self->shm);
  if (m->pages.Get(off, buf, before)) return SQLITE_OK;
  g_cache_misses.fetch_add(1, std::memory_order_relaxed);
  const int rc = Real(f)->pMethods->xRead(Real(f), buf, amt, off);
  if (rc == SQLITE_OK) m->pages.Put(off, buf, before);
  return rc;
}
int DbWrite(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  if (Mapping* m = Db(f)->view.Acquire()) m->pages.Reset();
  return Real(f)->pMethods->xWrite(Real(f), buf, amt, off);
}
int DbTruncate(sqlite3_file* f, sqlite3_int64 size) {
  Db(f)->view.Truncated();
  if (Mapping* m = Db(f)->view.Acquire()) m->pages.Reset();
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int DbSync(sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); }
int DbFileSize(sqlite3_file* f, sqlite3_int64* size) { return Real(f)->pMethods->xFileSize(Real(f), size); }
int DbFileControl(sqlite3_file* f, int op, void* arg) {
  if (op == kStoreVfsUncached) {
    Db(f)->uncached = true;
    return SQLITE_OK;
  }
  if (op == SQLITE_FCNTL_MMAP_SIZE) {
    // The limit is this file's; the default VFS's file never maps (its own limit stays 0).
    MappedFile* self = Db(f);
    auto* value = static_cast<sqlite3_int64*>(arg);
    const sqlite3_int64 wanted = std::min(*value, kMaxMap);
    *value = self->limit;
    if (wanted >= 0) {
      self->limit = wanted;
      self->view.stale = true;
    }
    return SQLITE_OK;
  }
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int DbShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  const int rc = Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
  if (rc == SQLITE_OK && region == 0 && *out) Db(f)->shm = *out;
  return rc;
}
int DbShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void DbShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int DbShmUnmap(sqlite3_file* f, int delete_flag) {
  Db(f)->shm = nullptr;
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}

int DbFetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** out) {
  MappedFile* self = Db(f);
  // The size is read again only when SQLite asked for everything to be unmapped: a page past it
  // (the file grew since) is read, and so is anything past the limit.
  const unsigned char* page = self->limit > 0 ? self->view.At(off, amt, self->limit, false) : nullptr;
  if (page) g_mapped_fetches.fetch_add(1, std::memory_order_relaxed);
  *out = const_cast<unsigned char*>(page);
  return SQLITE_OK;
}

int DbUnfetch(sqlite3_file* f, sqlite3_int64, void* page) {
  // A page handed back needs nothing; "unmap everything" keeps the map and reads the size again.
  if (!page) Db(f)->view.stale = true;
  return SQLITE_OK;
}

const sqlite3_io_methods kDbMethods = {
    3,          DbClose, DbRead,   DbWrite,           DbTruncate,    DbSync,
    DbFileSize, Lock,    Unlock,   CheckReservedLock, DbFileControl, SectorSize,
    DeviceCharacteristics, DbShmMap, DbShmLock, DbShmBarrier, DbShmUnmap, DbFetch, DbUnfetch,
};

int OpenDb(sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  MappedFile* self = Db(file);
  self->view.Open(nullptr, 0);
  self->limit = 0;
  self->shm = nullptr;
  self->uncached = false;
  if (int rc = OpenReal<MappedFile>(name, file, flags, out_flags); rc != SQLITE_OK) return rc;
  // The default VFS's file must offer what this one forwards (version 3: the wal-index and maps).
  if (Real(file)->pMethods->iVersion < 3) {
    Real(file)->pMethods->xClose(Real(file));
    return SQLITE_CANTOPEN;
  }
  self->view.Open(name, static_cast<size_t>(kMaxMap));
  self->w.base.pMethods = &kDbMethods;
  return SQLITE_OK;
}

int OpenWal(sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  BufferedFile* self = Self(file);
  self->pending = nullptr;
  self->view.Open(nullptr, 0);
  if (int rc = OpenReal<BufferedFile>(name, file, flags, out_flags); rc != SQLITE_OK) return rc;
  self->pending = new (std::nothrow) Pending;
  if (!self->pending) {
    Real(file)->pMethods->xClose(Real(file));
    return SQLITE_NOMEM;
  }
  self->view.Open(name, static_cast<size_t>(kMaxWalMap));
  self->w.base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  // The database is mapped and its WAL buffered; anything else is the default VFS's file, in the
  // memory SQLite gave for this one.
  if (flags & SQLITE_OPEN_MAIN_DB) return OpenDb(name, file, flags, out_flags);
  if (flags & SQLITE_OPEN_WAL) return OpenWal(name, file, flags, out_flags);
  return g_real->xOpen(g_real, name, file, flags, out_flags);
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

const char* StoreVfs() {
  static std::once_flag once;
  static const char* name = nullptr;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (!g_real) return;
    // Version 2 at most: the system-call hooks of version 3 stay the default VFS's.
    g_vfs = sqlite3_vfs{.iVersion = std::min(g_real->iVersion, 2),
                        .szOsFile = static_cast<int>(std::max(RealOffset<BufferedFile>(), RealOffset<MappedFile>())) + g_real->szOsFile,
                        .mxPathname = g_real->mxPathname,
                        .pNext = nullptr,
                        .zName = "authd-store",
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

StoreVfsStats StoreVfsCounts() {
  return {g_writes.load(std::memory_order_relaxed), g_flushes.load(std::memory_order_relaxed),
          g_maps_made.load(std::memory_order_relaxed), g_mapped_fetches.load(std::memory_order_relaxed),
          g_mapped_wal_reads.load(std::memory_order_relaxed), g_cached_reads.load(std::memory_order_relaxed),
          g_cache_fills.load(std::memory_order_relaxed), g_cache_misses.load(std::memory_order_relaxed),
          g_cache_resets.load(std::memory_order_relaxed)};
}

}  // namespace authd::store
