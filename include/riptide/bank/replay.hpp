#pragma once
// Replay: the one function that applies a slot's ledger records to a bank. Everything that
// re-executes a slot goes through it: a follower replaying what the leader sent
// (tvu::replay_tile), a node rebuilding its bank from its own ledger at start
// (replay_ledger below), and `riptide ledger verify`. So every node computes identical bank
// hashes through the same code, and a ledger that verifies is one a node would resume.
//
// What a slot is: its ledger records, each encoded as on disk (ledger::encode_record: header
// with crc32c, payload, zero padding to 8), concatenated (the *slot stream*):
//
//   slot 0 of a chain:  [chain_start slot_meta] [start_state] [entry_batch]* [slot_end slot_meta]
//   any other slot:                                           [entry_batch]* [slot_end slot_meta]
//
// A block is replayed onto its parent bank (replay_on(); replay() is the same onto the last
// block replayed, for a single chain). It starts from the parent's last PoH hash and tick
// height, and skipped slots between them are ticked through by the block's leader: a block
// for slot S on a parent at slot P carries (S - P) x ticks_per_slot ticks (slot 0, on the
// genesis root, ticks_per_slot).
//
// replay_on() does, in this order:
//   1. Checks that do not touch the bank: every record parses (ledger::parse_record, no
//      trailing bytes) and carries `slot`; the chain start is the very first record of slot 0
//      and matches the configured timing and start hash; the start state is the second and
//      decodes (and, unless the replayer credits it, lists exactly the configured accounts);
//      every entry batch decodes; ticks come every hashes_per_tick hashes (no entry passes a
//      due tick) and the block holds exactly the ticks its slot distance from the parent
//      requires (above), ending on its last tick;
//      every transaction parses, has a tx_result byte, and its signatures verify; each mixin
//      is crypto::entry_mixin of its entry's signatures; the PoH chain re-hashes from the
//      parent's last hash (crypto::verify_entries, the multi-lane path, on poh_threads cores); the slot_end
//      carries the chain's last hash, the tick height, the timing and the parent the block was
//      replayed on (and the expected leader, when the caller gives one). The first failure is
//      reported, in this order: record by record (parse, slot, chain start, start state,
//      batch, ticks, transaction parse and result byte, mixin), then the tick count, PoH, the
//      slot end, and last the signatures (the costliest check runs only on a slot that is
//      otherwise sound).
//   2. Execution in a new bank of the bank forks (bank_forks.hpp), a child of the parent
//      bank: slot 0 credits the start state first when the replayer is the one that funds
//      the bank (a tool with only the ledger); each transaction is locked, executed and
//      unlocked in ledger order, with the fork's rules (recent blockhash of an ancestor, a
//      signature at most once per fork), and its result compared with the recorded result
//      byte; then the bank is frozen and its hash (over the accounts the slot changed and the
//      slot's last PoH hash: the leader's bank tiles execute into a bank of the same forks,
//      frozen the same way) compared with the slot_end's when that is non-zero (ledgers
//      written before every leader froze a bank per slot may hold zero: not checked).
//   On success the block's bank is frozen (result.bank), replay()'s chain state advances
//   (next_slot() = slot + 1, last_hash(), tick_height(), tip()) and records() lists the slot's records, views into `stream`, in stream order: append each
//   with ledger.append(v.type, v.slot, v.payload) and the follower's ledger is byte-identical
//   to the leader's record by record.
//   On a failure in step 1 nothing changed: the caller may retry the slot with other bytes
//   (say, after repair). A failure in step 2 (result_mismatch, bank_hash_mismatch,
//   bad_start_state when crediting) leaves the block's bank with part of the slot applied:
//   it is marked dead (bank_forks::mark_dead), a block replayed onto it fails with
//   dead_chain, and the other forks go on. For replay()'s single chain the tip stays at the
//   dead block's parent, so a block of a later slot built on that parent replays; only a
//   slot 0 that failed in execution after its start state was credited (the rooted store
//   holds it) makes dead() true, and every later replay() then fails with dead_chain.
//
// Contract
//   - Pure: no threads, no I/O, no clocks (verify_entries may fan out over poh_threads
//     threads of its own and joins them before returning). One thread owns a replayer and
//     its bank forks while it replays (new_bank, freeze and set_root need quiescence); other
//     threads may read bank_forks::rooted_balance() meanwhile.
//   - Memory: the record list, the slot's decoded entries and PoH entries, the signature list
//     and a pubkey cache are allocated in the constructor from slot_replay_limits. On success
//     replay() of a slot other than 0 allocates nothing unless a slot exceeds those limits
//     (then the list grows once and stays grown: the limits are sizes, not rules). The detail
//     string allocates only on failure. records() views stay valid while `stream` lives and
//     until the next replay().
//   - Failures: replay() is noexcept apart from the failure detail and slot 0's start state
//     (std::bad_alloc there would terminate); the constructor throws std::invalid_argument on
//     a bad config.
//   - replay_ledger() replays a whole ledger through one replayer; slot_stream() copies a
//     slot's records out of a ledger's mapping, byte for byte. Both allocate (start-up, tools).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/bank/bank_forks.hpp>
#include <riptide/txn/execution.hpp>

