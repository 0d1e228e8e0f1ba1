#pragma once
// Slot assembler: turns a follower's verified data shreds back into each slot's byte stream
// (the concatenation of the data shreds' payloads in index order: exactly what the leader's
// shredder was fed) and knows every slot's gaps, so repair can ask for them.
//
// Contract
// - Pure: no threads, no I/O, no clocks. One owner (the tile that runs the FEC resolver's
//   output into replay and repair); not thread-safe.
// - insert() takes a data shred the caller has already parsed and verified (merkle proof and
//   leader signature), received or recovered, in any order, duplicates allowed. It copies
//   the payload (the shred's bytes may be reused as soon as it returns). noexcept, no
//   allocation, O(1) amortized (O(max_slots) to find the slot, plus a one-off eviction scan
//   when a resource is exhausted). Every shred it does not keep is counted by reason.
// - Memory is sized at construction from slot_assembler_config and never grows:
//     payload pool   pool_payloads × payload_stride_bytes (1152 B each: one data shred's
//                    largest payload, 1091 B, rounded up to cache lines), shared by all
//                    slots, handed out one entry per received shred and back on release;
//     per slot       max_data_shreds_per_slot × (4 B pool index + 2 bits of bitmap).
//   Defaults: 64 slots × 32768 shreds (8.5 MiB of tables) and 32768 payloads (36 MiB). The
//   tables and the pool are not pre-touched: pages are committed as shreds first land there.
//   The constructor throws std::invalid_argument on a bad config (and std::bad_alloc).
// - Spans from payload() stay valid until the slot is released, taken, evicted or dropped by
//   set_root(), whichever comes first.
//
// Per slot it tracks the received indices (bitmap), the last index (from the data shred
// flagged slot_complete), batch boundaries (batch_complete flags) and the parent slot
// (slot - parent_offset). A slot is complete when every index 0..last is present.
//
//   index:     0   1   2   3   4   5   6   7   8   9
//   present:   x   x   x   x   .   x   .   .   x   ?      ? = not known to exist yet
//   batch end:         B           B           B*         * = slot_complete (last = 8)
//              |<-ready->|                                ready_prefix(): shreds 0..2
//              |<-- contiguous -->|                       indices 0..3 present
//   missing():                 4       6   7              below the highest received
//
// Repair (ARCHITECTURE.md section 5: window index, highest index, orphan) maps onto three
// queries, each of which the repair side turns into signed requests:
// - window index (slot, index):  every index from missing(slot, ...): known to exist (below
//   the highest received) but absent.
// - highest index (slot, index): missing_tail(slot) = highest received index + 1, when the
//   slot's last shred (slot_complete) has not been seen: "send me your highest shred of this
//   slot at or above this index", which reveals both the tail and the last index.
// - orphan (slot):                every slot from orphans(): its parent is neither tracked
//   (received, complete or taken) nor at or below the root, so the chain back to the root is
//   unknown; the peer answers with the highest shreds of the slot's ancestors.
//
// Eviction
// - set_root(r) drops every slot below r, taken or not (the root itself stays), and from
//   then on shreds of slots below r are refused (out_of_window).
// - A new slot needs a slot entry and every kept shred a pool entry. When none is free, the
//   assembler first reuses the entry of the oldest taken slot (which only remembers the slot
//   so late duplicates are recognised), then evicts the oldest incomplete slot, counted in
//   slots_evicted_for_space. The oldest incomplete slot is the one that loses: if that is the
//   shred's own slot, the shred is refused (slot_full). Complete slots that have not been
//   taken are never evicted: when they fill everything, insert() reports slot_full until the
//   consumer takes them.
// - With keep_lowest (an in-order consumer): after the oldest taken slot, the victim is the
//   highest slot held above the shred's own, complete or not, so the assembler converges on
//   the lowest max_slots slots above the root; a shred of a slot above every held one is
//   refused (slot_full) while nothing is free. A complete slot evicted this way is counted
//   like any other and is fetched again (repair) when its turn comes.
//
// Not checked here: two different payloads for the same (slot, index) (leader equivocation)
// are both reported as duplicate; the first one stays.

