#pragma once
// How PoH entries and slot metadata are laid out inside ledger records.
//
// Contract
//   - Pure functions, no allocation in decode (views into the record payload); encode writes
//     into a caller-owned buffer and returns the bytes used (0 if it does not fit).
//   - decode_* are strict: every way the bytes can be wrong is its own entry_error, so
//     `riptide ledger verify` can say exactly what it found.
//
//   entry_batch payload (little-endian):
//     u32 entry_count, then entry_count times:
//       u64 num_hashes | hash[32] | u8 flags (bit0 tick, bit1 has_mixin) | mixin[32] if has_mixin
//       | u32 tx_count | tx_count × (u16 len | len bytes)      (tx bodies; 0 until banking lands)
//
//   slot_meta payload (56 + 8 bytes):
//     u32 version (=1) | u32 kind (1 = chain start, 2 = slot end)
//     | u64 hashes_per_tick | u64 ticks_per_slot | u64 tick_height | hash[32]
//     chain start: hash = the PoH start hash; slot end: hash = the slot's last PoH hash.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/types.hpp>

namespace riptide::ledger {

enum class entry_error : std::uint8_t {
  none,
  truncated_count,      // fewer than 4 bytes
  truncated_entry,      // an entry's fixed part runs past the payload
  bad_flags,            // unknown flag bits, or a tick with a mixin
  zero_hashes,          // num_hashes == 0
  truncated_txs,        // a tx length or body runs past the payload
  trailing_bytes,       // bytes after the last entry
  bad_meta_size,        // slot_meta payload is not slot_meta_bytes long
  bad_meta_version,     // version != 1
  bad_meta_kind,        // kind not 1 or 2
};
const char* to_string(entry_error e) noexcept;

struct decoded_entry {
  crypto::poh_entry entry;
  bool is_tick = false;
  std::uint32_t tx_count = 0;
};

enum class meta_kind : std::uint32_t { chain_start = 1, slot_end = 2 };
constexpr std::size_t slot_meta_bytes = 4 + 4 + 8 + 8 + 8 + 32;

struct slot_meta {
  meta_kind kind = meta_kind::slot_end;
  std::uint64_t hashes_per_tick = 0;
  std::uint64_t ticks_per_slot = 0;
  std::uint64_t tick_height = 0;
  crypto::hash32 hash{};
};

// Appends one entry (no transactions) to a batch being built in `out` starting at `used`.
// The batch's count is patched by finish_batch. Returns the new used size, 0 if out is full.
std::size_t add_entry(std::span<std::uint8_t> out, std::size_t used, const crypto::poh_entry& e,
                      bool is_tick) noexcept;
void finish_batch(std::span<std::uint8_t> out, std::uint32_t entry_count) noexcept;
constexpr std::size_t batch_header_bytes = 4;
constexpr std::size_t max_entry_bytes = 8 + 32 + 1 + 32 + 4;

// Decodes a batch, appending to `out` (the caller reuses the vector; it only grows).
entry_error decode_batch(std::span<const std::uint8_t> payload, std::vector<decoded_entry>& out);

std::size_t encode_meta(const slot_meta& m, std::span<std::uint8_t> out) noexcept;
entry_error decode_meta(std::span<const std::uint8_t> payload, slot_meta& out) noexcept;

}  // namespace riptide::ledger