namespace riptide::bank {

enum class replay_error : std::uint8_t {
  none,
  bad_record,              // parse_record failed, trailing bytes, or a record type not in slots
  wrong_slot,              // a record's slot != the slot being replayed
  unexpected_chain_start,  // a chain start anywhere but first in slot 0 of a fresh chain
  missing_chain_start,     // slot 0 of a fresh chain does not begin with the chain start
  bad_chain_start,         // chain start timing, hash, tick height or bank hash not as expected
  bad_start_state,         // slot 0's second record is not a start state that decodes, lists
                           // other accounts than configured, or cannot be credited
  bad_entry_batch,         // ledger::decode_batch rejected a batch
  poh_mismatch,            // an entry's hash is not what re-hashing from its predecessor gives
  bad_tick,                // hashes per tick, an entry past a due tick, ticks per slot
  bad_mixin,               // mixin != entry_mixin(signatures of the entry's transactions)
  tx_parse,                // a transaction does not parse
  bad_signature,           // a transaction's signatures do not verify
  result_mismatch,         // a recorded result byte is not a tx_result, or re-execution differs
  missing_slot_end,        // the stream ends before a slot_end record
  bad_slot_end,            // slot_meta does not decode, is not a slot end, or its hash, tick
                           // height or timing differs from the replayed chain
  records_after_slot_end,  // bytes or records after the slot_end
  bank_hash_mismatch,      // the slot_end's (non-zero) bank hash differs from the replayed one
  wrong_parent,            // slot != next_slot(), or parent != the last replayed slot
  wrong_leader,            // the slot end names another leader than the caller expects
  bank_table_full,         // the bank forks refused the block a bank (max_banks live) or its freeze
  dead_chain,              // the parent is a dead block (its execution failed), or replay()'s
                           // chain ended (slot 0's start state could not be credited)
};
constexpr std::size_t replay_error_count = static_cast<std::size_t>(replay_error::dead_chain) + 1;
// The enumerator's name, for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(replay_error error) noexcept;

struct replay_chain_config {
  std::uint64_t hashes_per_tick = 0;  // as the chain start says (0 counts as 1, as in poh)
  std::uint64_t ticks_per_slot = 64;  // > 0
  crypto::hash32 start_hash{};        // the chain start (a cluster's genesis hash)
  // The fee, the balances the bank holds before slot 0 (accounts in ledger::sort_start_state
  // order) and the voters. A node credits the accounts and registers the voters itself
  // (genesis) before any tile runs; slot 0's start_state record must then say exactly this.
  // With credit_start_state the replayer instead credits the bank with whatever the record
  // lists and registers its voters (`ledger verify`: the ledger is all it has;
  // read_start_state() gives the fee to build the bank with), and only the fee is compared.
  ledger::start_state start_state;
  bool credit_start_state = false;
  // Ignore the chain start's hash (the replayer takes it from the ledger): a tool that has no
  // genesis. The timing is then taken from the chain start as well.
  bool any_start_hash = false;
  unsigned poh_threads = 1;  // cores for the PoH re-hash of one slot (>= 1)
};

// Sizes, allocated at construction (see Memory above).
struct slot_replay_limits {
  std::size_t max_records_per_slot = 1024;
  std::size_t max_entries_per_slot = 16384;  // ticks and mixin entries
  std::size_t max_txs_per_entry = 4096;      // signatures of one entry (mixin check)
  std::size_t pubkey_cache_entries = 1 << 14;
};

struct slot_replay_result {
  replay_error error = replay_error::none;
  std::string detail;  // where and why (empty on success)
  std::uint64_t records = 0, entries = 0, ticks = 0, hashes = 0, txs = 0, failed_txs = 0;
  std::array<std::uint64_t, txn::tx_result_count> txs_by_result{};  // index = recorded tx_result
  crypto::hash32 bank_hash{};  // what this node computed (zero if execution did not finish)
  bool bank_hash_checked = false;  // the slot end carried a (non-zero) bank hash to compare
  bank_index bank = no_bank;  // the block's bank: frozen on success, dead after an execution
                              // failure, no_bank when none was made (step 1 failed)
  // The block's bank was there already: this node made the block (a rotating validator's
  // bank tiles executed it into that bank, a child of the same parent, frozen under the
  // block's last PoH hash). Everything but execution was checked (PoH, ticks, signatures,
  // leader, parent), and the bank's hash against the slot end's; nothing ran twice.
  bool adopted = false;
  // adopt() only: the block checked out but has no bank of this node's to adopt (executing
  // it needs the forks quiescent). Nothing changed; replay() it later.
  bool deferred = false;
  [[nodiscard]] bool ok() const noexcept { return error == replay_error::none; }
};

class slot_replayer {
 public:
  // `forks` is fresh (its root the genesis root, no block yet) and holds config.start_state
  // as rooted balances already (nothing else), or nothing at all with credit_start_state.
  // Each replayed slot becomes a bank of `forks`: a child of the last replayed one (tip()),
  // keyed by the slot's last PoH hash (its block id), frozen at the slot end; its bank hash
  // is bank_forks::freeze's, as the leader's for the block it produced. A
  // slot whose execution fails leaves its bank dead (bank_forks::mark_dead). The replayer
  // never roots: the caller calls forks.set_root(), between replays. Throws
  // std::invalid_argument if ticks_per_slot or poh_threads is 0.
  slot_replayer(bank_forks& forks, const replay_chain_config& config, const slot_replay_limits& limits = {});
  slot_replayer(const slot_replayer&) = delete;
  slot_replayer& operator=(const slot_replayer&) = delete;

