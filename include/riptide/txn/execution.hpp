#pragma once
// Transaction execution: the words every bank, tile and tool shares about executing
// transactions. The result of one transaction (tx_result) and its name, per-tile counters of
// results and fees, the recent-blockhash queue, and the bytes of a block's bank hash. The
// executor is bank::bank_forks (bank/bank_forks.hpp). Pure logic: no threads, no clocks, no I/O.
//
// Contract
// - Memory: a blockhash_queue allocates in its constructor only (std::bad_alloc); nothing
//   else here allocates.
// - Threads: execution_counters are plain integers written only by the tile that owns them
//   (one per tile, no shared cache line on the hot path); whoever sums them with add() reads
//   copies or synchronizes with the owners. A blockhash_queue's age(), is_recent() and
//   slot_of() may run on many threads at once while no register_hash() runs on it. A
//   bank_hasher is one hash in progress, owned by its caller. to_string() is any thread's.
// - Failures: none; everything but the queue's constructor is noexcept.
//
// Execution of one transaction on a bank (bank::bank_forks::execute), checked in this order;
// fees burn (they are counted in fees_collected_lamports and belong to no account):
//   1. recent_blockhash is not the blockhash of one of the bank's ancestors (rooted blocks
//      and the genesis hash included) fewer than max_age_slots slots behind the bank's parent
//                                                         -> blockhash_too_old    (no change)
//   2. the first signature landed on this fork already    -> already_processed    (no change)
//   3. fee = lamports_per_signature * num_signatures > payer's balance
//                                                         -> insufficient_funds_for_fee
//                                                                                 (no change)
//   4. the fee is charged; then every instruction is decoded:
//      a vote (the vote program, consensus/vote_tx.hpp) lands alone or not at all: it must
//      decode, come from a registered voter and pass consensus::check_tower_sync on this
//      fork                                               -> invalid_instruction  (fee only)
//      program is not the system program                  -> unknown_program      (fee only)
//      system program but not a well-formed transfer      -> invalid_instruction  (fee only)
//   5. transfers are applied in order to a private copy of the balances (so a later transfer
//      may spend what an earlier one received); any overdraft -> insufficient_funds (fee only)
//   6. the bank's tables cannot hold what landing needs (a new receiver's account, a version
//      per changed account, the signature's status) -> account_table_full (no change, also
//      instead of a "fee only" result). Otherwise every changed balance is committed: ok.
// "fee only": the payer pays the fee, nothing else changes, and the transaction lands (its
// signature is recorded) as it does on ok. A receiver that does not exist yet is created; a
// missing account whose balance stays 0 is not. Balances never go negative and never
// overflow: genesis credits keep the total supply <= 2^64 - 1.

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/types.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace riptide::txn {

enum class tx_result : std::uint8_t {
  ok,
  blockhash_too_old,           // recent_blockhash is not a recent block's hash on this fork
  insufficient_funds_for_fee,  // the fee payer cannot pay the fee: nothing changed
  insufficient_funds,          // a transfer overdraws its source: fee charged, no transfer
  unknown_program,             // an instruction's program is not the system program
  invalid_instruction,         // a system instruction that is not a well-formed transfer
  account_table_full,          // the bank's tables cannot hold what landing needs: nothing
                               // changed
  already_processed,           // the signature landed on this fork already: nothing changed
                               // (a leader never records one)
};
constexpr std::size_t tx_result_count =
    static_cast<std::size_t>(tx_result::already_processed) + 1;

// The enumerator's name, for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(tx_result result) noexcept;

// Per-tile execution counters: plain integers, written only by the tile that owns them.
struct execution_counters {
  std::array<std::uint64_t, tx_result_count> by_result{};
  std::uint64_t fees_collected_lamports = 0;
  std::uint64_t lock_conflicts = 0;  // try_lock() failures (counted by the caller)

  [[nodiscard]] std::uint64_t count(tx_result result) const noexcept {
    return by_result[static_cast<std::size_t>(result)];
  }
  [[nodiscard]] std::uint64_t executed() const noexcept;
  void add(const execution_counters& other) noexcept;
};

// What a transaction's recent blockhash is to a blockhash_queue.
enum class blockhash_age : std::uint8_t {
  recent,   // the hash of one of the last max_age_slots slots: acceptable
  too_old,  // the hash of a remembered slot max_age_slots or more behind the newest one
  unknown,  // no remembered slot has this hash (never registered, or older than the history)
};

// The hashes of the most recent slots; a transaction must name one of the last
// max_age_slots. The queue remembers the last `history_slots` registered slots, so a hash
// that aged out can be told from one that was never a slot's (a stale client from a wrong
// cluster or garbage): the dedup tile keeps more than max_age_slots to report the two apart;
// bank::bank_forks keeps its rooted blocks' hashes in one.
class blockhash_queue {
 public:
  static constexpr std::size_t max_age_slots = 150;
  static constexpr std::size_t max_history_slots = 1 << 15;  // ring position + 1 fits a u16

  // Allocates for `history_slots` hashes, clamped to [max_age_slots, max_history_slots].
  explicit blockhash_queue(std::size_t history_slots = max_age_slots);

  // Records the hash of `slot` (slots must not decrease), forgetting the oldest remembered
  // slot when the history is full. Not concurrent with age() / is_recent().
  void register_hash(std::uint64_t slot, const crypto::hash32& hash) noexcept;
  // recent iff hash was registered for a slot s with newest_slot - s < max_age_slots;
  // too_old iff it is remembered for older slots only; unknown otherwise.
  [[nodiscard]] blockhash_age age(const crypto::hash32& hash) const noexcept;
  [[nodiscard]] bool is_recent(const crypto::hash32& hash) const noexcept {
    return age(hash) == blockhash_age::recent;
  }
  // The newest remembered slot registered with `hash`; false if none.
  [[nodiscard]] bool slot_of(const crypto::hash32& hash, std::uint64_t& slot) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t history_slots() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::uint64_t slot = 0;
    crypto::hash32 hash{};
  };
  void erase_from_index(std::size_t position) noexcept;

  std::vector<entry> entries_;  // a ring of history_slots entries
  // A linear-probing index over the ring, keyed by the first 8 bytes of each hash, so a lookup
  // is a probe or two instead of a scan. index_ holds ring position + 1, 0 = empty; at least
  // 1.5 slots per entry (256 for 150).
  std::vector<std::uint64_t> prefixes_;  // first 8 bytes of each entry's hash
  std::vector<std::uint16_t> index_;
  std::size_t index_mask_ = 0;
  std::size_t next_ = 0;  // ring position of the next insertion
  std::size_t size_ = 0;
  std::uint64_t newest_slot_ = 0;
};

// The bank-hash bytes of a block (bank::bank_forks::freeze; replay and the ledger compare them):
//   SHA-256( count u64 | { pubkey[32] | lamports u64 } × count | last_poh[32] )  (integers LE)
// Call add() exactly `count` times, in ascending pubkey order, then finish().
class bank_hasher {
 public:
  explicit bank_hasher(std::size_t count) noexcept;
  void add(const crypto::pubkey& key, std::uint64_t lamports) noexcept;
  [[nodiscard]] crypto::hash32 finish(const crypto::hash32& last_poh) noexcept;

 private:
  crypto::sha256_stream stream_;
};

}  // namespace riptide::txn
