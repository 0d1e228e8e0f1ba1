#include <riptide/util/file_lock.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace riptide::util {

namespace {

std::string errno_text(const std::filesystem::path& path, std::string_view what, std::string_view step) {
  return path.string() + ": " + std::string(what) + ": " + std::string(step) + ": " + std::strerror(errno);
}

std::string held_message(const std::filesystem::path& path, std::string_view what, std::uint32_t pid) {
  return path.string() + ": the " + std::string(what) + " is in use by another process" +
         (pid != 0 ? " (pid " + std::to_string(pid) + ")" : std::string(" (pid not known yet)")) +
         "; stop it first, or use another directory or name";
}

// Opens and locks; -1 with errno EWOULDBLOCK if another process holds the lock (then *busy_fd
// is the opened descriptor, for reading the holder's pid; the caller closes it).
int open_locked(const std::filesystem::path& path, std::string_view what, int* busy_fd) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error(errno_text(path, what, "cannot open"));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        *busy_fd = fd;
        errno = EWOULDBLOCK;
        return -1;
      }
      const auto msg = errno_text(path, what, "cannot lock");
      ::close(fd);
      throw std::runtime_error(msg);
    }
    // The previous holder may have deleted the file after our open: then we locked an
    // orphaned inode. Try again with whatever the path names now.
    struct stat by_fd {}, by_path {};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
        by_fd.st_dev == by_path.st_dev)
      return fd;
    ::close(fd);
  }
  throw std::runtime_error(path.string() + ": " + std::string(what) + ": the file keeps being replaced");
}

}  // namespace

lock_held_error::lock_held_error(const std::filesystem::path& path, std::string_view what, std::uint32_t pid)
    : std::runtime_error(held_message(path, what, pid)), pid_(pid) {}

std::uint32_t read_pid_text(int fd) noexcept {
  char buf[24] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  std::uint64_t pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid = pid * 10 + static_cast<std::uint64_t>(buf[i] - '0');
  return pid <= UINT32_MAX ? static_cast<std::uint32_t>(pid) : 0;
}

file_lock file_lock::acquire(const std::filesystem::path& path, std::string_view what,
                             const holder_pid_reader& holder_pid) {
  int busy = -1;
  const int fd = open_locked(path, what, &busy);
  if (fd < 0) {
    const std::uint32_t pid = holder_pid ? holder_pid(busy) : 0;
    ::close(busy);
    throw lock_held_error(path, what, pid);
  }
  file_lock l;
  l.fd_ = fd;
  l.path_ = path;
  return l;
}

void file_lock::check_free(const std::filesystem::path& path, std::string_view what,
                           const holder_pid_reader& holder_pid) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // no file: nobody can hold it
  const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  const std::uint32_t pid = busy && holder_pid ? holder_pid(fd) : 0;
  ::close(fd);
  if (busy) throw lock_held_error(path, what, pid);
}

file_lock::file_lock(file_lock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

file_lock::~file_lock() {
  if (fd_ >= 0) ::close(fd_);
}

void file_lock::write_pid() const {
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error(errno_text(path_, "lock", "cannot write the pid"));
}

}  // namespace riptide::util
