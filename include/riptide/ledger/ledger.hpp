#pragma once
// Ledger: an mmap'd, append-only, crash-safe log of typed records, one slot after another.
//
// Contract
// - Threads. One thread owns a ledger (the ledger tile, or a tool): append, truncate, mark,
//   the readers and stats are called from that thread only. One other thread at a time may
//   be the *syncer*: it calls sync_to(point) with a point the owner took with mark() and
//   handed over through something that orders memory (a mutex, a release/acquire pair). The
//   owner keeps appending meanwhile: sync_to only touches bytes before the point (already
//   written, never rewritten), segments the owner has sealed (whose `used` no longer
//   changes) and syncer-owned bookkeeping, and it is the only writer of the `durable` file.
//   The segment list is reserved for max_segments at open and never reallocates, so an
//   append that rolls a segment never moves what the syncer reads (rolling past
//   max_segments fails as segment_create_failed). Segments are unmapped and closed only by
//   truncate (start-up, no syncer) and the destructor: stop and join the syncer before either.
//   durable_records()/durable_bytes() may be read from any thread. sync() is sync_to(mark())
//   on the owner's thread, for when there is no separate syncer.
// - Ownership. A writer (open() without read_only, repair()) takes an exclusive lock on
//   <dir>/lock (util::file_lock, the holder's pid inside) before it reads or writes
//   anything else, and keeps it while the object lives: a second writer, in any process,
//   gets util::lock_held_error naming that pid and changes nothing. Readers take no lock.
// - Read-only (ledger_config::read_only, for `riptide ledger verify/show/digest`): nothing
//   is created, truncated, extended or zeroed; the directory must exist and hold segment
//   files. A torn tail is not zeroed, the records simply end there (and are counted as
//   usual). append() returns append_error::read_only, truncate() throws.
// - repair() (start-up, the operator's `riptide ledger repair`) opens like a writer but
//   does not stop at damage: the first bad thing found (a record that does not parse or
//   fails its CRC in any segment, a slot that regresses, a bad or missing segment file, a
//   sealed segment that lost its end) becomes the end of the ledger. Everything from there on
//   is removed durably (the watermark first, as truncate does) and described in a
//   repair_report. A ledger with nothing wrong keeps every record.
// - ledger::open() is start-up: it creates the directory if needed, maps every segment,
//   verifies the last segment's checksums, zeroes a torn tail (counted in
//   stats().truncated_tail_bytes) and rebuilds the slot index. Anything else that is wrong
//   (corruption before the tail, below the durable watermark, a missing segment, a bad
//   segment header) throws std::runtime_error naming the file and the byte offset.
// - append() is the hot path: noexcept, never blocks on the disk (no fsync, no msync), a
//   memcpy into the mapping. It returns an append_error and counts every rejection. Only
//   rolling to a new segment makes syscalls (open + posix_fallocate + mmap), once per
//   segment_bytes. Slots must be non-decreasing (slot_regressed otherwise): the ledger is
//   written in replay order, so a slot's records are contiguous and the index is a sorted
//   vector. Allocation: the segment list and slot index are reserved at open (max_segments
//   segments, 4096 slots); past that the index grows by one 32-byte entry per new slot
//   (amortised vector growth), the only allocation on the append path.
// - sync_to(p) makes every record before p durable (msync + fdatasync of the dirty range,
//   fsync of the directory when segments were created) and then records the durable
//   watermark p in the `durable` file; what it reported survives kill -9 and power loss.
//   Closing (the destructor) does NOT sync: call sync() first if you need it.
// - truncate(end) (start-up, owner, no syncer) durably removes every record at or after a
//   record boundary: the watermark moves to `end` first, then the bytes are zeroed and later
//   segments deleted, so a crash in between leaves a ledger that opens (the records past the
//   watermark are then merely not durable, and truncating again removes them).
// - Readers hand out record_view, zero-copy views into the mapping, valid while the ledger
//   object lives (segments are never unmapped while it is open).
// - parse_record() is the strict parser for record bytes from disk; every rejection is its
//   own record_error. It is pure (no I/O) and is the libFuzzer target.
//
// On-disk format (all integers little-endian). A ledger is a directory:
//
//   <dir>/segment-00000000.log  segment-00000001.log ...   fixed-size segment files
//   <dir>/durable                                          the durable watermark
//   <dir>/lock                                             writer's lock (its pid as text)
//
// Segment file (segment_bytes long, preallocated; unused space is zero):
//
//   offset  size  field
//   0       8     magic            "RTLEDSEG"
//   8       4     version          u32, = 1
//   12      4     crc32c           over bytes [0,12) and [16,32)
//   16      8     segment_index    u64, = the number in the file name
//   24      8     segment_bytes    u64, = the file size
//   32      ...   records, back to back, each 8-byte aligned; then zeros to the end
//
// Record (record_header_bytes = 24, payload padded with zeros to a multiple of 8):
//
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | crc32c u32                        | magic u32 "RTLR"                  |  0
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | type u16        | flags u16 (= 0) | length u32 (payload bytes)        |  8
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | slot u64                                                              | 16
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | payload (length bytes) ...                   | zero padding to 8      | 24
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//
//   crc32c = ISA-L crc32_iscsi over bytes [4, 24 + length) (the header without the CRC, then
//   the payload), seeded with 0xFFFFFFFF. The CRC comes first so that what it covers is one
//   contiguous range: one call per record, which matters for small records (three calls
//   over the split ranges cost more than the memcpy of a 256-byte payload). Padding is not
//   covered by the CRC but must be zero.
//
// Durable file (48 bytes, rewritten in place by sync_to(), and by truncate()):
//   0 magic u64 "RTLEDDUR" | 8 segment_index u64 | 16 offset u64 (end of the last durable
//   record in that segment) | 24 records u64 | 32 root u64 (the rooted slot, all ones =
//   none) | 40 crc32c u32 over [0,40) | 44 zero u32
//   A 40-byte file (written before roots existed: crc32c over [0,32) at 32) reads as the
//   same watermark with no root.
//
// Roots. The owner says which slot is rooted (set_root: a block that can no longer be
// reverted, and with it every block on its parent chain, which the slot_meta records name).
// The root travels in the sync point, so it becomes durable in the same write as the
// watermark that covers its records: a root on disk never names a slot whose records could
// be lost. Roots only move forward. A ledger cut back below its root (truncate, repair) has
// its root lowered to the last slot it still holds.
//
// Recovery: the last segment is scanned with checksums. The first record that does not parse
// ends the log. If it lies below the durable watermark, or any valid record follows it in
// the segment, it is corruption (error naming segment file and offset); otherwise it is a
// torn tail: the bytes from there to the last non-zero byte are zeroed and counted.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <riptide/util/file_lock.hpp>

