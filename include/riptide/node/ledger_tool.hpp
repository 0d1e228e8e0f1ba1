#pragma once
// The ledger's offline side: `riptide ledger verify` and `riptide ledger show`, and the
// start-up step of a node that reopens its ledger: find_resume_point (cut a partial slot, say
// where the chain goes on). Rebuilding the bank is bank::replay_ledger (bank/replay.hpp).
//
// Contract
//   - verify_ledger opens the ledger read-only with every segment's checksums checked, then
//     re-executes it from the chain start through the one replay function
//     (bank::replay_ledger, bank/replay.hpp): every record, entry, tick and PoH hash
//     (`threads` cores per slot), every transaction's signatures, result and mixin, and every
//     slot's bank hash, against a bank built from the ledger's own start state. It stops at
//     the first problem and says where (slot, record, why). A last slot without a slot end
//     (a node stopped mid-slot) is reported, not replayed, and is not a failure.
//   - `progress` is called with the fraction done (0..1) now and then; it may print.
//   - Nothing in verify/show throws for a bad ledger: problems come back in the result. I/O
//     errors that prevent opening are reported the same way.
//   - find_resume_point is start-up (single thread, before any tile runs, no sync thread on
//     the ledger); it throws std::runtime_error on a ledger that does not begin with a chain
//     start or whose last slot end does not decode.

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
#include <riptide/txn/execution.hpp>

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
  std::uint64_t bank_hashes = 0;  // slot ends whose (non-zero) bank hash matched the replayed one
  bool partial_tail = false;      // the last slot has no slot end: reported, not replayed
  std::uint64_t partial_slot = 0, partial_records = 0;

  // "1234 txs (1200 ok, 30 insufficient_funds, 4 blockhash_too_old)": the failures by name.
  [[nodiscard]] std::string tx_summary() const;
};

struct ledger_verify_options {
  unsigned threads = 1;                       // cores for each slot's PoH re-hash
  std::size_t max_accounts = std::size_t{1} << 20;  // the bank's size: as the node's bank.max_accounts
  // Signatures the bank remembers over the 150-slot window (bank_forks: ~264 bytes each with
  // its table and rebuild copy): as the node's bank.max_statuses or more.
  std::size_t max_statuses = std::size_t{1} << 20;
};

ledger_verify_result verify_ledger(const std::filesystem::path& dir, const ledger_verify_options& options,
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
// start (and start state) and no slot end keeps those and says next_slot 0; the node then
// checks whose chain it is and starts it over.
std::optional<resume_point> find_resume_point(ledger::ledger& lg);

// A rotating validator's restart: the blocks of its own at the end of its chain, after the
// last block of another leader, were built on by nobody it heard of: the cluster may have
// skipped them (they left no shred, or too late) and built on their parent. They are cut
// (ledger::truncate, with the chain head when slot 0 is among them) so the node follows the
// cluster's chain from there; repair brings back those the cluster kept, and the node never
// makes another block for their slots (its produced ledger remembers them). Returns the
// number of blocks cut. Start-up only, before find_resume_point.
std::uint64_t trim_own_tail(ledger::ledger& lg, const crypto::pubkey& me);


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
  std::uint64_t parent = 0;    // the slot_end's parent slot (0 when the slot has no end)
  crypto::pubkey leader{};     // the slot_end's leader (zero when the slot has no end)
  // On the parent chain of the ledger's root (ledger::root): the root itself and every
  // ancestor its slot ends name, as far as the ledger holds them.
  bool rooted = false;
};

// Every slot of the ledger in `dir`, ascending. Throws std::runtime_error if it cannot be opened.
std::vector<slot_digest> ledger_slot_digests(const std::filesystem::path& dir);

// The highest slot whose slot end in `lg` names `leader`, if any: the last block a validator
// produced that made it into its chain (start-up; reads the whole ledger's slot ends).
[[nodiscard]] std::optional<std::uint64_t> highest_led_slot(const ledger::ledger& lg, const crypto::pubkey& leader);

}  // namespace riptide::node
