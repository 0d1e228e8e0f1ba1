#pragma once
// The bank: the accounts store, account locks, the recent-blockhash queue, transfer execution
// and the per-slot bank hash. Pure logic: no threads, no clocks, no I/O.
//
// Contract
// - Memory: everything is sized from bank_config in the constructor (which throws
//   std::invalid_argument on a bad config); nothing allocates afterwards. A bank is neither
//   copyable nor movable (bank tiles hold a reference to one shared bank).
// - Start-up (one thread, before any tile runs): credit() for genesis funding,
//   register_blockhash() for the genesis hash.
// - Bank tiles (any number of threads, concurrently):
//     held_locks held;
//     if (bank.try_lock(tx, held)) { result = bank.execute(tx, my_counters); bank.unlock(held); }
//   (try_lock(tx) / unlock(tx) do the same but hash the account keys again to unlock.)
//   try_lock() takes every writable account of tx exclusively and every readonly account
//   shared, all or nothing: on false no lock of tx is held (the caller retries later or
//   elsewhere). execute() must only be called on a tx this thread holds locked; then it only
//   touches the balances of tx's writable accounts, which no other thread can touch, so
//   disjoint transactions execute in parallel without data races. Counters are caller-owned
//   (one execution_counters per tile, no shared cache line on the hot path).
// - Slot boundary (quiescent: no thread between try_lock and unlock, and the caller has
//   synchronized with the bank tiles, e.g. through the ring that says they are done):
//   bank_hash(), begin_slot(), register_blockhash(), total_lamports(), balance().
//   blockhash_queue::is_recent() may be called concurrently by many threads as long as no
//   register_blockhash() runs at the same time.
// - Failures: the hot path is noexcept. try_lock() returns false on a conflict; execute()
//   returns a tx_result (ok or exactly one failure reason) and counts it.
//
// Locks: txn::account_locks (striped, all or nothing; why and the memory ordering are in
// account_locks.hpp). A stripe is only a lock: two tiles using one word after the other move
// its cache line, which is what limits 2-tile scaling today (perf/bank.md: route transactions
// to tiles by the stripe hash to keep words on one core).
//
// Accounts store: open addressing with linear probing over a power-of-two table of at least
// 2 * max_accounts slots, keyed by xxh3(pubkey, seed); insert-only (accounts are never
// removed). Slots are claimed with a CAS on a per-slot state word (empty -> writing ->
// ready, the last a release store), so lookups and inserts of different keys from different
// threads are race-free; a balance is plain memory guarded by the account's stripe lock.
//
// Execution of one tx, in this order (fees burn into the counters' fees_collected_lamports):
//   1. recent_blockhash not in the queue                  -> blockhash_too_old    (no change)
//   2. fee = lamports_per_signature * num_signatures > payer's balance
//                                                         -> insufficient_funds_for_fee
//                                                                                 (no change)
//   3. the fee is charged; then every instruction is decoded:
//      program is not the system program                  -> unknown_program      (fee only)
//      system program but not a well-formed transfer      -> invalid_instruction  (fee only)
//   4. transfers are applied in order to a private copy of the balances (so a later transfer
//      may spend what an earlier one received); any overdraft -> insufficient_funds (fee only)
//   5. a receiver that does not exist yet is inserted; store full -> account_table_full
//      (fee only). Otherwise every changed balance is committed: ok.
// Balances never go negative and never overflow: credit() keeps the total supply <= 2^64-1.

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/txn/account_locks.hpp>
#include <riptide/txn/transaction.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace riptide::txn {

enum class tx_result : std::uint8_t {
  ok,
  blockhash_too_old,           // recent_blockhash is not one of the last 150 slots' hashes
  insufficient_funds_for_fee,  // the fee payer cannot pay the fee: nothing changed
  insufficient_funds,          // a transfer overdraws its source: fee charged, no transfer
  unknown_program,             // an instruction's program is not the system program
  invalid_instruction,         // a system instruction that is not a well-formed transfer
  account_table_full,          // a new receiver could not be stored: fee charged, no transfer
                               // (bank::bank_forks: a table is full; nothing changed)
  already_processed,           // bank::bank_forks: the signature landed on this fork already;
                               // nothing changed (a leader never records one)
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
// cluster or garbage). The bank keeps no more than it needs; the dedup tile keeps more to
// report the two apart.
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
  // 1.5 slots per entry (256 for the bank's 150).
  std::vector<std::uint64_t> prefixes_;  // first 8 bytes of each entry's hash
  std::vector<std::uint16_t> index_;
  std::size_t index_mask_ = 0;
  std::size_t next_ = 0;  // ring position of the next insertion
  std::size_t size_ = 0;
  std::uint64_t newest_slot_ = 0;
};

struct bank_config {
  std::size_t max_accounts = 1 << 20;         // accounts the store can hold (>= 1)
  std::size_t lock_stripes = 1 << 14;  // lock words (64 B each); rounded up to a power of two
  std::uint64_t lamports_per_signature = 5000;  // * max_signatures must fit a u64
  std::uint64_t hash_seed = 0x9e3779b97f4a7c15ULL;  // set per process from a secret in nodes
};

// The bank-hash bytes, written once for this bank and bank::bank_forks (which must agree):
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