namespace riptide::ledger {

constexpr std::size_t record_header_bytes = 24;
constexpr std::size_t record_alignment_bytes = 8;
constexpr std::size_t segment_header_bytes = 32;
constexpr std::size_t durable_file_bytes = 48;
constexpr std::size_t durable_file_v1_bytes = 40;
constexpr std::uint64_t no_root = ~std::uint64_t{0};
constexpr std::size_t max_record_payload_bytes = std::size_t{16} << 20;  // 16 MiB
constexpr std::size_t default_segment_bytes = std::size_t{256} << 20;    // 256 MiB
constexpr std::size_t max_segments = std::size_t{1} << 16;  // 16 TiB at the default size
constexpr std::size_t min_segment_bytes = 4096;
constexpr std::uint32_t record_magic = 0x524C5452;  // "RTLR" little-endian
constexpr std::uint32_t segment_version = 1;

enum class record_type : std::uint16_t {
  entry_batch = 1,  // serialized PoH entries of a slot
  shred = 2,        // one shred as received
  slot_meta = 3,    // chain start and end-of-slot metadata (entry_codec.hpp)
  start_state = 4,  // the balances before slot 0, right after the chain start (entry_codec.hpp)
};
constexpr std::uint16_t max_record_type = 4;

enum class record_error : std::uint8_t {
  none,
  truncated_header,   // fewer than record_header_bytes bytes
  bad_magic,          // magic != "RTLR"
  unknown_type,       // type 0 or > max_record_type
  nonzero_flags,      // flags != 0 (reserved)
  payload_too_large,  // length > max_record_payload_bytes
  truncated_payload,  // fewer bytes than header + length + padding
  nonzero_padding,    // a padding byte after the payload is not zero
  checksum_mismatch,  // crc32c does not match
};
constexpr std::size_t record_error_count =
    static_cast<std::size_t>(record_error::checksum_mismatch) + 1;
[[nodiscard]] const char* to_string(record_error error) noexcept;

enum class append_error : std::uint8_t {
  none,
  payload_too_large,      // larger than max_payload_bytes() (segment or format limit)
  invalid_type,           // record_type outside [1, max_record_type]
  slot_regressed,         // slot < last_slot()
  segment_create_failed,  // could not create/allocate/map a new segment (disk full, ...)
  read_only,              // the ledger was opened read-only
};
constexpr std::size_t append_error_count = static_cast<std::size_t>(append_error::read_only) + 1;
[[nodiscard]] const char* to_string(append_error error) noexcept;

// Zero-copy view of one record. `size` is the whole encoded record (header, payload,
// padding), i.e. the distance to the next record.
struct record_view {
  record_type type = record_type::entry_batch;
  std::uint64_t slot = 0;
  std::span<const std::uint8_t> payload;
  std::size_t size = 0;
};

// Bytes a record with this payload occupies on disk.
[[nodiscard]] constexpr std::size_t encoded_record_bytes(std::size_t payload_bytes) noexcept {
  return record_header_bytes + ((payload_bytes + record_alignment_bytes - 1) &
                                ~(record_alignment_bytes - 1));
}

// Parses the record at the start of `bytes` (trailing bytes after it are allowed: they are
// the next record). On none, out views bytes; otherwise out is untouched.
[[nodiscard]] record_error parse_record(std::span<const std::uint8_t> bytes,
                                        record_view& out) noexcept;

// Writes the encoding of a record into out (out.size() >= encoded_record_bytes(payload)).
// Returns the bytes written. No validation beyond what the caller already did.
std::size_t encode_record(record_type type, std::uint64_t slot,
                          std::span<const std::uint8_t> payload,
                          std::span<std::uint8_t> out) noexcept;

constexpr const char* lock_file_name = "lock";

struct ledger_config {
  std::filesystem::path dir;                        // created if missing (not when read_only)
  std::size_t segment_bytes = default_segment_bytes;  // new segments; multiple of 4096
  bool verify_all_checksums_on_open = false;  // also CRC-check sealed segments (slower open)
  bool read_only = false;  // touch nothing on disk; no lock (see the contract)
};

// Where a record lives.
struct record_position {
  std::uint64_t segment = 0;  // index into the segment list (= file number)
  std::uint64_t offset = 0;   // byte offset in that segment
};

struct slot_records {
  std::uint64_t slot = 0;
  record_position first;
  std::uint64_t count = 0;  // 0: slot not in the ledger
};

struct ledger_stats {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // encoded record bytes (headers + payload + padding)
  std::uint64_t segments = 0;
  std::uint64_t truncated_tail_bytes = 0;  // zeroed at open (torn tail)
  std::uint64_t truncated_tail_records = 0;  // 1 if a torn record was dropped at open
  std::uint64_t reinitialized_segments = 0;  // newest segment found without a header at open
  std::uint64_t append_rejected[append_error_count] = {};
  std::uint64_t syncs = 0;  // successful sync_to() calls, by whichever thread
};

// Every record before a point in the log: what the owner hands the syncer.
struct sync_point {
  record_position end;       // the end of the last record (where the next one goes)
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t root = no_root;  // the owner's root when it took the point
};

struct sync_result {
  bool ok = false;
  int error = 0;  // errno of the failed call when !ok
  std::uint64_t durable_records = 0;
  std::uint64_t durable_bytes = 0;
};

// What repair() found and removed.
struct repair_report {
  bool cut = false;            // something was wrong and the ledger now ends earlier
  std::string reason;          // the first problem: file, offset, why
  record_position at;          // where the ledger ends now
  std::uint64_t records_kept = 0;
  std::uint64_t last_slot_kept = 0;     // meaningless when records_kept == 0
  std::uint64_t records_dropped = 0;    // intact records (CRC ok) found after the cut
  std::uint64_t first_slot_dropped = 0;  // their slots (when records_dropped != 0)
  std::uint64_t last_slot_dropped = 0;
  std::uint64_t bytes_dropped = 0;      // non-zero bytes zeroed in the segment of the cut
  std::uint64_t segments_deleted = 0;   // later segment files removed
};

class ledger {
 public:
  // Throws std::runtime_error (message names the file and offset) on any unrecoverable
  // problem, std::invalid_argument on a bad config.
  static ledger open(const ledger_config& config);
  // Opens for writing, cutting the ledger back to its last fully valid record (contract).
  // Throws like open() for what it cannot mend (I/O errors, a lock held elsewhere).
  static ledger repair(const ledger_config& config, repair_report& report);

