#pragma once
// Bank forks: the accounts of every block a node holds, one bank per block, on top of one
// rooted store. Pure logic: no threads of its own, no clocks, no I/O.
//
// The model
//   - A *bank* is the state after one block: {slot, parent, block id, blockhash (the block's
//     last PoH hash), bank hash, tick height, frozen / dead} and the accounts that block
//     changed. Banks are keyed by block id, not slot, so two blocks for one slot coexist.
//   - The *root* bank's state is the rooted store. A read on bank B walks the account's
//     versions (newest first) and takes the first one written by B or one of B's unrooted
//     ancestors (an ancestor bitset per bank: one bit test per version), else the rooted
//     value. In steady state an account has 0-2 versions, so a read through 32 unrooted banks
//     costs about what a rooted read does (bench_bank).
//   - set_root(r) folds the versions of the banks from the old root down to r into the
//     rooted store (in slot order), drops every bank that does not descend from r, and frees
//     their versions and signature statuses.
//   - Replay protection per fork. Each bank sees the blockhashes of its own ancestors: a
//     transaction's recent blockhash must be the blockhash of an ancestor of the executing
//     bank (or a rooted block, or the genesis hash) whose slot is fewer than
//     txn::blockhash_queue::max_age_slots (150) slots behind the bank's parent. And a
//     signature lands at most once per fork: the status cache remembers every signature that
//     landed (ok, or failed with its fee charged) with the bank it landed in; a transaction
//     whose first signature landed in an ancestor of (or in) the executing bank, or in a
//     rooted bank of the last 150 slots, is refused as already_processed and changes nothing.
//     Landing means recorded: ok, or any failure after the fee check (whether or not the fee
//     was above zero). The status key is the whole first signature.
//     The same transaction may land once on each of two forks.
//
//     root ── 10 ── 11 ── 12          a transfer in 12 is invisible to 13;
//              └─── 13                set_root(11) folds 10, 11, and drops 13.
//
//   - Votes per fork. The validators whose votes count (add_voter, in a fixed order: the
//     voter index) each have a vote state on every bank: the tower of their newest vote that
//     landed on that bank's fork (vote_state). A vote transaction (consensus/vote_tx.hpp)
//     executes like any other (blockhash, signature, fee from the voter's own balance), and
//     lands only if it decodes, its voter is known, and consensus::check_tower_sync accepts
//     it against the voter's vote state on the executing bank and that bank's ancestors
//     (their slots and bank hashes); otherwise it fails with invalid_instruction, fee
//     charged. set_root folds the vote states of the rooted path like balances, and keeps
//     the rooted slots' bank hashes for consensus::max_vote_age_slots (Agave's SlotHashes),
//     so a vote for a slot that is rooted already is still checked. The bank hash does not
//     cover vote states yet.
//
// Memory: everything is sized by forks_config in the constructor (std::invalid_argument on
// a bad config) and nothing allocates afterwards: accounts (max_accounts; an account created
// on a fork that is later pruned keeps its place, with balance 0), versions held by
// unrooted banks (max_versions), live banks (max_banks), signature statuses (max_statuses),
// rooted blockhash history, freeze()'s sort scratch (16 bytes per max_versions). A transaction that would need more than is left is refused as
// account_table_full and changes nothing (counted); stats() says how full each table is.
//
// Threads
//   - Quiescent (one thread, no execute() in flight on any bank): credit(), new_bank(),
//     freeze(), mark_dead(), set_root(), and every read of bank_info. The node calls them at
//     slot boundaries (the replay tile, or the leader after its bank tiles drained).
//   - Hot path (any number of threads, one unfrozen bank each or the same one):
//       held_locks held;
//       if (forks.try_lock(tx, held)) { r = forks.execute(bank, tx, counters); forks.unlock(held); }
//     Locks are per account stripe (txn::account_locks: writable exclusive, readonly shared, all
//     or nothing); a transaction touches only the versions and statuses of accounts and a
//     signature its locks cover (the same signature means the same fee payer), so disjoint
//     transactions run in parallel without data races.
//   - balance() may be called under the account's lock, from the quiescent thread, or from
//     any thread (the HTTP API) for a bank that stays live during the call (the caller's
//     protocol: say, the root or a bank it knows is not being pruned): such a read retries
//     while a set_root is folding, so it returns a value the account had on that bank's fork.
//     (The retry is a seqlock read ordered by acquire loads: exact on x86; on weaker memory
//     models a read overlapping a fold may see an older value of the same fork.)
// Failures: the hot path is noexcept and returns a txn::tx_result; quiescent calls return
// false or no_bank on bad arguments or full tables and change nothing then.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <riptide/consensus/vote.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/txn/account_locks.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::bank {

