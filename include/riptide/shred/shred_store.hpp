#pragma once
// Shred store: the recent shreds this node holds, wire bytes exactly as the leader signed
// them, so that it can answer repair requests (shred/repair_service.hpp) for slots it has.
//
// Contract
// - Pure: no threads, no I/O, no clocks. One owner (the tile that runs the FEC resolver and
//   answers repair); not thread-safe. A repair_server reads it through a const reference on
//   the same thread.
// - put() takes a shred the caller has already verified (the fec_resolver accepted or
//   recovered it), data or coding, and copies its bytes (the caller's buffer may be reused as
//   soon as it returns). noexcept, no allocation, O(1) expected (a probe of the shred table
//   and a look at the last slot used), plus a scan of max_slots entries and the evicted
//   slot's shreds when it must make room. Every shred it does not keep is counted by reason.
// - Memory is sized at construction from shred_store_config and never grows:
//     pool         max_shreds × shred_stride_bytes (1232 B: one shred of at most 1228 B),
//                  not pre-touched, so pages are committed as shreds land there;
//     shred table  max(16, 2 × max_shreds rounded up to a power of two) × 4 B, open
//                  addressing on (slot, kind, index) with linear probing;
//     per shred    24 B of metadata; per slot 32 B.
//   Defaults (32768 shreds, 256 slots): 38.5 MiB of pool, 1 MiB of tables. The constructor
//   throws std::invalid_argument on a zero or oversized config (and std::bad_alloc).
// - Spans returned by data() and highest_data() point into the pool: valid until the next
//   put() or set_root() (either may evict the slot). Copy the bytes or use them at once.
// - Lookups are const but count hits and misses (mutable counters).
//
// Eviction
// - Shreds are only ever dropped a whole slot at a time: a slot's highest held data index
//   never goes down while the slot is held, which highest_index answers rely on.
// - set_root(r) forgets every slot below r (counted as forgotten) and refuses shreds of slots
//   below r from then on (refused_below_root).
// - When put() needs a slot entry or a pool entry and none is free, it evicts the held slot
//   with the lowest number other than the shred's own (counted in evicted_slots and
//   evicted_shreds). If the shred's own slot already holds every pool entry, the shred is
//   refused (refused_full) rather than emptying its own slot.

#include <riptide/shred/shred.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace riptide::shred {

// A pool entry holds one shred of up to max_shred_bytes (1228): the 1232-byte UDP payload
// bound, which keeps entries 16-byte aligned.
constexpr std::size_t shred_stride_bytes = 1232;
static_assert(max_shred_bytes <= shred_stride_bytes && shred_stride_bytes % 16 == 0);

struct shred_store_config {
  std::size_t max_shreds = 32768;  // wire copies held (each in a 1232-byte-or-smaller slot of a pool)
  std::size_t max_slots = 256;     // distinct slots tracked
};

struct shred_store_counters {
  std::uint64_t puts = 0;                // shreds copied in
  std::uint64_t duplicates = 0;          // put() of a (slot, kind, index) already held
  std::uint64_t refused_below_root = 0;  // put() of a slot below the root
  std::uint64_t refused_full = 0;        // put() when the shred's own slot fills the pool
  std::uint64_t refused_empty = 0;       // put() of an empty view
  std::uint64_t evicted_shreds = 0;      // shreds dropped to make room (with their slots)
  std::uint64_t evicted_slots = 0;       // slots dropped to make room
  std::uint64_t forgotten_shreds = 0;    // shreds dropped by set_root()
  std::uint64_t forgotten_slots = 0;     // slots dropped by set_root()
  std::uint64_t lookups_hit = 0;         // data(), coding(), highest_data(), parent_of() found
  std::uint64_t lookups_missed = 0;      // ... and did not
};

class shred_store {
 public:
  // Throws std::invalid_argument if max_shreds is 0 or > 2^24, or max_slots is 0 or > 2^20.
  explicit shred_store(const shred_store_config& config);
  ~shred_store();
  shred_store(const shred_store&) = delete;
  shred_store& operator=(const shred_store&) = delete;

  [[nodiscard]] const shred_store_config& config() const noexcept { return config_; }

  // Copies a shred the caller already verified (resolver accepted or recovered it). Data and
  // coding both; false if that (slot, kind, index) is already held (no copy), if the slot is
  // below the root, or the view is empty (each counted). When full, the oldest slot's shreds
  // are evicted (counted) — never the shred's own slot's: if its own slot holds the whole
  // pool, the shred is refused (refused_full).
  bool put(const shred_view& v) noexcept;