  // Replays the block of `slot` (its slot stream, see the top of this file) onto `parent`, a
  // live, frozen bank of the forks: the genesis root for slot 0, else a bank of an earlier
  // slot (wrong_parent otherwise; a dead parent: dead_chain). The slot end must name the
  // parent's slot. With `leader` (the schedule's leader of the slot) the slot end must name
  // that leader (wrong_leader otherwise); null: not checked (a tool without the genesis).
  // Changes nothing of replay()'s chain state.
  slot_replay_result replay_on(bank_index parent, std::uint64_t slot, std::span<const std::uint8_t> stream,
                               const crypto::pubkey* leader = nullptr) noexcept;
  // replay_on(tip(), ...) for a single chain: `parent` must be tip()'s slot (0 before slot 0)
  // and `slot` at least next_slot() (wrong_parent otherwise); on success the chain advances.
  slot_replay_result replay(std::uint64_t slot, std::uint64_t parent, std::span<const std::uint8_t> stream,
                            const crypto::pubkey* leader = nullptr) noexcept;

  // Every transaction of the last successful replay, in order: its first signature and the
  // result recorded for it.
  void for_each_tx(const std::function<void(const crypto::signature&, std::uint8_t result)>& fn) const;

  // replay(), but only a block of this node's own whose bank is there already is taken
  // (adopted): it changes no bank, so it may run while the node's bank tiles execute into a
  // child of it. Any other block comes back deferred (nothing changed), or failed.
  slot_replay_result adopt(std::uint64_t slot, std::uint64_t parent, std::span<const std::uint8_t> stream,
                           const crypto::pubkey* leader = nullptr) noexcept;
  // adopt() onto `parent` (replay_on's rules): for a replayer of several forks.
  slot_replay_result adopt_on(bank_index parent, std::uint64_t slot, std::span<const std::uint8_t> stream,
                              const crypto::pubkey* leader = nullptr) noexcept;

  // The last successful replay's records (empty after a failure).
  [[nodiscard]] std::span<const ledger::record_view> records() const noexcept {
    return {records_.data(), records_.size()};
  }
  [[nodiscard]] std::uint64_t next_slot() const noexcept { return next_slot_; }
  [[nodiscard]] const crypto::hash32& last_hash() const noexcept { return last_hash_; }
  [[nodiscard]] std::uint64_t tick_height() const noexcept { return tick_height_; }
  [[nodiscard]] bool dead() const noexcept { return dead_; }
  // The bank of the last slot replayed (the genesis root before slot 0).
  [[nodiscard]] bank_index tip() const noexcept { return tip_; }
  [[nodiscard]] bank_forks& forks() noexcept { return forks_; }
  [[nodiscard]] const replay_chain_config& config() const noexcept { return config_; }