using block_id = crypto::hash32;
using bank_index = std::uint32_t;  // a live bank's place in the fork table (reused after it is dropped)
inline constexpr bank_index no_bank = 0xFFFF'FFFFU;
inline constexpr std::size_t max_voter_count = 4096;  // forks_config::max_voters at most

struct forks_config {
  std::size_t max_accounts = std::size_t{1} << 20;  // distinct accounts ever (>= 1, <= 2^30)
  std::size_t max_banks = 1024;                     // live banks, root included ([2, 4096])
  std::size_t max_versions = std::size_t{1} << 20;  // account versions of unrooted banks (>= 64)
  // Landed signatures kept (>= 64, <= 2^30): the window is 150 slots (60 s), so 2^18 holds
  // 4 300 landed transactions a second; ~88 bytes each, in a table of twice as many
  // entries (load <= 1/2) plus a copy for rebuilds.
  std::size_t max_statuses = std::size_t{1} << 18;
  std::size_t lock_stripes = std::size_t{1} << 14;  // lock words; rounded up to a power of two
  std::uint64_t lamports_per_signature = 5000;
  // Validators whose votes each bank keeps (>= 1, <= 4096): max_banks x max_voters vote
  // states of ~600 bytes each (1024 x 16: ~10 MB).
  std::size_t max_voters = 16;
  std::uint64_t hash_seed = 0x9e3779b97f4a7c15ULL;  // table layout only, never a result
};

struct bank_info {
  std::uint64_t slot = 0;
  std::uint64_t parent_slot = 0;  // the parent's slot (the genesis root: 0)
  bank_index parent = no_bank;
  block_id id{};
  crypto::hash32 blockhash{};  // the block's last PoH hash (frozen banks; the root at genesis:
                               // the chain start hash)
  crypto::hash32 bank_hash{};  // frozen banks
  std::uint64_t tick_height = 0;
  bool frozen = false;
  bool dead = false;
  std::uint64_t changed_accounts = 0;  // accounts with a version in this bank
  std::uint64_t landed = 0;            // transactions that landed (statuses)
};

struct forks_stats {
  std::size_t banks = 0, max_banks = 0;
  std::size_t accounts = 0, max_accounts = 0;
  std::size_t versions = 0, max_versions = 0;
  std::size_t statuses = 0, max_statuses = 0;
  std::uint64_t refused_full = 0;   // account_table_full results
  std::uint64_t roots = 0;          // set_root calls that moved the root
  std::uint64_t pruned_banks = 0;   // banks dropped by set_root (not on the rooted path)
  std::uint64_t rooted_slot = 0;
  std::uint64_t status_rebuilds = 0;  // times the status table was rebuilt without tombstones
};

class bank_forks {
 public:
  // The genesis root: a frozen bank for "before slot 0" (slot 0, blockhash = start_hash), so
  // slot 0's block is its child. Throws std::invalid_argument on a bad config.
  bank_forks(const forks_config& config, const crypto::hash32& start_hash);
  bank_forks(const bank_forks&) = delete;
  bank_forks& operator=(const bank_forks&) = delete;
  ~bank_forks();

  // ---- quiescent
  // Adds to a rooted balance (genesis funding, before the first new_bank). False if a block
  // exists already, the store is full, or the supply would exceed 2^64 - 1.
  [[nodiscard]] bool credit(const crypto::pubkey& key, std::uint64_t lamports) noexcept;
  // A child of `parent` (frozen, not dead) for block `id` at `slot` (> the parent's slot; the
  // genesis root's first child may have slot 0). no_bank if the parent is not a live frozen
  // bank, the slot does not follow it, a bank with this block id exists, or max_banks are live.
  [[nodiscard]] bank_index new_bank(bank_index parent, std::uint64_t slot, const block_id& id) noexcept;
  // Ends the block: records its last PoH hash (the blockhash its children see) and tick
  // height, computes and returns its bank hash (txn::bank_hasher over the accounts the block
  // changed with their values in this bank, then last_poh). False on a bank that is not live,
  // frozen already, or dead.
  [[nodiscard]] bool freeze(bank_index bank, const crypto::hash32& last_poh, std::uint64_t tick_height,
                            crypto::hash32& bank_hash) noexcept;
  // Renames a live bank's block id: a leader creates its own block's bank before the block
  // exists (with a placeholder id) and names it by the block once it is frozen, as replay
  // does. False, changing nothing, if the bank is not live or another live bank has `id`.
  [[nodiscard]] bool set_block_id(bank_index bank, const block_id& id) noexcept;
  // A block that failed replay, in execution or after freezing (its bank hash is not the
  // leader's): it can never be frozen (again) nor rooted, nor parent anything. Its versions
  // and statuses are dropped now; the bank stays (so its block id is known) until set_root
  // prunes it. Nothing changes for the root, a bank that is not live, or one that parents a
  // bank already.
  void mark_dead(bank_index bank) noexcept;
  // Makes `bank` (frozen, live, descending from the root) the root: folds, prunes, frees
  // (see the top). False, changing nothing, otherwise.
  [[nodiscard]] bool set_root(bank_index bank) noexcept;
  // A validator whose votes count, next in voter order (before the first vote executes).
  // False if it is one already or max_voters are registered.
  [[nodiscard]] bool add_voter(const crypto::pubkey& identity) noexcept;
  [[nodiscard]] std::size_t voters() const noexcept { return voters_.size(); }
  [[nodiscard]] std::optional<std::size_t> voter_index(const crypto::pubkey& identity) const noexcept;
  // The newest vote of voter `voter` that landed on `bank`'s fork (the bank, its unrooted
  // ancestors, or the rooted state); nullopt if none. Quiescent, or under the voter's lock.
  [[nodiscard]] std::optional<consensus::tower_sync> vote_state(bank_index bank, std::size_t voter) const noexcept;

