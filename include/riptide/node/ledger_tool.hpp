#pragma once
// The ledger's offline side: `riptide ledger verify` and `riptide ledger show`, and the two
// start-up steps of a node that reopens its ledger: find_resume_point (cut a partial slot,
// say where the chain goes on) and replay_ledger (rebuild the bank by re-executing every
// transaction).
//
// Contract
//   - verify_ledger opens the ledger with every segment's checksums checked, then replays
//     the whole PoH chain from the chain-start record: every entry's hashes (several chains
//     at once per core, `threads` cores), hashes per tick, tick heights and every slot-end
//     record's hash. It also checks every entry's transactions: each parses
//     (txn::parse_transaction), its result byte is a txn::tx_result, and the entry's mixin is
//     crypto::entry_mixin(all signatures of all its transactions, in order). It stops at the
//     first problem and says where (slot, record, why).
//   - `progress` is called with the fraction done (0..1) now and then; it may print.
//   - Nothing in verify/show throws for a bad ledger: problems come back in the result. I/O
//     errors that prevent opening are reported the same way.
//   - find_resume_point and replay_ledger are start-up (single thread, before any tile
//     runs, no sync thread on the ledger). find_resume_point throws std::runtime_error on a
//     ledger that does not begin with a chain start or whose last slot end does not decode;
//     replay_ledger reports problems in its result and never throws.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <riptide/crypto/types.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/bank.hpp>

namespace riptide::node {

struct ledger_verify_result {
  bool ok = false;
  std::string error;  // empty when ok
  std::uint64_t records = 0;
  std::uint64_t entries = 0;
  std::uint64_t ticks = 0;
  std::uint64_t hashes = 0;
  std::uint64_t slots = 0;
  std::uint64_t txs = 0;
  std::array<std::uint64_t, txn::tx_result_count> txs_by_result{};  // index = tx_result
  std::uint64_t bank_hashes = 0;  // slot ends that carry a bank hash (non-zero)

  // "1234 txs (1200 ok, 30 insufficient_funds, 4 blockhash_too_old)": the failures by name.
  [[nodiscard]] std::string tx_summary() const;
};

ledger_verify_result verify_ledger(const std::filesystem::path& dir, unsigned threads,
                                   const std::function<void(double)>& progress);

// Prints the slot's records, entries and transactions (short signature, from → to,
// lamports, result); returns false (and prints why) if absent or bad.
bool show_ledger_slot(const std::filesystem::path& dir, std::uint64_t slot, std::ostream& out);

// Where a node resumes its chain.
struct resume_point {
  std::uint64_t next_slot = 0;    // the first slot to produce
  std::uint64_t tick_height = 0;  // ticks so far (the last slot end's)
  crypto::hash32 last_hash{};     // the last slot end's PoH hash (the chain start if none)
  std::uint64_t hashes_per_tick = 0;
  std::uint64_t ticks_per_slot = 0;
  crypto::hash32 chain_start_hash{};
  std::uint64_t truncated_records = 0;  // records of a partial slot that were cut
};

// The last slot_end record of `lg`; every record after it (a partial slot) is removed
// durably (ledger::truncate). Empty optional for an empty ledger. A ledger with a chain
// start and no slot end resumes at slot 0 from the start hash.
std::optional<resume_point> find_resume_point(ledger::ledger& lg);

struct replay_result {
  std::uint64_t slots = 0;
  std::uint64_t entries = 0;
  std::uint64_t txs = 0;
  std::uint64_t result_mismatches = 0;     // re-executed result != recorded result byte
  std::uint64_t bank_hash_mismatches = 0;  // bank.bank_hash(last poh) != slot end's bank hash
  std::uint64_t bank_hashes_checked = 0;   // slot ends with a non-zero bank hash
  std::uint64_t bad_records = 0;           // records or txs that do not decode/parse
  std::string first_problem;               // the first mismatch or bad record, with where
  [[nodiscard]] bool ok() const noexcept {
    return result_mismatches == 0 && bank_hash_mismatches == 0 && bad_records == 0;
  }
};

// Re-executes every transaction of `lg` in ledger order, single-threaded, against `bank`,
// which the caller has already credited with the genesis funding (and nothing else). It
// registers blockhashes as the live node does (slot 0: the chain start hash; each slot end's
// hash under its slot), checks each recorded result byte against the re-executed result, and
// at each slot end compares bank.bank_hash(last PoH hash) with the slot end's bank hash
// (skipped when zero), then bank.begin_slot(). A partial slot at the end is executed too
// (find_resume_point removes it first at start-up).
replay_result replay_ledger(const ledger::ledger& lg, txn::bank& bank);

}  // namespace riptide::node

namespace riptide::node {

// One slot of a ledger, summarised so ledgers can be compared slot by slot
// (`riptide ledger digest`, tools/stress-loss.sh).
struct slot_digest {
  std::uint64_t slot = 0;
  std::uint64_t records = 0;
  crypto::hash32 digest{};     // SHA-256 over each record's type u16, slot u64, length u32, payload
  crypto::hash32 bank_hash{};  // the slot_end's (zero: none, or the slot has no end)
  bool complete = false;       // the slot ends with a slot_end record
};

// Every slot of the ledger in `dir`, ascending. Throws std::runtime_error if it cannot be opened.
std::vector<slot_digest> ledger_slot_digests(const std::filesystem::path& dir);

}  // namespace riptide::node
