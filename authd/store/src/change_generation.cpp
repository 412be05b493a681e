#include "authd/store/change_generation.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace authd::store {
namespace {

constexpr size_t kFileBytes = 4096;
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free, "shared counters need lock-free 64-bit atomics");

std::atomic_ref<uint64_t> At(uint64_t* counters, int i) { return std::atomic_ref<uint64_t>(counters[i]); }

// Raises `counter` to `value` unless it is there already: it never goes down.
void RaiseTo(std::atomic_ref<uint64_t> counter, uint64_t value) {
  uint64_t seen = counter.load();
  while (seen < value && !counter.compare_exchange_weak(seen, value)) {
  }
}

}  // namespace

Result<std::unique_ptr<ChangeGeneration>> ChangeGeneration::Open(const std::string& db_path) {
  const std::string path = db_path + "-gen";
  auto fail = [&](const char* what, int fd) -> Error {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return Err(ErrorCode::kStorageUnavailable, "cannot " + std::string(what) + " " + path + " (" + std::strerror(err) +
                                                   "); it must be a regular file writable like the database");
  };
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail("open", fd);
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail("inspect", fd);
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return fail("use", fd);
  }
  // Made by root (an operator's authctl) beside a database another user owns: hand it to that
  // user, as SQLite does with its -wal and -shm, so that authd can still open it.
  struct stat db{};
  if (::geteuid() == 0 && ::stat(db_path.c_str(), &db) == 0 && (db.st_uid != st.st_uid || db.st_gid != st.st_gid)) {
    if (::fchown(fd, db.st_uid, db.st_gid) != 0) return fail("hand over", fd);
  }
  // Extending a shorter file fills it with zeros; two processes doing so at once agree.
  if (st.st_size < static_cast<off_t>(kFileBytes) && ::ftruncate(fd, kFileBytes) != 0) return fail("extend", fd);
  void* map = ::mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return fail("map", fd);
  return std::unique_ptr<ChangeGeneration>(new ChangeGeneration(fd, map));
}

ChangeGeneration::ChangeGeneration(int fd, void* map) : fd_(fd), counters_(static_cast<uint64_t*>(map)) {}

ChangeGeneration::~ChangeGeneration() {
  ::munmap(counters_, kFileBytes);
  ::close(fd_);
}

uint64_t ChangeGeneration::Stamp() const {
  const uint64_t begun = At(counters_, 0).load();
  const uint64_t done = At(counters_, 1).load();
  return begun == done ? begun + 1 : 0;  // + 1: a fresh file's generation is not 0
}

void ChangeGeneration::WillChange() {
  if (mine_ != 0) return;
  mine_ = At(counters_, 0).fetch_add(1) + 1;
}

void ChangeGeneration::Settled() {
  if (mine_ == 0) return;
  // A writer that settles after the next one has begun (and perhaps settled) must not lower done.
  RaiseTo(At(counters_, 1), mine_);
  mine_ = 0;
}

void ChangeGeneration::Recover() { RaiseTo(At(counters_, 1), At(counters_, 0).load()); }

}  // namespace authd::store