  [[nodiscard]] bank_index root() const noexcept { return root_; }
  [[nodiscard]] bank_index find(const block_id& id) const noexcept;
  // The live, frozen, not dead bank of `slot`'s block (the root included once it is a block,
  // never the genesis root), no_bank if none. A cluster
  // makes at most one block per slot, so replay finds a block's parent by the slot its slot
  // end names. A scan of the bank table: once per replayed block, not per transaction.
  [[nodiscard]] bank_index find_frozen(std::uint64_t slot) const noexcept;
  // A live bank's facts (bank must be live).
  [[nodiscard]] const bank_info& info(bank_index bank) const noexcept;
  [[nodiscard]] bool live(bank_index bank) const noexcept;
  // true iff a is b or one of b's unrooted ancestors (the root counts as an ancestor of all).
  [[nodiscard]] bool is_ancestor(bank_index a, bank_index b) const noexcept;
  // Live banks, in table order.
  [[nodiscard]] std::vector<bank_index> banks() const;
  [[nodiscard]] forks_stats stats() const noexcept;
  [[nodiscard]] std::uint64_t total_supply() const noexcept { return total_supply_; }

  // ---- hot path
  [[nodiscard]] bool try_lock(const txn::transaction_view& tx, txn::held_locks& held) noexcept;
  void unlock(txn::held_locks& held) noexcept;
  // Executes tx on `bank` (live, not frozen, not dead; the caller holds tx's locks) by the
  // rules in txn/execution.hpp: recent blockhash per fork, already_processed per fork, fee,
  // instructions, transfers, then capacity (account_table_full: nothing changed). On ok or a
  // failure that charged the fee, the signature lands in `bank`.
  txn::tx_result execute(bank_index bank, const txn::transaction_view& tx,
                         txn::execution_counters& counters) noexcept;
  // The balance of key as `bank` sees it (see Threads).
  [[nodiscard]] std::uint64_t balance(bank_index bank, const crypto::pubkey& key) const noexcept;
  // The rooted balance of key: any thread, at any time (the same seqlock read as balance(),
  // on the rooted store only, which set_root replaces but never frees).
  [[nodiscard]] std::uint64_t rooted_balance(const crypto::pubkey& key) const noexcept;
  // Quiescent: every account with a non-zero rooted balance, in table order (not sorted).
  void for_each_rooted_account(const std::function<void(const crypto::pubkey&, std::uint64_t)>& fn) const;
  [[nodiscard]] std::uint64_t lamports_per_signature() const noexcept { return config_.lamports_per_signature; }

 private:
  struct account_entry;
  struct vote_record {
    bool set = false;
    consensus::tower_sync vote;
  };
  class fork_hashes;
  [[nodiscard]] vote_record& vote_slot(bank_index bank, std::size_t voter) noexcept {
    return votes_[std::size_t{bank} * config_.max_voters + voter];
  }
  [[nodiscard]] const vote_record& vote_slot(bank_index bank, std::size_t voter) const noexcept {
    return votes_[std::size_t{bank} * config_.max_voters + voter];
  }
  struct version;
  struct status_entry;
  struct bank_slot;