#include <riptide/shred/shred.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace riptide::shred {

// The largest payload one data shred can carry: a set of 1 data + 1 coding shred.
constexpr std::size_t max_data_payload_bytes = data_capacity_bytes(2);  // 1091
constexpr std::size_t payload_stride_bytes = 1152;  // max_data_payload_bytes up to 64 B lines
static_assert(max_data_payload_bytes <= payload_stride_bytes && payload_stride_bytes % 64 == 0);

struct slot_assembler_config {
  // Slots tracked at once (received, complete or taken and remembered).
  std::size_t max_slots = 64;
  // Data shred indices accepted per slot: 1..max_shreds_per_slot (32768). Indices at or
  // above are refused (index_too_large).
  std::size_t max_data_shreds_per_slot = max_shreds_per_slot;
  // Payload entries shared by all slots: the most data shreds held at once.
  std::size_t pool_payloads = 32768;
  // Which slot gives way when room runs out (see Eviction): false, the oldest incomplete one
  // (slots are taken as they complete, so an old incomplete slot is likely abandoned); true,
  // the highest one, complete or not (a consumer that takes slots in slot order needs the
  // lowest ones first: a node catching up must never let later slots crowd out the next).
  bool keep_lowest = false;
};

enum class insert_result : std::uint8_t {
  inserted,            // new: stored
  duplicate,           // this (slot, index) is already held
  slot_full,           // no room: the slot is the oldest incomplete one, or every other slot
                       // is complete and waiting to be taken
  out_of_window,       // slot below the root
  index_too_large,     // index >= config.max_data_shreds_per_slot
  not_data,            // a coding shred or an empty view
  slot_taken,          // the slot was already handed out (take_slot / release_slot)
  parent_mismatch,     // parent slot differs from the slot's earlier shreds
  last_index_conflict, // index beyond the slot's last, or a slot_complete shred that
                       // contradicts the last index or an index already received above it
};
constexpr std::size_t insert_result_count =
    static_cast<std::size_t>(insert_result::last_index_conflict) + 1;

// The enumerator's name ("slot_full"), for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(insert_result result) noexcept;

struct slot_assembler_counters {
  std::array<std::uint64_t, insert_result_count> inserts{};  // by result
  std::uint64_t slots_completed = 0;           // slots that became complete
  std::uint64_t slots_taken = 0;               // take_slot() / release_slot()
  std::uint64_t slots_evicted_for_space = 0;   // incomplete slots dropped to make room
  std::uint64_t slots_dropped_below_root = 0;  // untaken slots dropped by set_root()
  std::uint64_t shreds_evicted = 0;            // payloads freed by the two lines above
  std::uint64_t evictions_unreported = 0;      // evicted slots take_evicted() could not list
};

// Leading complete entry batches of a slot: indices 0..shreds-1 are all present and shred
// shreds-1 ends a batch. Replay may start on these bytes before the slot completes.
struct slot_prefix {
  std::uint32_t shreds = 0;
  std::uint64_t bytes = 0;
};

class slot_assembler {
 public:
  explicit slot_assembler(const slot_assembler_config& config);
  ~slot_assembler();
  slot_assembler(const slot_assembler&) = delete;
  slot_assembler& operator=(const slot_assembler&) = delete;

  [[nodiscard]] const slot_assembler_config& config() const noexcept { return config_; }

  // Stores a verified data shred's payload. Counts the result in counters().inserts.
  insert_result insert(const shred_view& data_shred) noexcept;

  // Slots below root are dropped and refused from now on. A root lower than the current one
  // is ignored.
  void set_root(std::uint64_t root) noexcept;
  [[nodiscard]] std::uint64_t root() const noexcept { return root_; }