  // Wire bytes of data shred (slot, index); empty span if not held.
  [[nodiscard]] std::span<const std::uint8_t> data(std::uint64_t slot,
                                                   std::uint32_t index) const noexcept;
  // Wire bytes of coding shred (slot, index); empty span if not held.
  [[nodiscard]] std::span<const std::uint8_t> coding(std::uint64_t slot,
                                                     std::uint32_t index) const noexcept;
  // The held data shred of `slot` with the highest index >= at_or_above; empty if none.
  [[nodiscard]] std::span<const std::uint8_t> highest_data(
      std::uint64_t slot, std::uint32_t at_or_above) const noexcept;
  // Parent of a slot whose data shreds are held (slot - parent_offset), else nullopt.
  [[nodiscard]] std::optional<std::uint64_t> parent_of(std::uint64_t slot) const noexcept;

  // Forgets slots below root and refuses them from now on. A lower root is ignored.
  void set_root(std::uint64_t root) noexcept;
  [[nodiscard]] std::uint64_t root() const noexcept { return root_; }

  // Calls f(std::span<const std::uint8_t>) for every shred held, slot by slot in no
  // particular order (audits and tests; O(max_slots + shreds)). f must not call put() or
  // set_root().
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t s = 0; s < config_.max_slots; ++s) {
      if (!slots_[s].used) continue;
      for (std::uint32_t e = slots_[s].head; e != no_entry; e = meta_[e].next) {
        f(std::span<const std::uint8_t>(pool_at(e), meta_[e].size));
      }
    }
  }

  [[nodiscard]] const shred_store_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t shreds_held() const noexcept {
    return config_.max_shreds - free_count_;
  }
  [[nodiscard]] std::size_t slots_held() const noexcept { return slots_used_; }

 private:
  static constexpr std::uint32_t no_entry = 0xffff'ffffu;
  static constexpr std::uint32_t no_index = 0xffff'ffffu;

  struct shred_meta {
    std::uint64_t slot = 0;
    std::uint32_t index = 0;
    std::uint32_t next = no_entry;  // next shred of the same slot, or next free entry
    std::uint16_t size = 0;
    bool coding = false;
  };
  struct slot_entry {
    std::uint64_t slot = 0;
    std::uint64_t parent = 0;              // valid when has_parent
    std::uint32_t head = no_entry;         // first shred of the slot (pool entry)
    std::uint32_t shreds = 0;
    std::uint32_t highest_data = no_index; // highest data index held
    bool has_parent = false;
    bool used = false;
  };

  [[nodiscard]] std::uint8_t* pool_at(std::uint32_t e) const noexcept {
    return pool_.get() + std::size_t{e} * shred_stride_bytes;
  }
  [[nodiscard]] std::size_t home(std::uint64_t slot, bool coding,
                                 std::uint32_t index) const noexcept;
  // Table position holding (slot, kind, index), or table_size_ if absent.
  [[nodiscard]] std::size_t find_shred(std::uint64_t slot, bool coding,
                                       std::uint32_t index) const noexcept;
  [[nodiscard]] std::span<const std::uint8_t> lookup(std::uint64_t slot, bool coding,
                                                     std::uint32_t index) const noexcept;
  [[nodiscard]] const slot_entry* find_slot(std::uint64_t slot) const noexcept;
  // The used slot entry with the lowest slot number other than `except`, or no_entry.
  [[nodiscard]] std::uint32_t oldest_slot(std::uint64_t except) const noexcept;
  // Drops every shred of slot entry s and frees it; returns the shreds dropped.
  std::uint32_t drop_slot(std::uint32_t s) noexcept;
  void erase_from_table(std::size_t pos) noexcept;

  shred_store_config config_;
  std::uint64_t root_ = 0;
  std::unique_ptr<std::uint8_t[]> pool_;     // max_shreds × shred_stride_bytes
  std::unique_ptr<shred_meta[]> meta_;       // max_shreds
  std::unique_ptr<std::uint32_t[]> table_;   // table_size_ pool entries or no_entry
  std::unique_ptr<slot_entry[]> slots_;      // max_slots
  std::size_t table_mask_ = 0;
  std::uint32_t free_head_ = no_entry;       // free pool entries, linked through meta.next
  std::size_t free_count_ = 0;
  std::size_t slots_used_ = 0;
  mutable std::uint32_t last_slot_ = 0;      // slot entry of the last lookup
  mutable shred_store_counters counters_;
};

}  // namespace riptide::shred
