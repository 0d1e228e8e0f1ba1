#pragma once
// A validator's vote: the instruction data of a tower sync, the one instruction of the vote
// program. Each vote carries the voter's whole tower (every lockout and the root), the bank
// hash of its newest slot, and the time it was made, so a vote that lands restates
// everything before it and a lost one costs nothing but latency.
//
// Instruction data (all integers little-endian; docs/protocol.md has the same):
//
//   offset  size  field
//   0       4     kind               u32, = 1 (tower sync)
//   4       1     flags              u8: bit 0 has_root, bit 1 has_timestamp; others 0
//   5       8     root               u64 (0 without has_root)
//   13      32    bank_hash          the bank hash of the newest slot voted (the top lockout)
//   45      8     timestamp          i64, unix milliseconds (0 without has_timestamp)
//   53      1     lockout count N    u8, 1..31
//   54      9·N   lockouts[N]        slot u64 | confirmation_count u8, oldest first
//   end                              no trailing bytes: 63..333 bytes
//
// The lockouts must form a tower (consensus::tower::from): slots strictly increasing,
// confirmation counts strictly decreasing, 1..31, the root below the first slot.
//
// parse_tower_sync() reads untrusted bytes (a transaction from the network or a ledger):
// noexcept, no allocation, every malformation its own vote_parse_error. encode_tower_sync()
// writes into the caller's buffer. Both may run on any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <riptide/consensus/tower.hpp>
#include <riptide/crypto/types.hpp>

namespace riptide::consensus {

constexpr std::uint32_t vote_kind_tower_sync = 1;
constexpr std::uint8_t vote_flag_root = 1, vote_flag_timestamp = 2;
constexpr std::size_t tower_sync_header_bytes = 54;
constexpr std::size_t lockout_bytes = 9;
constexpr std::size_t max_tower_sync_bytes = tower_sync_header_bytes + lockout_bytes * max_lockout_history;

struct tower_sync {
  tower votes;                     // lockouts and root
  crypto::hash32 bank_hash{};      // of votes.last_voted_slot()
  std::optional<std::int64_t> timestamp_ms;
};

enum class vote_parse_error : std::uint8_t {
  none,
  truncated,          // shorter than its header or its lockouts
  unknown_kind,       // kind != 1
  unknown_flags,      // a flag bit other than has_root / has_timestamp
  root_without_flag,  // root != 0 without has_root
  time_without_flag,  // timestamp != 0 without has_timestamp
  no_lockouts,        // N = 0
  too_many_lockouts,  // N > 31
  not_a_tower,        // the lockouts and root are not a tower (see above)
  trailing_bytes,     // bytes after the last lockout
};
constexpr std::size_t vote_parse_error_count = 10;

[[nodiscard]] const char* to_string(vote_parse_error e) noexcept;

// Bytes the encoding of `v` takes; 0 for a tower with no votes (not a vote).
[[nodiscard]] std::size_t tower_sync_size(const tower_sync& v) noexcept;
// Writes `v` into `out`; returns the bytes written, 0 if it has no votes or does not fit.
[[nodiscard]] std::size_t encode_tower_sync(const tower_sync& v, std::span<std::uint8_t> out) noexcept;
// Parses `data` into `out` (untouched unless the result is none).
[[nodiscard]] vote_parse_error parse_tower_sync(std::span<const std::uint8_t> data, tower_sync& out) noexcept;

}  // namespace riptide::consensus