  [[nodiscard]] std::uint64_t key_hash(const crypto::pubkey& key) const noexcept;
  [[nodiscard]] account_entry* find_account(const crypto::pubkey& key) const noexcept;
  [[nodiscard]] account_entry* find_or_insert_account(const crypto::pubkey& key) noexcept;
  [[nodiscard]] std::uint64_t read(bank_index bank, const account_entry& entry) const noexcept;
  [[nodiscard]] bool has_version(bank_index bank, const account_entry& entry) const noexcept;
  [[nodiscard]] bool recent_blockhash(bank_index bank, const crypto::hash32& hash) const noexcept;
  // `hash` is status_hash(signature), computed once per transaction by execute().
  [[nodiscard]] bool landed(bank_index bank, std::span<const std::uint8_t> signature,
                            std::uint64_t hash) const noexcept;
  [[nodiscard]] bool reserve(std::atomic<std::size_t>& used, std::size_t max, std::size_t n) noexcept;
  [[nodiscard]] std::uint64_t status_hash(std::span<const std::uint8_t> signature) const noexcept;
  void write(bank_index bank, account_entry& entry, std::uint64_t lamports) noexcept;
  void add_status(bank_index bank, std::span<const std::uint8_t> signature, std::uint64_t hash) noexcept;
  void drop_bank_state(bank_index bank, bool fold) noexcept;
  void free_bank(bank_index bank) noexcept;
  void expire_statuses() noexcept;
  void rebuild_statuses() noexcept;
  [[nodiscard]] std::uint64_t* ancestors(bank_index bank) noexcept {
    return ancestor_bits_.get() + std::size_t{bank} * ancestor_words_;
  }
  [[nodiscard]] const std::uint64_t* ancestors(bank_index bank) const noexcept {
    return ancestor_bits_.get() + std::size_t{bank} * ancestor_words_;
  }

  forks_config config_;
  std::size_t account_mask_ = 0, status_mask_ = 0;
  std::unique_ptr<txn::account_locks> locks_;
  std::unique_ptr<account_entry[]> accounts_;
  // Versions: a pool; free ones are a ring of indices (popped by execute through free_head_,
  // pushed back by set_root), reserved before use so a transaction never runs out midway.
  std::unique_ptr<version[]> versions_;
  std::unique_ptr<std::uint32_t[]> free_versions_;
  std::atomic<std::size_t> free_head_{0};
  std::size_t free_tail_ = 0;  // quiescent side
  std::atomic<std::size_t> versions_used_{0};
  std::unique_ptr<status_entry[]> statuses_;
  std::atomic<std::size_t> statuses_used_{0};  // ready entries (and claims in flight)
  std::size_t status_tombstones_ = 0;
  // rebuild_statuses() scratch, sized at construction: the live statuses, and where each
  // table index went.
  struct status_copy;
  std::unique_ptr<status_copy[]> status_scratch_;
  std::unique_ptr<std::uint32_t[]> status_moved_;
  std::unique_ptr<bank_slot[]> banks_;
  std::vector<crypto::pubkey> voters_;          // reserved for max_voters
  std::unique_ptr<vote_record[]> votes_;        // max_banks x max_voters: each bank's new votes
  std::unique_ptr<vote_record[]> rooted_votes_;  // max_voters
  std::unique_ptr<std::uint64_t[]> ancestor_bits_;
  std::size_t ancestor_words_ = 0;
  std::vector<bank_index> free_banks_;  // reserved at construction
  struct freeze_item {
    const crypto::pubkey* key;
    std::uint64_t lamports;
  };
  std::vector<freeze_item> freeze_items_;  // freeze()'s scratch, reserved for max_versions
  std::size_t live_banks_ = 0;
  bank_index root_ = no_bank;
  // Rooted banks' statuses stay findable for max_age_slots: (slot, first status) per rooted
  // bank, oldest first, a ring of max_banks + max_age_slots entries.
  struct rooted_statuses {
    std::uint64_t slot = 0;
    std::uint32_t head = 0;
  };
  std::vector<rooted_statuses> rooted_statuses_;
  std::size_t rooted_statuses_head_ = 0, rooted_statuses_count_ = 0;
  txn::blockhash_queue rooted_hashes_;
  // Rooted slots' bank hashes, by slot modulo the ring's size (consensus::max_vote_age_slots).
  struct rooted_bank_hash {
    std::uint64_t slot = ~std::uint64_t{0};  // none
    crypto::hash32 hash{};
  };
  std::unique_ptr<rooted_bank_hash[]> rooted_bank_hashes_;
  std::atomic<std::uint64_t> fold_generation_{0};  // odd while set_root folds (see balance)
  std::atomic<std::size_t> num_accounts_{0};
  std::atomic<std::uint64_t> refused_full_{0};
  std::uint64_t total_supply_ = 0;
  std::uint64_t roots_ = 0, pruned_banks_ = 0, status_rebuilds_ = 0;
};

// The fork a leader builds on until votes decide (the one place that rule lives, so Tower
// BFT's fork choice replaces it alone): the live, frozen, not dead bank of the highest slot;
// between two blocks of one slot, the lower block id (bytes compared as unsigned). The root
// when no other bank qualifies. Quiescent, like every read of bank_info; O(max_banks).
[[nodiscard]] bank_index highest_frozen_bank(const bank_forks& forks) noexcept;

}  // namespace riptide::bank
