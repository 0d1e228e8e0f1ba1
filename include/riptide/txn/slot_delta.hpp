#pragma once
// Slot delta: the accounts a slot's transactions changed, with their final balances, and the
// slot's bank hash built from them. Pure logic: no threads, no clocks, no I/O.
//
// Contract
//   - The ledger tile feeds it every account delta of every entry in ledger (PoH) order
//     with record(); the last balance recorded for a key wins. At the slot's end,
//     finish(last_poh) returns the bank hash and empties the set for the next slot.
//   - The bank hash is exactly what bank::bank_hash() computes for the same changes:
//       SHA-256( count u64 | { pubkey[32] | lamports u64 } × count, sorted by pubkey
//                | last_poh[32] )                                       (integers LE)
//     so a replaying node (single-threaded bank) and the leader (deltas from many bank
//     tiles) agree.
//   - Fixed capacity `max_accounts` (distinct keys per slot), allocated at construction.
//     record() returns false when a new key does not fit; overflowed() then stays true
//     until finish(), and the caller must treat that slot's hash as unknown and count it
//     (finish() then returns the zero hash, which the ledger reads as "unknown").
//   - Not thread-safe; noexcept after construction.

#include <cstddef>
#include <cstdint>
#include <memory>

#include <riptide/crypto/types.hpp>

namespace riptide::txn {

class slot_delta {
 public:
  explicit slot_delta(std::size_t max_accounts);  // throws std::invalid_argument if 0
  ~slot_delta();

  [[nodiscard]] bool record(const crypto::pubkey& key, std::uint64_t lamports) noexcept;
  [[nodiscard]] crypto::hash32 finish(const crypto::hash32& last_poh) noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool overflowed() const noexcept { return overflowed_; }

 private:
  struct entry;
  std::size_t max_accounts_;
  std::size_t mask_;
  std::uint64_t seed_;  // probe hash seed, random per process (never affects the bank hash)
  std::unique_ptr<entry[]> table_;
  std::unique_ptr<std::uint32_t[]> order_;  // table indices in insertion order (for clearing and sorting)
  std::size_t size_ = 0;
  bool overflowed_ = false;
};

}  // namespace riptide::txn
