#pragma once
// Exclusive ownership of a file among processes, so that two processes never write one
// node's state (its ledger, its metrics file) at once.
//
// Contract
//   - `file_lock::acquire(path, what)` opens `path` (creating it, mode 0644, if missing) and
//     takes flock(LOCK_EX | LOCK_NB) on it. It never waits: if another process holds the
//     lock it throws lock_held_error naming the path and the holder's pid, and has changed
//     nothing (it may only have created the empty file). Other failures (cannot create, a
//     read-only file system) throw std::runtime_error naming the path.
//   - The lock lives as long as the returned object (move-only); the destructor closes the
//     descriptor, which releases it. It is also released if the process dies, by any signal,
//     so a crashed node never leaves a stale lock behind.
//   - A holder that deletes the file while another process is between open() and flock()
//     cannot make both think they own it: after locking, the descriptor's inode is compared
//     with the path's and the whole step is retried if they differ.
//   - Who holds a lock is read from the file, by the caller's `holder_pid` (the metrics file
//     keeps its writer's pid in its header) or, by default, as the decimal text that
//     `write_pid()` puts there. 0 means "not known" (the holder has not written it yet).
//   - Start-up only: not for hot paths; not thread-safe on one object.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace riptide::util {

class lock_held_error : public std::runtime_error {
 public:
  lock_held_error(const std::filesystem::path& path, std::string_view what, std::uint32_t pid);
  [[nodiscard]] std::uint32_t holder_pid() const noexcept { return pid_; }

 private:
  std::uint32_t pid_;
};

// Reads the holder's pid from an open, locked-by-someone-else file; 0 if unknown.
using holder_pid_reader = std::function<std::uint32_t(int fd)>;
// The default reader: the file's first bytes as decimal text.
std::uint32_t read_pid_text(int fd) noexcept;

class file_lock {
 public:
  // `what` names the resource in messages, e.g. "ledger" or "metrics file".
  static file_lock acquire(const std::filesystem::path& path, std::string_view what,
                           const holder_pid_reader& holder_pid = read_pid_text);
  // Throws lock_held_error (as acquire would) if another process holds `path`'s lock;
  // returns normally, taking and dropping the lock, if nobody does or the file is missing.
  // For tools that must refuse to change something a live process owns.
  static void check_free(const std::filesystem::path& path, std::string_view what,
                         const holder_pid_reader& holder_pid = read_pid_text);

  file_lock() = default;
  file_lock(file_lock&& other) noexcept;
  file_lock& operator=(file_lock&& other) noexcept;
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  ~file_lock();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] bool held() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // Replaces the file's content with this process's pid as decimal text (and a newline).
  void write_pid() const;

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace riptide::util