  // ---------------------------------------------------------------- state of one slot
  // Received or complete, not yet taken.
  [[nodiscard]] bool is_tracked(std::uint64_t slot) const noexcept;
  [[nodiscard]] bool is_complete(std::uint64_t slot) const noexcept;
  [[nodiscard]] bool is_taken(std::uint64_t slot) const noexcept;
  // Parent slot from the slot's data shreds (tracked or taken slots).
  [[nodiscard]] std::optional<std::uint64_t> parent_of(std::uint64_t slot) const noexcept;
  // Index of the slot_complete shred, once seen.
  [[nodiscard]] std::optional<std::uint32_t> last_index(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::optional<std::uint32_t> highest_received(std::uint64_t slot) const noexcept;
  // Distinct indices held (0 if not tracked).
  [[nodiscard]] std::uint32_t received(std::uint64_t slot) const noexcept;
  // Sum of the held payloads: the stream's size once the slot is complete.
  [[nodiscard]] std::uint64_t received_bytes(std::uint64_t slot) const noexcept;
  // See slot_prefix; empty if not tracked.
  [[nodiscard]] slot_prefix ready_prefix(std::uint64_t slot) const noexcept;

  // ------------------------------------------------------------------------- output
  // The payload of (slot, index), or an empty span if not held. Valid as the contract says.
  [[nodiscard]] std::span<const std::uint8_t> payload(std::uint64_t slot,
                                                      std::uint32_t index) const noexcept;
  // Copies a complete slot's stream into out and frees its memory (the slot is remembered as
  // taken). nullopt, and nothing changes, if the slot is not complete or out is smaller than
  // received_bytes(slot).
  [[nodiscard]] std::optional<std::size_t> take_slot(std::uint64_t slot,
                                                     std::span<std::uint8_t> out) noexcept;
  // Frees a tracked slot's memory whether complete or not (for a consumer that read the
  // payload() spans in place); the slot is remembered as taken. False if not tracked.
  bool release_slot(std::uint64_t slot) noexcept;

  // -------------------------------------------------------------------------- repair
  // Window index requests: writes indices below the slot's highest received index that are
  // absent, ascending from `from`, at most out.size(); returns how many were written. 0 for
  // a slot that is not tracked.
  std::size_t missing(std::uint64_t slot, std::span<std::uint32_t> out,
                      std::uint32_t from = 0) const noexcept;
  // Highest index request: highest received index + 1 while the slot's last shred is
  // unknown; nullopt once it is known or if the slot is not tracked.
  [[nodiscard]] std::optional<std::uint32_t> missing_tail(std::uint64_t slot) const noexcept;
  // Orphan request: the tracked slot's parent is above the root and neither tracked nor
  // taken. Slot 0 is never an orphan.
  [[nodiscard]] bool is_orphan(std::uint64_t slot) const noexcept;
  // Writes orphan slots in ascending order, at most out.size(); returns how many.
  std::size_t orphans(std::span<std::uint64_t> out) const noexcept;
  // Writes tracked slots that are not complete in ascending order, at most out.size().
  std::size_t incomplete_slots(std::span<std::uint64_t> out) const noexcept;

  // Slots evicted for space since the last call (at most max_evictions_reported of them are
  // remembered, the rest counted in evictions_unreported; an insert evicts at most two), so
  // the caller can let the FEC resolver forget their sets and fetch them again later.
  // Returns how many were written to out (at most out.size()); the rest stay for the next call.
  static constexpr std::size_t max_evictions_reported = 8;
  std::size_t take_evicted(std::span<std::uint64_t> out) noexcept;

  [[nodiscard]] const slot_assembler_counters& counters() const noexcept { return counters_; }
  // Slot entries in use (tracked or taken) and free payload entries.
  [[nodiscard]] std::size_t slots_in_use() const noexcept;
  [[nodiscard]] std::size_t free_payloads() const noexcept { return free_count_; }

 private:
  enum class entry_state : std::uint8_t { free, active, taken };
  struct entry {
    std::uint64_t slot = 0;
    std::uint64_t parent = 0;
    std::uint64_t bytes = 0;             // sum of held payloads
    std::uint64_t contiguous_bytes = 0;  // payload bytes of indices [0, contiguous)
    std::uint64_t ready_bytes = 0;
    std::uint32_t received = 0;
    std::uint32_t highest = 0;           // valid when received > 0
    std::uint32_t last = no_index;
    std::uint32_t contiguous = 0;        // indices [0, contiguous) all present
    std::uint32_t ready_shreds = 0;
    entry_state state = entry_state::free;
  };
  static constexpr std::uint32_t no_index = 0xffff'ffffu;
  static constexpr std::uint32_t no_entry = 0xffff'ffffu;

  [[nodiscard]] std::uint32_t find(std::uint64_t slot) const noexcept;
  [[nodiscard]] const entry* find_active(std::uint64_t slot) const noexcept;
  [[nodiscard]] bool complete(const entry& e) const noexcept {
    return e.last != no_index && e.contiguous == e.last + 1;
  }
  [[nodiscard]] bool present(std::uint32_t e, std::uint32_t index) const noexcept;
  [[nodiscard]] std::uint64_t* present_words(std::uint32_t e) const noexcept {
    return present_.get() + std::size_t{e} * words_per_slot_;
  }
  [[nodiscard]] std::uint64_t* batch_words(std::uint32_t e) const noexcept {
    return batch_.get() + std::size_t{e} * words_per_slot_;
  }
  [[nodiscard]] std::uint32_t* pool_index(std::uint32_t e) const noexcept {
    return pool_index_.get() + std::size_t{e} * config_.max_data_shreds_per_slot;
  }
  [[nodiscard]] std::uint8_t* payload_at(std::uint32_t p) const noexcept {
    return pool_.get() + std::size_t{p} * payload_stride_bytes;
  }

  // A free entry for slot, reusing the oldest taken entry or evicting the oldest incomplete
  // slot if it is older than slot; no_entry if none can be had.
  [[nodiscard]] std::uint32_t acquire_entry(std::uint64_t slot) noexcept;
  // A free payload entry for a shred of entry `owner`, evicting the oldest incomplete slot
  // older than owner's if the pool is empty; no_entry if none can be had.
  [[nodiscard]] std::uint32_t acquire_payload(std::uint32_t owner) noexcept;
  // The active, incomplete entry with the lowest slot below `below`, or no_entry.
  [[nodiscard]] std::uint32_t oldest_incomplete(std::uint64_t below) const noexcept;
  // The slot that gives way to a shred of `slot` (config.keep_lowest picks the rule).
  [[nodiscard]] std::uint32_t victim_for(std::uint64_t slot) const noexcept;
  // The active entry with the lowest slot above `after` (any if nullopt), or no_entry.
  [[nodiscard]] std::uint32_t next_active(std::optional<std::uint64_t> after) const noexcept;
  // Frees the entry's payloads and bitmaps; returns how many payloads were freed.
  std::uint32_t clear(std::uint32_t e) noexcept;
  void make_free(std::uint32_t e) noexcept;
  // Evicts active entry e for space: frees it, counts it, remembers its slot for take_evicted.
  void evict(std::uint32_t e) noexcept;

  slot_assembler_config config_;
  std::array<std::uint64_t, max_evictions_reported> evicted_{};
  std::size_t evicted_count_ = 0;
  std::size_t words_per_slot_ = 0;
  std::uint64_t root_ = 0;
  std::unique_ptr<entry[]> entries_;
  std::unique_ptr<std::uint64_t[]> present_;     // max_slots × words_per_slot_
  std::unique_ptr<std::uint64_t[]> batch_;       // max_slots × words_per_slot_
  std::unique_ptr<std::uint32_t[]> pool_index_;  // max_slots × max_data_shreds_per_slot
  std::unique_ptr<std::uint8_t[]> pool_;         // pool_payloads × payload_stride_bytes
  std::unique_ptr<std::uint16_t[]> pool_size_;   // payload bytes of each pool entry
  std::unique_ptr<std::uint32_t[]> free_;        // stack of free pool entries
  std::size_t free_count_ = 0;
  mutable std::uint32_t last_hit_ = 0;           // entry of the last lookup
  slot_assembler_counters counters_;
};

}  // namespace riptide::shred
