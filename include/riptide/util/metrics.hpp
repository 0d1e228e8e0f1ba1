#pragma once
// Counters in a shared-memory file that another process can read while the node runs.
//
// Contract
//   - `metrics_registry` (the node, at start-up) creates the file, sized for `max_blocks`,
//     and hands out one `metrics_block` per tile, link or core. Adding blocks is start-up
//     only (not thread-safe); the file is removed when the registry is destroyed.
//   - The registry holds an exclusive lock on the file (file_lock.hpp) for its whole life,
//     taken before it writes a byte: a second registry on the same path, in any process,
//     throws util::lock_held_error naming the holder's pid and leaves the file alone.
//   - Each counter has exactly one writer thread (the tile's or core's own). Writers use
//     relaxed atomic load+store (no locked RMW), readers relaxed loads: a reader sees every
//     counter monotone but not a consistent cut across counters, which is fine for rates.
//   - `metrics_reader` (`riptide monitor`, the HTTP exporter) maps the file read-only and
//     validates the header; a bad file is a clear exception at open, never a crash later.
//
// File layout (little-endian, every block 64-byte aligned):
//
//   offset 0   header (64 B)
//     u64 magic "RTMETRC1" | u32 version | u32 block_bytes | u32 max_blocks
//     u32 block_count (release-stored after a block is complete) | u32 pid | u32 pad
//     u64 start_unix_ns | u64 heartbeat_unix_ns (node liveness) | 16 B reserved
//   offset 64  block[0], block[1], ... block[max_blocks-1]   (block_bytes each)
//
//   block (max_counters = 64: block_bytes = 64 + 64 × 32 + 64 × 8 = 2624):
//     u32 kind (1 tile, 2 link, 3 core) | u32 counter_count
//     char name[56]                              (NUL-terminated)
//     char counter_name[max_counters][32]        (NUL-terminated)
//     u64  value[max_counters]                   (atomic)
//
//   A reader accepts only its own version and block_bytes, so a change of max_counters
//   bumps the version (3 since max_counters went from 48 to 64; 2 was 24 to 48).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <riptide/util/file_lock.hpp>

namespace riptide::util {

constexpr std::size_t metrics_max_counters = 64;
constexpr std::size_t metrics_name_bytes = 56;
constexpr std::size_t metrics_counter_name_bytes = 32;

enum class metrics_kind : std::uint32_t { tile = 1, link = 2, core = 3 };

struct metrics_file_block {
  std::uint32_t kind;
  std::uint32_t counter_count;
  char name[metrics_name_bytes];
  char counter_name[metrics_max_counters][metrics_counter_name_bytes];
  std::atomic<std::uint64_t> value[metrics_max_counters];
};
static_assert(sizeof(metrics_file_block) == 2624, "update the block layout above");

struct metrics_file_header {
  std::atomic<std::uint64_t> magic;  // release-stored last: a reader that sees it sees the rest
  std::uint32_t version;
  std::uint32_t block_bytes;
  std::uint32_t max_blocks;
  std::atomic<std::uint32_t> block_count;
  std::uint32_t pid;
  std::uint32_t pad;
  std::uint64_t start_unix_ns;
  std::atomic<std::uint64_t> heartbeat_unix_ns;
  std::uint8_t reserved[16];
};
static_assert(sizeof(metrics_file_header) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Handle to one block's counters; cheap to copy. Default-constructed handles point at a
// private scratch block so code can count unconditionally (e.g. in unit tests).
class metrics_block {
 public:
  metrics_block() noexcept;
  explicit metrics_block(metrics_file_block* block) noexcept : block_(block) {}

  void add(std::size_t counter, std::uint64_t n) noexcept {
    auto& v = block_->value[counter];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::size_t counter, std::uint64_t n) noexcept {
    block_->value[counter].store(n, std::memory_order_relaxed);
  }
  std::uint64_t get(std::size_t counter) const noexcept {
    return block_->value[counter].load(std::memory_order_relaxed);
  }
  std::string_view name() const noexcept { return block_->name; }

 private:
  metrics_file_block* block_;
};

class metrics_registry {
 public:
  // Locks, then creates (truncating) the file at `path`; throws lock_held_error if another
  // registry holds it, std::runtime_error naming the path on other failures.
  metrics_registry(const std::filesystem::path& path, std::uint32_t max_blocks);
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  // Throws std::length_error when the file is full or a name/count is too long.
  metrics_block add(metrics_kind kind, std::string_view name,
                    std::span<const std::string_view> counter_names);
  metrics_block add(metrics_kind kind, std::string_view name,
                    std::initializer_list<std::string_view> counter_names) {
    return add(kind, name, std::span<const std::string_view>(counter_names.begin(),
                                                             counter_names.size()));
  }
  void heartbeat(std::uint64_t unix_ns) noexcept;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  std::size_t bytes_;
  std::uint8_t* base_;
  file_lock lock_;  // released after the destructor's body has removed the file
};

struct metrics_snapshot_block {
  metrics_kind kind;
  std::string name;
  std::vector<std::string> counter_names;
  std::vector<std::uint64_t> values;
};

struct metrics_snapshot {
  std::uint32_t pid = 0;
  std::uint64_t start_unix_ns = 0;
  std::uint64_t heartbeat_unix_ns = 0;
  std::vector<metrics_snapshot_block> blocks;
};

class metrics_reader {
 public:
  // Throws std::runtime_error naming the path if it is missing or not a metrics file.
  explicit metrics_reader(const std::filesystem::path& path);
  ~metrics_reader();
  metrics_reader(const metrics_reader&) = delete;
  metrics_reader& operator=(const metrics_reader&) = delete;

  metrics_snapshot snapshot() const;

 private:
  std::size_t bytes_;
  const std::uint8_t* base_;
};

std::uint64_t unix_time_ns() noexcept;
std::uint64_t monotonic_ns() noexcept;

}  // namespace riptide::util
