#pragma once
// How PoH entries, their transactions and slot metadata are laid out inside ledger records.
//
// Contract
//   - Pure functions, no allocation in decode (views into the record payload); encode writes
//     into a caller-owned buffer and returns the bytes used (0 if it does not fit).
//   - decode_* are strict: every way the bytes can be wrong is its own entry_error, so
//     `riptide ledger verify` can say exactly what it found. What the codec cannot judge
//     (a transaction's bytes, its result code, the mixin) is left to the ledger tool.
//   - An entry's transactions are stored exactly as a bank tile's microblock holds them
//     (tpu/microblock.hpp), so the ledger tile copies the whole area with one memcpy, and an
//     entry never spans two records.
//
//   entry_batch payload (little-endian):
//
//     +-----------------+---------------------------------------------------------------+
//     | entry_count u32 | entry × entry_count                                           |
//     +-----------------+---------------------------------------------------------------+
//
//     entry:
//       offset  size  field
//       0       8     num_hashes u64            (> 0)
//       8       32    hash                      PoH hash after this entry
//       40      1     flags                     bit0 tick, bit1 has_mixin, others zero
//       41      32    mixin                     only if has_mixin
//       k       4     tx_count u32              0 for ticks and mixin-less entries
//       k+4     ...   tx area: tx_count × ( u16 len | u8 result | body[len] )
//                       len > 0; result is the txn::tx_result of executing body;
//                       body is the transaction's wire bytes (its first signature at [1, 65))
//
//   slot_meta payload (136 bytes):
//
//     offset  size  field
//     0       4     version u32               = 3
//     4       4     kind u32                  1 = chain start, 2 = slot end
//     8       8     hashes_per_tick u64
//     16      8     ticks_per_slot u64
//     24      8     tick_height u64           ticks since the chain started (at slot end)
//     32      32    hash                      chain start: the PoH start hash;
//                                             slot end: the slot's last PoH hash
//     64      32    bank_hash                 slot end: the slot's bank hash (txn/execution.hpp),
//                                             all zero = unknown; chain start: zero
//     96      8     parent_slot u64           slot end: the slot of the block this one builds
//                                             on (slot 0: 0); chain start: zero
//     104     32    leader                    slot end: the identity of the node that
//                                             produced the block; chain start: zero

//
//   start_state payload (slot 0, the record right after the chain start): the fee, the
//   balances the bank holds before slot 0 (genesis funding) and the validators whose votes
//   count (the bank keeps a vote state for each, in this order), so the ledger alone is enough
//   to re-execute every slot (`riptide ledger verify`), and a node whose funding, fee or
//   voters differ is told so at slot 0 instead of at its first diverging transaction.
//
//     offset        size           field
//     0             4              version u32              = 2
//     4             4              count u32                (accounts)
//     8             8              lamports_per_signature u64
//     16            4              voter_count u32
//     20            4              reserved u32             = 0
//     24            40 × count     { pubkey[32] | lamports u64 }   keys strictly ascending, lamports > 0
//     24 + 40·count 32 × voters    voter identity[32]       distinct, in the bank's voter order

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
  truncated_txs,        // the tx lengths do not add up: a tx header or body runs past the payload
  trailing_bytes,       // bytes after the last entry
  bad_meta_size,        // slot_meta payload is not slot_meta_bytes long
  bad_meta_version,     // version != slot_meta_version
  bad_meta_kind,        // kind not 1 or 2
  tick_with_txs,        // a tick entry with tx_count != 0
  txs_without_mixin,    // tx_count != 0 but the entry has no mixin
  empty_tx,             // a transaction of length 0
  bad_state_size,       // start_state payload shorter than its header or not 24 + 40·count + 32·voters
  bad_state_version,    // start_state version != start_state_version
  bad_state_order,      // start_state keys not strictly ascending
  zero_state_lamports,  // a start_state account with 0 lamports
  bad_state_voters,     // a start_state voter listed twice, or the reserved field not zero
};
constexpr std::size_t entry_error_count = static_cast<std::size_t>(entry_error::bad_state_voters) + 1;
const char* to_string(entry_error e) noexcept;

struct decoded_entry {
  crypto::poh_entry entry;
  bool is_tick = false;
  std::uint32_t tx_count = 0;
  std::span<const std::uint8_t> txs;  // the tx area (without tx_count), a view into the payload
};

// One transaction of an entry's tx area.
struct entry_tx {
  std::span<const std::uint8_t> body;
  std::uint8_t result = 0;
};

