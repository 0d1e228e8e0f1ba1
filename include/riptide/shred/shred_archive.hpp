#pragma once
// Shred archive: every data shred of every slot this node completed (a follower) or produced
// (the leader), wire bytes exactly as the leader signed them, on disk, so that repair can
// serve slots older than what the in-memory shred_store holds, and slots from before this
// node's last restart.
//
// Contract
// - One owner (the tile that holds the shred_store: the leader's shred tile, a follower's TVU
//   tile); not thread-safe. A repair_server reads it through a const pointer on that thread.
// - Storage is a ledger::ledger (ledger.hpp: mmap'd segments, CRC per record, torn tails
//   zeroed, a lock file naming the writer) in its own directory, conventionally
//   <ledger dir>/shreds. One record per data shred: type record_type::shred, the shred's slot,
//   payload = the shred's wire bytes. Coding shreds are not kept: a slot's data shreds are
//   the whole slot, and a repair request (window_index, highest_index, orphan) only ever asks
//   for data.
// - Opening is start-up and may throw (std::runtime_error from the ledger for I/O errors or a
//   lock held by another process, std::invalid_argument for a bad config). An archive damaged
//   by a crash is cut back to its last intact record (ledger::repair) and opens; what was cut
//   is reported in repair_report() and is simply not served. The archive is a cache of what
//   the node already replayed or produced: nothing in it is needed to restart.
// - put() (hot enough: once per data shred the node produces or completes) is noexcept: a
//   memcpy into the mapping, no syscall except when a segment rolls (see ledger.hpp). Slots
//   must not decrease (the ledger keeps a slot's records contiguous): a shred of a slot below
//   the newest one archived is refused and counted (out_of_order). Writes are never synced:
//   kill -9 loses nothing (the page cache keeps the mapping's bytes), a power loss may lose a
//   tail, which the next open cuts.
// - Lookups are const (counted in mutable counters) and scan the slot's records in order:
//   O(records of the slot), each a header read. Repair of an old slot is rare next to
//   Turbine, and its requests are rate-limited per peer by the repair_server.
//   Spans returned point into the mapping: valid while the archive lives.
// - Disk use grows with the chain (no pruning yet), like the ledger itself.

#include <riptide/ledger/ledger.hpp>
#include <riptide/shred/shred.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>

namespace riptide::shred {

struct shred_archive_config {
  std::filesystem::path dir;                          // created if missing
  std::size_t segment_bytes = std::size_t{64} << 20;  // per segment file; multiple of 4096
};

struct shred_archive_counters {
  std::uint64_t shreds_archived = 0;  // put() that appended a record
  std::uint64_t not_data = 0;         // put() of a coding shred or an empty view (not kept)
  std::uint64_t out_of_order = 0;     // put() of a slot below the newest archived slot
  std::uint64_t append_failed = 0;    // put() the ledger refused (disk full, segment limit)
  std::uint64_t lookups_hit = 0;      // data(), highest_data(), parent_of() found
  std::uint64_t lookups_missed = 0;   // ... and did not
  std::uint64_t records_scanned = 0;  // records read by lookups
};

class shred_archive {
 public:
  explicit shred_archive(const shred_archive_config& config);
  ~shred_archive();
  shred_archive(const shred_archive&) = delete;
  shred_archive& operator=(const shred_archive&) = delete;

  // Start-up, before any put(): forgets every shred of slots >= next_slot (durably) and
  // returns how many. A node calls it with the first slot its ledger does not hold, so that
  // shreds of blocks its ledger lost (a cut tail, a dead slot) are never served to peers: a
  // leader that makes such a slot again must not have its older version answered by repair.
  std::uint64_t drop_from(std::uint64_t next_slot);

  // Appends a data shred the caller verified (or made). False, counted, for a coding shred,
  // an empty view, a slot below newest_slot(), or a ledger refusal.
  bool put(const shred_view& v) noexcept;

  // Wire bytes of data shred (slot, index); empty if not archived (the first copy if a slot
  // was archived twice, e.g. partly before a crash and again after it).
  [[nodiscard]] std::span<const std::uint8_t> data(std::uint64_t slot,
                                                   std::uint32_t index) const noexcept;
  // The archived data shred of `slot` with the highest index >= at_or_above; empty if none.
  [[nodiscard]] std::span<const std::uint8_t> highest_data(
      std::uint64_t slot, std::uint32_t at_or_above) const noexcept;
  // Parent of an archived slot (slot - parent_offset of its shreds), else nullopt.
  [[nodiscard]] std::optional<std::uint64_t> parent_of(std::uint64_t slot) const noexcept;

  // The newest slot with an archived shred, nullopt while empty.
  [[nodiscard]] std::optional<std::uint64_t> newest_slot() const noexcept;
  [[nodiscard]] std::uint64_t slots() const noexcept { return log_.slot_index().size(); }
  [[nodiscard]] std::uint64_t shreds() const noexcept { return log_.stats().records; }
  [[nodiscard]] const shred_archive_counters& counters() const noexcept { return counters_; }
  // What opening cut from a damaged archive (cut = false when nothing was wrong).
  [[nodiscard]] const ledger::repair_report& repair_report() const noexcept { return report_; }

 private:
  // Calls f(shred_view) for each parseable archived shred of `slot`, in order, until f
  // returns false.
  template <class F>
  void scan(std::uint64_t slot, F&& f) const noexcept;

  ledger::repair_report report_;
  ledger::ledger log_;
  mutable shred_archive_counters counters_;
};

}  // namespace riptide::shred
