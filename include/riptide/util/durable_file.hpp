#pragma once
// Durable whole-file replacement: after replace_file_durably() returns, `path` holds `data`
// and survives a crash or power loss; if it throws or the machine dies midway, `path` holds
// what it held before (or nothing, if it did not exist), never a mix.
//
// How: a sibling temporary ("<path>.tmp-<pid>-<n>", created exclusively with `mode`,
// whatever the umask), written whole and fsync'ed, renamed over `path` (atomic on POSIX file
// systems), then the directory fsync'ed so the rename itself is durable. A temporary left by
// a crash is never read; the next replacement does not reuse its name.
//
// Start-up and occasional-write paths only (key files, the tower before a vote): it blocks on
// fsync and throws std::runtime_error naming the path, the step and strerror. Any thread.

#include <cstdint>
#include <filesystem>
#include <span>
#include <sys/types.h>

namespace riptide::util {

void replace_file_durably(const std::filesystem::path& path, std::span<const std::uint8_t> data, mode_t mode = 0644);

}  // namespace riptide::util
