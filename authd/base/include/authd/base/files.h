// Durable private files: what authd writes outside the database (keys, backups, restores).
#pragma once

#include <optional>
#include <string>

#include "authd/base/bytes.h"
#include "authd/base/result.h"

namespace authd {

// Writes `content` to `path` with mode 0600: a temporary file beside it, fsync, rename over
// `path`, fsync of the folder (SECURITY.md S04). kInvalidArgument naming the file and the
// system's reason on failure; `path` is then unchanged.
Status WriteFileDurably(const std::string& path, ByteView content);

// The whole file, or nullopt if it cannot be read.
std::optional<std::string> ReadWholeFile(const std::string& path);

}  // namespace authd