// An account's balance after a transaction changed it (what the slot's bank hash is built from).
struct account_delta {
  crypto::pubkey key{};
  std::uint64_t lamports = 0;
};
// Every balance one execute() changed, in account order (at most max_accounts).
struct account_changes {
  std::array<account_delta, max_accounts> items;
  std::size_t count = 0;
  void add(const crypto::pubkey& key, std::uint64_t lamports) noexcept {
    items[count++] = account_delta{key, lamports};
  }
};

class bank {
 public:
  static constexpr std::uint32_t writer_bit = account_locks::writer_bit;

  explicit bank(const bank_config& config);
  bank(const bank&) = delete;
  bank& operator=(const bank&) = delete;
  ~bank();

  // ---- start-up (single thread)
  // Adds lamports to key's balance, creating the account. False (nothing changed) if the store
  // is full or the total supply would exceed 2^64 - 1.
  [[nodiscard]] bool credit(const crypto::pubkey& key, std::uint64_t lamports) noexcept;
  void register_blockhash(std::uint64_t slot, const crypto::hash32& hash) noexcept {
    blockhashes_.register_hash(slot, hash);
  }
  [[nodiscard]] const blockhash_queue& blockhashes() const noexcept { return blockhashes_; }

  // ---- hot path (any thread)
  [[nodiscard]] bool try_lock(const transaction_view& tx) noexcept;
  void unlock(const transaction_view& tx) noexcept;
  // Same, remembering the lock words: on true, held names them; on false, held is empty.
  [[nodiscard]] bool try_lock(const transaction_view& tx, held_locks& held) noexcept;
  // Releases what held names (held came from a successful try_lock) and empties it.
  void unlock(held_locks& held) noexcept;
  // tx must be locked by the calling thread (try_lock returned true).
  tx_result execute(const transaction_view& tx, execution_counters& counters) noexcept;
  // Same, and fills `changes` (when not null) with every balance it changed: exactly the
  // accounts bank_hash() will count as touched by this tx.
  tx_result execute(const transaction_view& tx, execution_counters& counters,
                    account_changes* changes) noexcept;
  // Same, checking the recent blockhash against `recent` instead of the bank's own queue
  // (bank tiles keep one queue each, fed by PoH, so none is written while others read).
  tx_result execute(const transaction_view& tx, execution_counters& counters,
                    account_changes* changes, const blockhash_queue& recent) noexcept;

  // ---- slot boundary (quiescent)
  // SHA-256 over the accounts changed since begin_slot(), sorted by key, then last_poh:
  //   count u64 | { pubkey[32] | lamports u64 } * count | last_poh[32]   (integers LE)
  [[nodiscard]] crypto::hash32 bank_hash(const crypto::hash32& last_poh) noexcept;
  // Forgets the set of changed accounts (call after bank_hash()).
  void begin_slot() noexcept;
  [[nodiscard]] std::size_t touched_accounts() const noexcept {
    return touched_count_.load(std::memory_order_relaxed);
  }
  // balance() and total_lamports() may also be called from any thread while bank tiles run
  // (the HTTP API): balances are written with relaxed atomic stores, so such a read is
  // race-free and sees some recent committed value (not a snapshot across accounts).
  [[nodiscard]] std::uint64_t balance(const crypto::pubkey& key) const noexcept;
  [[nodiscard]] std::size_t num_accounts() const noexcept {
    return num_accounts_.load(std::memory_order_relaxed);
  }
  // Sum of all balances (walks the whole table).
  [[nodiscard]] std::uint64_t total_lamports() const noexcept;
  // Sum of every credit() so far: total_lamports() + fees collected by all counters.
  [[nodiscard]] std::uint64_t total_supply() const noexcept { return total_supply_; }
  [[nodiscard]] std::uint64_t lamports_per_signature() const noexcept {
    return lamports_per_signature_;
  }
  // Number of stripes currently held (exclusively or shared); for tests.
  [[nodiscard]] std::size_t held_stripes() const noexcept;

 private:
  struct account_slot {
    std::atomic<std::uint32_t> state{0};  // slot_empty / slot_writing / slot_ready
    std::uint32_t touched_epoch = 0;      // == epoch_ iff in the touched list this slot
    alignas(8) std::uint64_t lamports = 0;  // atomic_ref access (see balance())
    crypto::pubkey key{};
  };

  static std::uint64_t load_lamports(const account_slot& slot) noexcept {
    // atomic_ref<const T> is C++26; the load does not write.
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(slot.lamports))
        .load(std::memory_order_relaxed);
  }
  static void store_lamports(account_slot& slot, std::uint64_t lamports) noexcept {
    std::atomic_ref<std::uint64_t>(slot.lamports).store(lamports, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t key_hash(const crypto::pubkey& key) const noexcept;
  [[nodiscard]] account_slot* find(const crypto::pubkey& key) const noexcept;
  [[nodiscard]] account_slot* find_or_insert(const crypto::pubkey& key) noexcept;
  void mark_touched(account_slot& slot) noexcept;

  std::size_t max_accounts_;
  std::size_t slot_mask_;
  std::uint64_t lamports_per_signature_;
  std::uint64_t seed_;
  account_locks locks_;
  std::unique_ptr<account_slot[]> slots_;
  std::unique_ptr<std::uint32_t[]> touched_;  // slot indices, max_accounts_ long
  std::atomic<std::size_t> touched_count_{0};
  std::atomic<std::size_t> num_accounts_{0};
  std::uint32_t epoch_ = 1;
  std::uint64_t total_supply_ = 0;
  blockhash_queue blockhashes_;
};

}  // namespace riptide::txn
