#pragma once
// dedup_cache: the set of the most recent N 64-bit tags (e.g. XXH3 of a transaction's first
// signature), used by the dedup tile to drop transactions it has already seen.
//
// Contract
// - Fixed capacity N chosen at construction; once N tags are remembered, inserting a new tag
//   forgets the oldest one (FIFO by insertion time; a duplicate insert does not refresh a tag).
// - Memory: a ring of N tags (insertion order) plus an open-addressing table of the next power
//   of two >= 2N slots (linear probing, backward-shift deletion, so no tombstones build up however
//   many times the ring wraps). Both are allocated in the constructor; insert/contains never
//   allocate and never fail.
// - Threads: single-threaded by contract (one cache per dedup tile); no internal locking.
// - Every 64-bit value, including 0, is a valid tag. Tags should already be well mixed, but the
//   table index is re-mixed anyway so low-entropy tags do not cluster.
// - The constructor throws std::invalid_argument for capacity 0 or a capacity too large to
//   index (> 2^62); std::bad_alloc if memory is short.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace riptide::crypto {

class dedup_cache {
 public:
  explicit dedup_cache(std::size_t capacity);

  // True if the tag was new (and is now remembered, evicting the oldest tag when full);
  // false if it is already in the cache (nothing changes).
  [[nodiscard]] bool insert(std::uint64_t tag) noexcept;
  [[nodiscard]] bool contains(std::uint64_t tag) const noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return ring_.size(); }

  // Forgets every tag (keeps the memory).
  void clear() noexcept;

 private:
  // Table slots hold tags; 0 marks an empty slot, so tag 0 is tracked by zero_present_.
  static constexpr std::uint64_t empty_slot = 0;

  [[nodiscard]] std::size_t home_slot(std::uint64_t tag) const noexcept;
  // Index of the slot holding tag (non-zero), or table_.size() if absent.
  [[nodiscard]] std::size_t find_slot(std::uint64_t tag) const noexcept;
  void table_insert(std::uint64_t tag) noexcept;
  void table_erase(std::uint64_t tag) noexcept;

  std::vector<std::uint64_t> ring_;   // insertion order; ring_[head_] is the oldest
  std::vector<std::uint64_t> table_;  // power-of-two open-addressing set of non-zero tags
  std::size_t table_mask_ = 0;
  unsigned table_shift_ = 0;          // 64 - log2(table size), for multiplicative hashing
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool zero_present_ = false;
};

}  // namespace riptide::crypto
