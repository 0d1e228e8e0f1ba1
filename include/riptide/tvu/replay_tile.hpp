#pragma once
// Replay tile: the follower's last step. It takes each complete slot from the TVU tile in slot
// order, re-verifies and re-executes it (bank::slot_replayer: PoH, signatures, execution, bank
// hash against the leader's), appends the very records the leader wrote to this node's
// ledger, and has a sync thread make the slot durable.
//
//   tvu tile ──in (completed_slot)──► slot_replayer ──ok──► ledger.append × records ─► sync thread
//            ◄──release (same slot, failed or not)──┘  └──failed──► logged, counted, not stored
//
// Contract
// - One core thread runs poll(), on_start(), on_stop(); while the runtime runs the tile owns
//   the ledger (ledger.hpp) and the bank forks the replayer executes into. `source` is the TVU tile
//   that filled the slot's buffer: stream() is read on this thread, then the slot goes back on
//   `release` (sized for every output buffer of the TVU tile).
// - A slot whose replay fails is dead: nothing of it is stored, the reason is counted
//   (dead_<replay_error>), the first failure is kept in first_problem() (read it after the
//   runtime stopped), and it goes back with completed_slot::failed set, so the TVU tile keeps
//   the chain at its parent: a block of a later slot built on that parent replays, one built
//   on the dead slot never comes (a follower never stores what it could not check). The slot
//   end must name the schedule's leader of the slot (completed_slot::leader) and the parent
//   the shreds said.
// - Roots, without consensus (one leader; a follower that does not vote): a stored slot
//   becomes the root at once, of the bank forks (its bank folds into the rooted store, which
//   other threads read with bank_forks::rooted_balance) and of the ledger (ledger::set_root,
//   durable with the slot's sync).
// - Roots and forks with consensus (follow_consensus, a voting validator): every slot the TVU
//   hands over is replayed onto its parent's bank (bank_forks::find_frozen of the parent
//   slot; a parent that is not there, pruned or never replayed, fails the slot as
//   wrong_parent), so several forks live side by side. A block that replayed waits, its
//   stream copied, in an unrooted_blocks arena (unrooted_blocks.hpp; while it is full the
//   next slot waits, popped and held, counted in unrooted_full), and nothing of it is in the
//   ledger yet. Consensus's verdicts say the root and the reset: the newest verdict is taken;
//   a new root R (a frozen bank here, above the forks' root) is applied when the forks are
//   quiescent: R's chain goes from the arena to the ledger (oldest first, records as the
//   leader wrote them), the ledger's root and the forks' root (set_root prunes the other
//   forks) move to R, the board's root follows (the TVU reads it), and the sync thread makes
//   it durable. Blocks of the forks the root abandoned are dropped (pruned_blocks) and their
//   transactions' statuses forgotten (tx_status_cache::forget: GET /tx must not call a
//   transfer of an abandoned fork confirmed or finalized by its slot number). So the ledger holds the rooted chain only: one block per slot, each built on
//   the one before, as every reader of it (resume, verify, digest) expects. A reset names
//   the bank PoH should build on: its last hash and tick height go to PoH (connect_resets)
//   when it differs from the last one sent.
// - The chain board (optional) is published after every stored slot: GET /slot on a follower
//   says how far it has replayed, and set_durable_slot when the sync thread is done.
// - Resets (optional, connect_resets): without consensus each stored slot is pushed to PoH
//   as the bank to build on, so a rotating validator leads its next slots on the chain it
//   replayed; with consensus, the verdict's reset is (above).
// - slot_log (optional): one CSV line per slot handed over,
//   "slot,unix_ns,bytes,received,recovered,repaired,result" (result: ok or the replay_error),
//   written after the slot was appended; flushed at on_stop.
// - poll() replays at most one slot: its cost is the slot's (signatures and PoH dominate),
//   which is far above the usual tile slice; this tile should not share a core with the net
//   tile on a busy follower.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/ledger/background_sync.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/bank/replay.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/tpu/bank_gate.hpp>
#include <riptide/tpu/ledger_tile.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/tvu/consensus_tile.hpp>
#include <riptide/tvu/tvu_tile.hpp>
#include <riptide/tvu/unrooted_blocks.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tvu {

struct replay_tile_config {
  bool sync_at_slot_end = true;
  std::string slot_log;  // CSV path; empty: none
  // With consensus: replayed blocks waiting for a root (bytes of slot streams, and blocks).
  std::size_t unrooted_bytes = std::size_t{256} << 20;
  std::size_t max_unrooted_blocks = 1024;
};

