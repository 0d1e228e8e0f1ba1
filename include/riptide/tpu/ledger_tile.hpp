#pragma once
// Ledger tile: appends the PoH tile's entries, with the transactions the bank tiles executed
// for them, to the mmap'd ledger; records each transaction's status; ends each slot's bank
// (freeze, root, open the next) and writes its bank hash; and has a sync thread make each
// slot durable when it ends.
//
// Contract
//   - Runs on one core thread; owns the ledger while the runtime runs (as the ledger's owner,
//     ledger.hpp). Consumes poh_entry_record from the PoH tile's entries ring, so PoH never
//     waits on the disk: a slow disk backs up that ring (PoH counts what it could not push)
//     and never the chain.
//   - Entries are packed into entry_batch records (ledger/entry_codec.hpp), flushed when the
//     batch is full or the slot ends; an entry never spans records. For an entry with a mixin
//     the tile reads banks[mixin_bank_index(id)]->view(mixin_seq(id)) (the microblock that
//     mixin stands for), copies its tx area into the entry, records every tx's status (first
//     signature = body bytes [1, 65)) in `statuses`, then release()s the microblock. A mixin
//     naming no configured bank is counted (bad_mixin_ids) and its entry is written without
//     transactions.
//   - The leader's banks (with `forks` and `gate`, required when `banks` is not empty): the
//     tile is the controller of bank_gate.hpp. At start it makes the first slot's bank (a
//     child of the forks' root, which replay left at the ledger's last slot) and opens it. At
//     a slot's last tick (PoH finished it only once the gate was quiet and every mixin
//     recorded, so no bank tile is executing: bank_forks' quiescent calls are safe here) it
//     freezes the slot's bank with the slot's last PoH hash (its bank hash goes in the slot
//     end), names it by that hash (its block id, as replay names it), roots it (a node that
//     produces every block has no forks: its own block is final; Tower BFT will decide roots
//     instead), makes the next slot's bank and opens it. If PoH has passed that slot already
//     the open fails and the slot is empty (ticks only). A bank that cannot be made (a full
//     table: should not happen with one bank per slot rooted at once) is counted in
//     bank_errors and the gate stays closed: the node records no transactions from then on.
//     Without banks, a slot end's bank hash is that of a slot that changed nothing.
//   - At a slot's last tick (the tick whose height is (slot + 1) x ticks_per_slot: a block
//     after skipped slots starts with their ticks, under its own slot) it appends a slot_meta
//     (slot end, last PoH hash, bank hash; the parent = the entries' parent as PoH made
//     them, 0 for slot 0; the leader = config.leader), roots that slot in the ledger, and, with sync_at_slot_end, hands the
//     sync thread the ledger's mark(). The sync thread (started in on_start, joined in
//     on_stop after a final sync) calls ledger::sync_to and then publishes durable_slot
//     (counter and bank::chain_board::set_durable_slot). The tile thread never blocks on the
//     disk: the handoff is a mutex held for a copy. If the sync thread falls behind, only the
//     newest request is kept (a later mark covers every earlier one).
//   - The first records of a new ledger are a chain-start slot_meta with the start hash and
//     timing and the start state (fee and balances before slot 0), so `riptide ledger verify`
//     can re-execute the chain alone. With `resume`, the tile appends to a ledger that already
//     holds a chain (node::find_resume_point cut it at its last slot end) and writes neither.
//   - Memory: the batch buffer (room for the largest entry a microblock can make) is
//     allocated in the constructor; nothing allocates in poll().
//   - Failures: constructor throws std::runtime_error on a non-empty ledger without
//     `resume`, std::invalid_argument on a bad config. poll() counts append errors, sync
//     failures, bad mixin ids, bank errors.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <riptide/bank/bank_forks.hpp>
#include <riptide/bank/chain_board.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/ledger/background_sync.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/tpu/bank_gate.hpp>
#include <riptide/tpu/microblock.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

// One record the ledger tile appended: where it is and what it is.
struct ledger_record_ref {
  ledger::record_position position;
  std::uint64_t slot = 0;
  std::uint64_t parent = 0;    // the slot the block builds on (its slot_end's parent_slot)
  std::uint32_t bytes = 0;     // encoded size (header, payload, padding)
  std::uint16_t type = 0;      // ledger::record_type
  std::uint16_t slot_end = 0;  // 1: the slot's last record (its slot_end slot_meta)
};

