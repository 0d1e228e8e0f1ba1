#include <riptide/util/metrics.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace riptide::util {

namespace {

constexpr std::uint64_t metrics_magic = 0x31435254454d5452ULL;  // "RTMETRC1" little-endian
constexpr std::uint32_t metrics_version = 3;  // 3: 64 counters per block (2: 48, 1: 24)
constexpr std::size_t block_bytes = (sizeof(metrics_file_block) + 63) / 64 * 64;

std::string errno_text(const std::filesystem::path& path, const char* what) {
  return path.string() + ": " + what + ": " + std::strerror(errno);
}

void copy_name(char* dst, std::size_t cap, std::string_view src) {
  if (src.size() >= cap) throw std::length_error("metrics name too long: " + std::string(src));
  std::memcpy(dst, src.data(), src.size());
  dst[src.size()] = '\0';
}

std::string bounded(const char* s, std::size_t cap) { return std::string(s, ::strnlen(s, cap)); }

metrics_file_block scratch_block;  // target of default-constructed handles

}  // namespace

metrics_block::metrics_block() noexcept : block_(&scratch_block) {}

std::uint64_t unix_time_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

metrics_registry::metrics_registry(const std::filesystem::path& path, std::uint32_t max_blocks)
    : path_(path), bytes_(sizeof(metrics_file_header) + block_bytes * max_blocks), base_(nullptr) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  // Locked before anything is written: a second process with the same metrics path stops
  // here and leaves the running node's counters and file alone.
  lock_ = file_lock::acquire(path, "metrics file", [](int fd) -> std::uint32_t {
    metrics_file_header h{};
    if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return 0;
    return h.magic.load(std::memory_order_relaxed) == metrics_magic ? h.pid : 0;
  });
  const int fd = lock_.fd();
  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes_)) != 0)
    throw std::runtime_error(errno_text(path, "cannot size metrics file"));
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw std::runtime_error(errno_text(path, "cannot map metrics file"));
  base_ = static_cast<std::uint8_t*>(p);
  auto* h = new (base_) metrics_file_header{};
  h->version = metrics_version;
  h->block_bytes = static_cast<std::uint32_t>(block_bytes);
  h->max_blocks = max_blocks;
  h->pid = static_cast<std::uint32_t>(::getpid());
  h->start_unix_ns = unix_time_ns();
  h->heartbeat_unix_ns.store(h->start_unix_ns, std::memory_order_relaxed);
  h->magic.store(metrics_magic, std::memory_order_release);
}

metrics_registry::~metrics_registry() {
  if (base_ != nullptr) {
    ::munmap(base_, bytes_);
    // Removed while still locked (the lock is released after this body), so no other
    // process can own the file at this path yet.
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

metrics_block metrics_registry::add(metrics_kind kind, std::string_view name,
                                    std::span<const std::string_view> counter_names) {
  auto* h = reinterpret_cast<metrics_file_header*>(base_);
  const std::uint32_t index = h->block_count.load(std::memory_order_relaxed);
  if (index >= h->max_blocks)
    throw std::length_error("metrics file full (" + std::to_string(h->max_blocks) + " blocks)");
  if (counter_names.size() > metrics_max_counters)
    throw std::length_error("too many counters for metrics block " + std::string(name));
  auto* b = new (base_ + sizeof(metrics_file_header) + block_bytes * index) metrics_file_block{};
  b->kind = static_cast<std::uint32_t>(kind);
  b->counter_count = static_cast<std::uint32_t>(counter_names.size());
  copy_name(b->name, sizeof b->name, name);
  for (std::size_t i = 0; i < counter_names.size(); ++i)
    copy_name(b->counter_name[i], sizeof b->counter_name[i], counter_names[i]);
  h->block_count.store(index + 1, std::memory_order_release);
  return metrics_block(b);
}

void metrics_registry::heartbeat(std::uint64_t unix_ns) noexcept {
  reinterpret_cast<metrics_file_header*>(base_)->heartbeat_unix_ns.store(
      unix_ns, std::memory_order_relaxed);
}

metrics_reader::metrics_reader(const std::filesystem::path& path) : bytes_(0), base_(nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(errno_text(path, "cannot open metrics file"));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(metrics_file_header)) {
    ::close(fd);
    throw std::runtime_error(path.string() + ": not a riptide metrics file (too small)");
  }
  bytes_ = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, bytes_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw std::runtime_error(errno_text(path, "cannot map metrics file"));
  base_ = static_cast<const std::uint8_t*>(p);
  const auto* h = reinterpret_cast<const metrics_file_header*>(base_);
  if (h->magic.load(std::memory_order_acquire) != metrics_magic || h->version != metrics_version || h->block_bytes != block_bytes ||
      sizeof(metrics_file_header) + std::size_t{h->block_bytes} * h->max_blocks > bytes_) {
    ::munmap(const_cast<std::uint8_t*>(base_), bytes_);
    base_ = nullptr;
    throw std::runtime_error(path.string() + ": not a riptide metrics file (bad header)");
  }
}

metrics_reader::~metrics_reader() {
  if (base_ != nullptr) ::munmap(const_cast<std::uint8_t*>(base_), bytes_);
}

metrics_snapshot metrics_reader::snapshot() const {
  const auto* h = reinterpret_cast<const metrics_file_header*>(base_);
  metrics_snapshot s;
  s.pid = h->pid;
  s.start_unix_ns = h->start_unix_ns;
  s.heartbeat_unix_ns = h->heartbeat_unix_ns.load(std::memory_order_relaxed);
  const std::uint32_t n = std::min(h->block_count.load(std::memory_order_acquire), h->max_blocks);
  s.blocks.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto* b = reinterpret_cast<const metrics_file_block*>(
        base_ + sizeof(metrics_file_header) + std::size_t{h->block_bytes} * i);
    metrics_snapshot_block out;
    out.kind = static_cast<metrics_kind>(b->kind);
    out.name = bounded(b->name, sizeof b->name);
    const std::size_t count = std::min<std::size_t>(b->counter_count, metrics_max_counters);
    for (std::size_t c = 0; c < count; ++c) {
      out.counter_names.push_back(bounded(b->counter_name[c], sizeof b->counter_name[c]));
      out.values.push_back(b->value[c].load(std::memory_order_relaxed));
    }
    s.blocks.push_back(std::move(out));
  }
  return s;
}

}  // namespace riptide::util