class replay_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_slots_stored, c_slots_dead, c_records, c_txs, c_failed_txs, c_append_errors, c_syncs,
    c_sync_failures, c_durable_slot, c_last_slot, c_bad_buffers, c_resets, c_resets_dropped,
    c_adopted, c_leader_waits, c_consensus_dropped, c_unrooted_full, c_unrooted_blocks, c_roots, c_root_slot,
    c_unknown_resets, c_pruned_blocks,
    c_dead_first,  // dead_<replay_error> for each reason but none
    c_own_count = c_dead_first + bank::replay_error_count - 1,
  };
  static_assert(std::size_t{c_own_count} + std::size_t{util::first_own_counter} <=
                util::metrics_max_counters);

  replay_tile(std::string name, const replay_tile_config& config, bank::slot_replayer& replayer,
              ledger::ledger& lg, const tvu_tile& source, util::spsc_ring<completed_slot>& in,
              util::spsc_ring<completed_slot>& release, bank::chain_board* board);
  ~replay_tile() override;

  // Start-up, before the runtime runs the tile (a rotating validator): after every stored
  // slot, PoH is told to build on it (tpu::poh_reset{its last hash, tick height, slot}); a
  // full ring is counted (resets_dropped; PoH takes the newest reset, so a later one mends it).
  void connect_resets(util::spsc_ring<tpu::poh_reset>* resets) noexcept { resets_ = resets; }
  // Start-up (a rotating validator whose bank tiles execute into the same bank forks): a
  // block of ours is adopted, not executed again (bank::slot_replayer::adopt; counted in
  // adopted). While the node makes a block (the gate open or not quiet, or `ledger`, which
  // must run on this tile's core thread, inside a block of ours) only such a block is taken,
  // since it changes no bank; any other waits, popped and held, until the block is done
  // (counted in leader_waits), and the forks' new root is set only then.
  void connect_leader(const tpu::bank_gate* gate, const tpu::ledger_tile* ledger) noexcept {
    gate_ = gate;
    ledger_tile_ = ledger;
  }
  // Start-up: every transaction of every stored slot gets its status here (GET /tx).
  void connect_statuses(bank::tx_status_cache* statuses) noexcept { statuses_ = statuses; }
  // Start-up (a voting validator): after every stored slot, each voter whose vote state on
  // it is newer than the last one told (a vote of it landed) goes on `events` as a vote
  // event, then the block as a bank event (consensus_tile.hpp). A full ring is counted
  // (consensus_dropped; a later vote of the same voter mends a lost one). Allocates the
  // per-voter record.
  void connect_consensus(util::spsc_ring<consensus_event>* events) {
    consensus_ = events;
    told_.assign(replayer_.forks().voters(), std::nullopt);
  }

  // Start-up (a voting validator, after connect_consensus): roots and resets come from the
  // consensus tile's verdicts (see "Roots and forks with consensus"). Allocates the arena.
  void follow_consensus(util::spsc_ring<consensus_verdict>* verdicts);

  // The first dead slot's reason, "" if none. Owner thread, or any thread after the runtime stopped.
  const std::string& first_problem() const noexcept { return first_problem_; }

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  void on_start() override;
  int poll() noexcept override;
  bool drained() const noexcept override {
    return in_.empty_approx() && !held_ && (verdicts_ == nullptr || verdicts_->empty_approx());
  }
  void on_stop() noexcept override;

 private:
  enum class outcome : std::uint8_t { stored, failed, deferred };
  // Replays and stores one slot (with `busy`, only a block of this node's own is taken:
  // anything else comes back deferred, nothing changed).
  outcome store(const completed_slot& c, bool busy) noexcept;
  // The node is making a block: its bank tiles may be executing into the forks.
  [[nodiscard]] bool leader_busy() const noexcept;
  void apply_root() noexcept;
  void take_verdicts() noexcept;
  // Appends a stored stream's records to the ledger (a block rooted out of the arena).
  void append_stream(std::span<const std::uint8_t> stream) noexcept;
  // A block of an abandoned fork: its transactions' statuses (recorded at `slot`) go.
  void forget_block(std::uint64_t slot, std::span<const std::uint8_t> stream) noexcept;
  void tell_consensus(const completed_slot& c, const bank::slot_replay_result& r) noexcept;
  struct root_target {
    bank::bank_index bank;
    std::uint64_t slot;
  };

  replay_tile_config config_;
  bank::slot_replayer& replayer_;
  ledger::ledger& ledger_;
  const tvu_tile& source_;
  util::spsc_ring<completed_slot>& in_;
  util::spsc_ring<completed_slot>& release_;
  bank::chain_board* board_;
  util::spsc_ring<tpu::poh_reset>* resets_ = nullptr;
  const tpu::bank_gate* gate_ = nullptr;
  const tpu::ledger_tile* ledger_tile_ = nullptr;
  bank::tx_status_cache* statuses_ = nullptr;
  util::spsc_ring<consensus_event>* consensus_ = nullptr;
  util::spsc_ring<consensus_verdict>* verdicts_ = nullptr;
  std::unique_ptr<unrooted_blocks> unrooted_;  // with verdicts_
  std::optional<std::uint64_t> last_reset_;    // the verdict reset last sent to PoH
  std::optional<std::uint64_t> published_;     // the highest slot published on the board
  bool waiting_for_room_ = false;              // the held slot was counted in unrooted_full
  std::vector<ledger::decoded_entry> decoded_;  // forget_block's scratch
  std::vector<std::optional<std::uint64_t>> told_;  // per voter: the last voted slot told
  std::optional<completed_slot> held_;         // popped, deferred until the forks are quiescent
  std::optional<root_target> root_pending_;  // the chain's new root, set once quiescent
  ledger::background_sync syncer_;
  std::FILE* slot_log_ = nullptr;
  std::string first_problem_;
};

}  // namespace riptide::tvu