// Walks a tx area that decode_batch accepted (or a microblock's): next() yields each
// transaction in order and returns false after the last (or on bytes that do not add up,
// which a decoded entry never has).
class tx_reader {
 public:
  tx_reader(std::uint32_t tx_count, std::span<const std::uint8_t> txs) noexcept
      : remaining_(tx_count), txs_(txs) {}
  explicit tx_reader(const decoded_entry& e) noexcept : tx_reader(e.tx_count, e.txs) {}
  [[nodiscard]] bool next(entry_tx& out) noexcept;

 private:
  std::uint32_t remaining_;
  std::span<const std::uint8_t> txs_;
  std::size_t offset_ = 0;
};

constexpr std::size_t tx_header_bytes = 3;  // u16 len + u8 result

enum class meta_kind : std::uint32_t { chain_start = 1, slot_end = 2 };
constexpr std::uint32_t slot_meta_version = 3;
constexpr std::size_t slot_meta_bytes = 4 + 4 + 8 + 8 + 8 + 32 + 32 + 8 + 32;

struct slot_meta {
  meta_kind kind = meta_kind::slot_end;
  std::uint64_t hashes_per_tick = 0;
  std::uint64_t ticks_per_slot = 0;
  std::uint64_t tick_height = 0;
  crypto::hash32 hash{};
  crypto::hash32 bank_hash{};  // zero = unknown (and always zero at chain start)
  std::uint64_t parent_slot = 0;  // slot end: the parent block's slot
  crypto::pubkey leader{};        // slot end: who produced the block
};

// One account of the start state: what the bank holds before slot 0.
struct start_account {
  crypto::pubkey key{};
  std::uint64_t lamports = 0;
  friend bool operator==(const start_account&, const start_account&) = default;
};
struct start_state {
  std::uint64_t lamports_per_signature = 0;
  std::vector<start_account> accounts;
  std::vector<crypto::pubkey> voters;  // the validators whose votes count, in vote-state order
  friend bool operator==(const start_state&, const start_state&) = default;
};
constexpr std::uint32_t start_state_version = 2;
constexpr std::size_t start_state_header_bytes = 24;
constexpr std::size_t start_account_bytes = 40;
constexpr std::size_t start_voter_bytes = 32;

constexpr std::size_t batch_header_bytes = 4;
// An entry without its tx area: num_hashes, hash, flags, mixin, tx_count.
constexpr std::size_t max_entry_bytes = 8 + 32 + 1 + 32 + 4;
// Bytes an entry takes in a batch.
[[nodiscard]] constexpr std::size_t entry_bytes(bool has_mixin, std::size_t tx_area_bytes) noexcept {
  return 8 + 32 + 1 + (has_mixin ? 32 : 0) + 4 + tx_area_bytes;
}

// Appends one entry and its transactions (tx_count, and the tx area exactly as a microblock
// holds it) to a batch being built in `out` starting at `used`. The batch's count is patched
// by finish_batch. Returns the new used size, 0 if out is full. The caller passes well-formed
// input (decode_batch is the check); nothing is validated here beyond the size.
std::size_t add_entry(std::span<std::uint8_t> out, std::size_t used, const crypto::poh_entry& e,
                      bool is_tick, std::uint32_t tx_count = 0,
                      std::span<const std::uint8_t> txs = {}) noexcept;
void finish_batch(std::span<std::uint8_t> out, std::uint32_t entry_count) noexcept;

// Decodes a batch, appending to `out` (the caller reuses the vector; it only grows).
entry_error decode_batch(std::span<const std::uint8_t> payload, std::vector<decoded_entry>& out);

std::size_t encode_meta(const slot_meta& m, std::span<std::uint8_t> out) noexcept;
// The start_state payload of `state`, whose accounts must be sorted by key, distinct, with
// lamports > 0 (sort_start_state() makes them so), and whose voters are distinct. Allocates;
// start-up only.
[[nodiscard]] std::vector<std::uint8_t> encode_start_state(const start_state& state);
// Sorts by key and merges duplicates (their lamports add, saturating), drops zero balances:
// the canonical form encode_start_state() needs, whatever order credits were made in.
void sort_start_state(std::vector<start_account>& accounts);
// Decodes into `out` (cleared first); strict (see entry_error).
entry_error decode_start_state(std::span<const std::uint8_t> payload, start_state& out);
entry_error decode_meta(std::span<const std::uint8_t> payload, slot_meta& out) noexcept;

}  // namespace riptide::ledger