 private:
  replay_error check(std::uint64_t slot, std::uint64_t parent, const crypto::pubkey* leader,
                     std::span<const std::uint8_t> stream, slot_replay_result& r) noexcept;
  replay_error check_entry(const ledger::decoded_entry& d, std::uint64_t slot,
                           slot_replay_result& r) noexcept;
  replay_error check_poh(std::uint64_t slot, slot_replay_result& r) noexcept;
  replay_error execute(std::uint64_t slot, slot_replay_result& r) noexcept;

  bank_forks& forks_;
  bank_index tip_;
  // The block being replayed: its parent bank and where the parent's chain ends.
  bank_index parent_bank_ = no_bank;
  crypto::hash32 base_hash_{};
  std::uint64_t base_tick_height_ = 0;
  std::uint64_t want_ticks_ = 0;
  bool execute_failed_ = false;  // step 2 failed: the bank (if made) holds part of the block
  bool adopt_only_ = false;      // adopt(): defer a block that would need executing
  replay_chain_config config_;
  std::uint64_t hashes_per_tick_;  // config's, 0 -> 1
  crypto::pubkey_cache keys_;
  std::vector<ledger::record_view> records_;
  std::vector<ledger::decoded_entry> decoded_;   // the slot's entries, in order
  std::vector<crypto::poh_entry> poh_;           // the same, for verify_entries
  std::vector<crypto::signature> sigs_;          // one entry's signatures
  ledger::start_state state_;                    // slot 0's start state, as decoded
  ledger::slot_meta slot_end_{};
  txn::execution_counters counters_{};
  std::uint64_t next_slot_ = 0;
  crypto::hash32 last_hash_{};
  std::uint64_t tick_height_ = 0;
  bool dead_ = false;
};

// The records of `slot` in `lg`, each exactly as on disk, concatenated (empty if the slot is
// not in the ledger). Allocates; not for hot paths.
[[nodiscard]] std::vector<std::uint8_t> slot_stream(const ledger::ledger& lg, std::uint64_t slot);

// What replaying a whole ledger found.
struct ledger_replay_result {
  replay_error error = replay_error::none;
  std::string detail;             // the failing slot's why (empty when ok)
  std::uint64_t slots = 0;        // complete slots replayed
  std::uint64_t records = 0, entries = 0, ticks = 0, hashes = 0, txs = 0;
  std::array<std::uint64_t, txn::tx_result_count> txs_by_result{};
  std::uint64_t bank_hashes = 0;  // slot ends whose (non-zero) bank hash was compared
  // The last slot when it has no slot end (a node stopped mid-slot; find_resume_point cuts
  // it at start): not replayed, and not a failure.
  bool partial_tail = false;
  std::uint64_t partial_slot = 0, partial_records = 0;
  [[nodiscard]] bool ok() const noexcept { return error == replay_error::none; }
};

// Slot 0's start state as `lg` holds it (the record after the chain start); nullopt when the
// ledger has none that decodes. For a tool that must build the bank before replaying.
[[nodiscard]] std::optional<ledger::start_state> read_start_state(const ledger::ledger& lg);

// What a node rebuilds besides its bank when it resumes a ledger, so that replay protection
// survives a restart (read from the ledger, nothing executed):
//   - the blockhashes of the last `slots` complete slots (slot end hashes; slot 0's chain
//     start hash too when it is that recent), oldest first;
//   - the first signature of every transaction that landed (recorded ok, or failed with its
//     fee charged) in slots >= from_slot, in ledger order.
struct slot_blockhash {
  std::uint64_t slot = 0;
  crypto::hash32 hash{};
};
[[nodiscard]] std::vector<slot_blockhash> recent_blockhashes(const ledger::ledger& lg, std::size_t slots);
void for_each_landed_signature(const ledger::ledger& lg, std::uint64_t from_slot,
                               const std::function<void(std::uint64_t slot, const crypto::signature&)>& fn);

// Replays every complete slot of `lg`, in order, through `replayer` (which must be fresh: its
// next slot is 0), rooting each slot in the replayer's bank forks as it goes (a ledger holds
// one chain of final blocks), stopping at the first failure. `progress` (may be empty) is called after
// each slot with the fraction of the ledger's records done.
ledger_replay_result replay_ledger(const ledger::ledger& lg, slot_replayer& replayer,
                                   const std::function<void(double)>& progress = {});

}  // namespace riptide::bank
