#pragma once
// Slot replayer: the follower's check and re-execution of one slot of the leader's ledger
// before the follower appends the very same records to its own ledger.
//
// What arrives per slot is a *slot stream*: exactly the leader's ledger records of that slot,
// each encoded as on disk (ledger::encode_record: header with crc32c, payload, zero padding
// to 8), concatenated:
//
//   slot 0 of a chain:  [chain_start slot_meta] [entry_batch]* [slot_end slot_meta]
//   any other slot:                             [entry_batch]* [slot_end slot_meta]
//
// replay() does, in this order:
//   1. Checks that do not touch the bank: every record parses (ledger::parse_record, no
//      trailing bytes) and carries `slot`; the chain start is the very first record of slot 0
//      of a fresh chain and matches the configured timing and start hash; every entry batch
//      decodes; ticks come every hashes_per_tick hashes (no entry passes a due tick) and the
//      slot holds exactly ticks_per_slot of them, ending on its last tick; every transaction
//      parses, has a tx_result byte, and its signatures verify; each mixin is
//      crypto::entry_mixin of its entry's signatures; the PoH chain re-hashes from the last
//      hash (crypto::verify_entries, the multi-lane path, on one core); the slot_end carries
//      the chain's last hash, the tick height and the timing. The first failure is reported,
//      in this order: record by record (parse, slot, chain start, batch, ticks, transaction
//      parse and result byte, mixin), then the tick count, PoH, the slot end, and last the
//      signatures (the costliest check runs only on a slot that is otherwise sound).
//   2. Execution against the bank, exactly as node::replay_ledger and the live leader do:
//      each transaction is locked, executed and unlocked in ledger order and its result
//      compared with the recorded result byte; then the bank hash (bank::bank_hash over the
//      accounts changed in the slot and the slot's last PoH hash, which is what the leader's
//      slot_delta writes) is compared with the slot_end's when that is non-zero (zero means
//      the leader did not know it); then bank.begin_slot() and
//      bank.register_blockhash(slot, last hash), as at every slot end on the leader.
//   On success the chain state advances (next_slot() = slot + 1, last_hash(), tick_height())
//   and records() lists the slot's records, views into `stream`, in stream order: append each
//   with ledger.append(v.type, v.slot, v.payload) and the follower's ledger is byte-identical
//   to the leader's record by record. After resume(0, ...) (the ledger already holds the
//   chain start and nothing else) slot 0's chain start is checked against the resume hash and
//   left out of records().
//   On a failure in step 1 nothing changed: the caller may retry the slot with other bytes
//   (say, after repair). A failure in step 2 (result_mismatch, bank_hash_mismatch) leaves
//   the bank with part of the slot applied: dead() becomes true and every later replay()
//   fails with dead_chain. The caller stops following that chain and logs it.
//
// Contract
//   - Pure: no threads, no I/O, no clocks. One thread owns a replayer and its bank while it
//     replays (the bank's slot-boundary calls need quiescence).
//   - Memory: the record list, the slot's decoded entries and PoH entries, the signature list
//     and a pubkey cache are allocated in the constructor from slot_replay_limits. On success
//     replay() allocates nothing unless a slot exceeds those limits (then the list grows once
//     and stays grown: the limits are sizes, not rules). The detail string allocates only on
//     failure. records() views stay valid while `stream` lives and until the next replay().
//   - Failures: replay() is noexcept apart from the failure detail (std::bad_alloc there
//     would terminate); the constructor throws std::invalid_argument on a bad config.
//   - slot_stream() (tests, tools, a follower re-serving its ledger): the slot's records
//     copied out of a ledger's mapping, byte for byte.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/bank.hpp>

