#pragma once
// Account locks: striped reader/writer locks over account keys, taken all or nothing for one
// transaction. bank::bank_forks takes them for every bank (one table for all banks).
//
// Contract
// - Memory: the stripe table (one 64-byte word per stripe) is allocated in the constructor
//   (std::invalid_argument if stripes is 0 or above 2^30); nothing allocates afterwards.
// - Any number of threads: try_lock(tx, held) takes every writable account of tx exclusively
//   and every readonly account shared, all or nothing: on false no lock of tx is held (the
//   caller retries later or elsewhere). unlock(held) gives back what held names.
// - Why striped: a lock word is chosen by hashing the account key into a fixed table, so
//   locking never has to insert into an accounts store and can never fail for lack of space.
//   Two accounts sharing a stripe only serialize more than necessary (never less). Each word
//   has its own cache line so that tiles locking different words never share a line.
//   A word is 0 = free, writer_bit = held exclusively, otherwise the number of shared holders.
// - Memory ordering: a successful acquire (CAS 0 -> writer_bit, or n -> n+1 without
//   writer_bit) is memory_order_acquire; release (store 0, or fetch_sub 1) is
//   memory_order_release. So every write made under an exclusive lock happens-before anything
//   done by the next holder of that stripe. Shared locks on system_program_id are skipped: it
//   is the program of every transfer, so locking it would put every transaction's atomic RMW
//   on one cache line, and no instruction reads the program account's state.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <riptide/crypto/types.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::txn {

// The lock words a locked tx holds, filled by try_lock(tx, held), so that unlock(held) need
// not hash the account keys again (the hot-path form; ~250 bytes, lives on the stack).
class held_locks {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  friend class account_locks;
  struct entry {
    std::uint32_t stripe;
    bool exclusive;
  };
  std::array<entry, max_accounts> entries_;
  std::size_t count_ = 0;
};

class account_locks {
 public:
  static constexpr std::uint32_t writer_bit = 0x8000'0000U;

  account_locks(std::size_t stripes, std::uint64_t seed);
  account_locks(const account_locks&) = delete;
  account_locks& operator=(const account_locks&) = delete;
  ~account_locks();

  [[nodiscard]] bool try_lock(const transaction_view& tx, held_locks& held) noexcept;
  void unlock(held_locks& held) noexcept;
  // Releases what try_lock(tx, ...) took, finding the stripes again from tx's keys.
  void unlock(const transaction_view& tx) noexcept;
  // Number of stripes currently held (exclusively or shared); for tests.
  [[nodiscard]] std::size_t held_stripes() const noexcept;

 private:
  struct alignas(64) lock_word {
    std::atomic<std::uint32_t> word{0};
  };
  void lock_entries(const transaction_view& tx, held_locks& out) const noexcept;

  std::size_t stripe_mask_;
  std::uint64_t seed_;
  std::unique_ptr<lock_word[]> stripes_;
};

}  // namespace riptide::txn