struct ledger_tile_config {
  bool sync_at_slot_end = true;    // hand each slot end to the sync thread
  std::uint64_t hashes_per_tick = 0;
  std::uint64_t ticks_per_slot = 64;
  crypto::hash32 start_hash{};
  ledger::start_state start_state;  // written after the chain start (accounts sorted by key)
  // Bank tiles' microblock stores; index = the bank index in a mixin id. Empty: entries are
  // written without transactions (PoH-only nodes and tests).
  std::vector<microblock_store*> banks;
  bank::tx_status_cache* statuses = nullptr;  // null: statuses are not recorded
  bank::chain_board* board = nullptr;         // null: durable slot only in the counter
  // The bank tiles' forks and gate (both or neither; required with `banks`).
  bank::bank_forks* forks = nullptr;
  bank_gate* gate = nullptr;
  // Largest tx area of one microblock (its store's tx_bytes); 0: the ledger's largest
  // record payload (always enough, but a larger buffer).
  std::size_t max_microblock_tx_bytes = 0;
  // Append to the chain already in the ledger (no chain-start or start-state record).
  bool resume = false;
  // False: never write the chain-start and start-state records. A rotating validator's
  // ledger tile writes only its own blocks, and those records belong to slot 0's block, so
  // only slot 0's leader writes them (at the head of that block).
  bool chain_start = true;
  // A rotating validator's own blocks (with forks and gate): a block's bank is opened at the
  // block's first entry (bank_gate::open_block), a child of its parent's bank: the block this
  // tile froze last when that is the parent, else the forks' root when the root's slot is the
  // parent (without consensus replay keeps the root at the chain's last block), else the
  // frozen bank of the parent's slot (with consensus PoH resets to an unrooted bank of
  // replay's, on whichever fork fork choice picked); no parent bank is a bank error
  // and the block gets ticks only. At the block's end the bank is frozen and named, but not
  // rooted (replay roots the chain) and no next bank is opened.
  bool rotation = false;
  crypto::pubkey leader{};  // this node's identity, named in every slot end
  // Optional: every appended record, in order, for the shred tile (which reads its bytes with
  // ledger::encoded_at). The tile pops entries only while this ring has room for every record
  // they can make, so no record is ever left out (a slow consumer backs up the entries ring;
  // waits are counted in records_out_waits).
  util::spsc_ring<ledger_record_ref>* records_out = nullptr;
};

class ledger_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_entries, c_records, c_bytes, c_slots, c_syncs, c_sync_failures, c_append_errors, c_durable_slot,
    c_txs, c_failed_txs, c_bank_errors, c_bad_mixin_ids, c_oversized_entries,
    c_records_out_waits, c_records_out_dropped, c_banks_opened,
  };

  ledger_tile(std::string name, ledger::ledger& lg, const ledger_tile_config& config,
              util::spsc_ring<poh_entry_record>& in);
  ~ledger_tile() override;

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  void on_start() override;
  int poll() noexcept override;
  bool drained() const noexcept override { return in_.empty_approx(); }
  void on_stop() noexcept override;

  // A block of ours is being written (its first entry seen, its slot end not yet): replay,
  // on this tile's core thread, leaves the bank forks alone meanwhile. Core thread only.
  [[nodiscard]] bool in_block() const noexcept { return in_block_; }

 private:
  void begin_block(const poh_entry_record& r) noexcept;
  void flush(std::uint64_t slot) noexcept;
  void append(ledger::record_type type, std::uint64_t slot, std::span<const std::uint8_t> payload) noexcept;
  void add(const poh_entry_record& r) noexcept;
  void end_slot(const poh_entry_record& r) noexcept;
  void open_bank(bank::bank_index parent, std::uint64_t slot) noexcept;

  ledger::ledger& ledger_;
  ledger_tile_config config_;
  util::spsc_ring<poh_entry_record>& in_;
  std::vector<std::uint8_t> start_state_bytes_;  // the start_state payload (new ledgers)
  std::unique_ptr<std::uint8_t[]> batch_;
  std::size_t batch_bytes_ = 0;
  std::size_t batch_used_ = 0;
  std::uint32_t batch_count_ = 0;
  std::uint64_t batch_slot_ = 0;
  std::uint64_t block_parent_ = 0;  // the parent PoH gave the entries being written
  bank::bank_index current_ = bank::no_bank;  // the bank of the slot in progress
  struct frozen_block {
    bank::block_id id{};
    std::uint64_t slot = 0;
  };
  std::optional<frozen_block> last_frozen_;  // rotation: the last block this tile froze
  bool in_block_ = false;

  bool slot_end_pending_ = false;  // the record being appended is a slot end
  std::optional<std::uint64_t> last_end_slot_;  // the ledger's newest slot end (the next parent)
  ledger::background_sync syncer_;
};

}  // namespace riptide::tpu
