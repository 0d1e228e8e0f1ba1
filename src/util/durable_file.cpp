#include <riptide/util/durable_file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace riptide::util {

namespace {

[[noreturn]] void fail_errno(const std::filesystem::path& path, const char* what, int err) {
  throw std::runtime_error(path.string() + ": " + what + ": " + std::strerror(err));
}

std::atomic<std::uint64_t> temporaries{0};

}  // namespace

void replace_file_durably(const std::filesystem::path& path, std::span<const std::uint8_t> data, mode_t mode) {
  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" +
          std::to_string(temporaries.fetch_add(1, std::memory_order_relaxed));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && (errno != EEXIST || attempt == 16)) fail_errno(tmp, "cannot create temporary file", errno);
  }
  const auto abandon = [&](const char* what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail_errno(tmp, what, err);
  };
  if (::fchmod(fd, mode) != 0) abandon("fchmod failed", errno);
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write failed", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("fsync failed", errno);
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon("close failed", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("rename over the target failed", errno);
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail_errno(dir, "cannot open the directory to sync it", errno);
  const int synced = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (synced != 0) fail_errno(dir, "fsync of the directory failed", err);
}

}  // namespace riptide::util