  ledger(ledger&& other) noexcept;
  ledger& operator=(ledger&& other) noexcept;
  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;
  ~ledger();

  [[nodiscard]] append_error append(record_type type, std::uint64_t slot,
                                    std::span<const std::uint8_t> payload) noexcept;

  // Owner: the end of everything appended so far, and the root.
  [[nodiscard]] sync_point mark() const noexcept;

  // Owner: `slot` is rooted (see Roots above). False, changing nothing, if the slot is not
  // in the ledger or is below the current root. Durable with the next sync.
  [[nodiscard]] bool set_root(std::uint64_t slot) noexcept;
  // Owner (or a read-only tool): the newest root set or read at open; no_root if none.
  [[nodiscard]] std::uint64_t root() const noexcept { return root_; }
  // Any thread: the root the last successful sync wrote (no_root if none).
  [[nodiscard]] std::uint64_t durable_root() const noexcept {
    return durable_root_.load(std::memory_order_acquire);
  }
  // Syncer (one thread at a time, concurrently with the owner's appends): makes every record
  // before p durable and records the watermark. Points must not go backwards; an older
  // point than the last synced one is a no-op that reports success.
  sync_result sync_to(const sync_point& p) noexcept;
  // Owner, when no syncer runs: sync_to(mark()).
  sync_result sync() noexcept { return sync_to(mark()); }
  // Makes every record of slots <= slot durable. Implemented as sync(): the records after
  // them are in the same dirty pages, so the difference would not be worth a second path.
  sync_result sync_through_slot(std::uint64_t slot) noexcept;