namespace riptide::tvu {

enum class replay_error : std::uint8_t {
  none,
  bad_record,              // parse_record failed, trailing bytes, or a record type not in slots
  wrong_slot,              // a record's slot != the slot being replayed
  unexpected_chain_start,  // a chain start anywhere but first in slot 0 of a fresh chain
  missing_chain_start,     // slot 0 of a fresh chain does not begin with the chain start
  bad_chain_start,         // chain start timing, hash, tick height or bank hash not as expected
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
  dead_chain,              // an earlier replay failed during execution; the bank is partial
};
constexpr std::size_t replay_error_count = static_cast<std::size_t>(replay_error::dead_chain) + 1;
// The enumerator's name, for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(replay_error error) noexcept;

struct replay_chain_config {
  std::uint64_t hashes_per_tick = 0;  // as the chain start says (0 counts as 1, as in poh)
  std::uint64_t ticks_per_slot = 64;  // > 0
  crypto::hash32 start_hash{};        // the chain start (genesis: zero)
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
  std::uint64_t records = 0, entries = 0, ticks = 0, txs = 0, failed_txs = 0;
  crypto::hash32 bank_hash{};  // what this node computed (zero if execution did not finish)
  [[nodiscard]] bool ok() const noexcept { return error == replay_error::none; }
};

class slot_replayer {
 public:
  // `bank` is credited with the genesis funding already (nothing else), as for
  // node::replay_ledger; the constructor calls bank.begin_slot() so the genesis credits are
  // not counted as slot 0's changes. max_accounts_per_slot is the live ledger tile's
  // slot_delta capacity: a leader whose slot changed more accounts writes a zero (unknown)
  // bank hash, which is not compared; the replayer's own hash is exact at any size
  // (bank::bank_hash), so the value only has to be > 0. Throws std::invalid_argument if
  // ticks_per_slot or max_accounts_per_slot is 0.
  slot_replayer(txn::bank& bank, const replay_chain_config& config,
                std::size_t max_accounts_per_slot, const slot_replay_limits& limits = {});
  slot_replayer(const slot_replayer&) = delete;
  slot_replayer& operator=(const slot_replayer&) = delete;

  // Continue after a ledger this node already holds (after node::replay_ledger rebuilt the
  // bank, which also registered its blockhashes): next slot to replay, the chain's last hash
  // and tick height (node::find_resume_point gives all three). next_slot == 0 means the
  // ledger holds only the chain start.
  void resume(std::uint64_t next_slot, const crypto::hash32& last_hash,
              std::uint64_t tick_height) noexcept;

  // Replays one slot stream (see the top of this file). `parent` of slot 0 is 0.
  slot_replay_result replay(std::uint64_t slot, std::uint64_t parent,
                            std::span<const std::uint8_t> stream) noexcept;

  // The last successful replay's records (empty after a failure).
  [[nodiscard]] std::span<const ledger::record_view> records() const noexcept {
    return {records_.data(), records_.size()};
  }
  [[nodiscard]] std::uint64_t next_slot() const noexcept { return next_slot_; }
  [[nodiscard]] const crypto::hash32& last_hash() const noexcept { return last_hash_; }
  [[nodiscard]] std::uint64_t tick_height() const noexcept { return tick_height_; }
  [[nodiscard]] bool dead() const noexcept { return dead_; }
  [[nodiscard]] const replay_chain_config& config() const noexcept { return config_; }

 private:
  replay_error check(std::uint64_t slot, std::span<const std::uint8_t> stream,
                     slot_replay_result& r) noexcept;
  replay_error check_entry(const ledger::decoded_entry& d, std::uint64_t slot,
                           slot_replay_result& r) noexcept;
  replay_error check_poh(std::uint64_t slot, slot_replay_result& r) noexcept;
  replay_error execute(std::uint64_t slot, slot_replay_result& r) noexcept;

  txn::bank& bank_;
  replay_chain_config config_;
  std::uint64_t hashes_per_tick_;  // config's, 0 -> 1
  crypto::pubkey_cache keys_;
  std::vector<ledger::record_view> records_;
  std::vector<ledger::decoded_entry> decoded_;   // the slot's entries, in order
  std::vector<crypto::poh_entry> poh_;           // the same, for verify_entries
  std::vector<crypto::signature> sigs_;          // one entry's signatures
  std::size_t chain_start_records_ = 0;          // records_ of the slot that are a chain start
  ledger::slot_meta slot_end_{};
  txn::execution_counters counters_{};
  std::uint64_t next_slot_ = 0;
  crypto::hash32 last_hash_{};
  std::uint64_t tick_height_ = 0;
  bool fresh_ = true;               // no chain start seen or held yet
  bool chain_start_held_ = false;   // resume(0, ...): the ledger holds the chain start
  bool dead_ = false;
};

// The records of `slot` in `lg`, each exactly as on disk, concatenated (empty if the slot is
// not in the ledger). Allocates; not for hot paths.
[[nodiscard]] std::vector<std::uint8_t> slot_stream(const ledger::ledger& lg, std::uint64_t slot);

}  // namespace riptide::tvu