  // Start-up only (owner, no syncer): removes every record at or after `end`, which must be a
  // record boundary (a cursor's position()), and makes the cut durable. Throws
  // std::runtime_error naming the file if `end` is not a boundary or a syscall fails.
  void truncate(record_position end);

  // Any thread.
  [[nodiscard]] std::uint64_t durable_bytes() const noexcept {
    return durable_bytes_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t durable_records() const noexcept {
    return durable_records_.load(std::memory_order_acquire);
  }
  // Owner (a copy: `syncs` is counted by the syncer).
  [[nodiscard]] ledger_stats stats() const noexcept {
    ledger_stats s = stats_;
    s.syncs = syncs_.load(std::memory_order_relaxed);
    return s;
  }
  [[nodiscard]] bool empty() const noexcept { return stats_.records == 0; }
  // Highest slot appended (0 when empty).
  [[nodiscard]] std::uint64_t last_slot() const noexcept { return last_slot_; }
  [[nodiscard]] std::size_t max_payload_bytes() const noexcept;
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

  // Where the next record would go if it fits in the current segment (the end of the log).
  [[nodiscard]] record_position end_position() const noexcept {
    return {segments_.size() - 1, segments_.back().used};
  }

  // Owner: where the last record appended went (meaningless while empty()).
  [[nodiscard]] record_position last_appended() const noexcept { return last_appended_; }
  // Any thread: the `bytes` encoded bytes at `pos`, for a record the owner appended and whose
  // position reached this thread through something that orders memory (a ring's release and
  // acquire). Valid while the ledger is open: the segment list never reallocates and
  // segments are not unmapped (truncate and the destructor aside, which need every reader
  // stopped). How the shred tile reads what the ledger tile wrote without a copy.
  [[nodiscard]] std::span<const std::uint8_t> encoded_at(record_position pos,
                                                         std::size_t bytes) const noexcept {
    return {segments_.data()[pos.segment].base + pos.offset, bytes};
  }

  // First position and count of the slot's records (count 0 if absent).
  [[nodiscard]] slot_records records_in_slot(std::uint64_t slot) const noexcept;
  // The slot index, ascending by slot.
  [[nodiscard]] std::span<const slot_records> slot_index() const noexcept { return index_; }

  // Forward cursor over records, starting at a position; next() returns false at the end.
  class cursor {
   public:
    [[nodiscard]] bool next(record_view& out) noexcept;
    // Where the next record would start: after next() returned a record, its end.
    [[nodiscard]] record_position position() const noexcept { return pos_; }

   private:
    friend class ledger;
    cursor(const ledger* owner, record_position pos, std::uint64_t limit) noexcept
        : owner_(owner), pos_(pos), remaining_(limit) {}
    const ledger* owner_;
    record_position pos_;
    std::uint64_t remaining_;
  };
  [[nodiscard]] cursor read_all() const noexcept;
  [[nodiscard]] cursor read_slot(std::uint64_t slot) const noexcept;

  template <typename Fn>
  void for_each(Fn&& fn) const {
    auto c = read_all();
    record_view v;
    while (c.next(v)) fn(v);
  }
  template <typename Fn>
  void for_each_in_slot(std::uint64_t slot, Fn&& fn) const {
    auto c = read_slot(slot);
    record_view v;
    while (c.next(v)) fn(v);
  }

 private:
  struct segment {
    int fd = -1;
    std::uint8_t* base = nullptr;
    std::size_t bytes = 0;  // file size
    std::size_t used = 0;   // end of the last record
  };
  ledger() = default;
  static ledger open_impl(const ledger_config& config, repair_report* report);
  void close_all() noexcept;
  [[nodiscard]] bool roll_segment() noexcept;
  void note_record(std::uint64_t slot, record_position pos) noexcept;
  void reindex_to(record_position end) noexcept;
  void clamp_root() noexcept;

  std::filesystem::path dir_;
  util::file_lock lock_;  // writers only
  bool read_only_ = false;
  std::size_t segment_bytes_ = default_segment_bytes;
  int dir_fd_ = -1;
  int durable_fd_ = -1;
  std::vector<segment> segments_;  // all mapped; index = file number
  std::vector<slot_records> index_;
  std::uint64_t last_slot_ = 0;
  std::uint64_t root_ = no_root;  // owner's
  record_position last_appended_{};
  // Syncer-owned: first segment and offset not yet msync'd; segments whose directory entries
  // are durable (a new segment needs an fsync of the directory).
  std::uint64_t synced_segment_ = 0;
  std::uint64_t synced_offset_ = 0;
  std::uint64_t dir_synced_segments_ = 0;
  std::atomic<std::uint64_t> durable_bytes_{0};
  std::atomic<std::uint64_t> durable_records_{0};
  std::atomic<std::uint64_t> durable_root_{no_root};
  std::atomic<std::uint64_t> syncs_{0};
  ledger_stats stats_;  // owner-owned (syncs lives in syncs_)
};

}  // namespace riptide::ledger
