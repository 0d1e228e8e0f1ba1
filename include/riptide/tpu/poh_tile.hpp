#pragma once
// PoH tile: runs the proof-of-history hash chain, mixes in executed batches as entries,
// emits ticks and ends slots.
//
// Contract
//   - Runs on one core thread; wraps the pure crypto::poh state machine.
//   - Inputs: `mixins` rings (bank → poh, one per bank tile) of hashes to record as entries.
//     A mixin is recorded as soon as it is popped (after the tick that may be due first), in
//     pop order, before anything else is popped: a bank tile reads its ring's popped_total()
//     as "recorded" and only then releases the account locks of that microblock, so two
//     conflicting microblocks are always recorded in the order they executed. A mixin is
//     popped only while the entries ring has room for it (records are never dropped; the
//     backpressure reaches the banks). After max_slots, mixins are popped and dropped
//     (counted) so bank tiles can stop.
//   - Blockhashes: at start (the start hash, as the first slot's) and at every slot end it
//     pushes a slot_hash to each `blockhash_outs` ring (dedup, bank tiles); a full ring drops
//     and counts. `board` (optional) is republished at every tick.
//   - Outputs: optional `entries` ring (poh → shred/ledger) of every entry (ticks and
//     records) with its slot and tick height. PoH never waits: a full `entries` ring drops the
//     entry and counts it (the chain itself is unaffected).
//   - Pacing: with `target_tick_ns` = 0 the tile hashes flat out (a real leader). Otherwise it
//     is in "sleep mode" for small machines: it hashes `hashes_per_tick` per tick and idles
//     until the tick's wall-clock deadline, so a dev cluster's PoH does not eat a core.
//   - Source tile: after begin_drain() it stops hashing (pending mixins are still recorded).
//   - `max_slots` > 0 stops the chain after that many slots (bounded runs and tests).
//   - `halt_at_slot_end()` (any thread) makes the tile stop producing at the end of the
//     slot in progress, for good, while the node goes on running: a node that must not lead
//     (its identity is live in another process) finishes the slot it is in and makes no more.
//     Mixins popped afterwards are dropped and counted, as after max_slots; `halted()`
//     (any thread) says when it has happened, and the own counter `halted` is 1 from then.
//   - Reset (optional `resets` ring, connect_resets() before start): replay says "build on
//     this bank": poh_reset{hash, tick_height, slot} is a frozen bank's last PoH hash, its
//     tick height and its slot. Before anything else in a poll, the newest reset waiting is
//     applied: the chain continues from `hash` at `tick_height`, so the next slot produced is
//     tick_height / ticks_per_slot (a leader whose slot S follows a parent P < S - 1 ticks
//     through the skipped slots first), the bank's hash goes to the blockhash outs under
//     `slot`, and the slot in progress is abandoned (entries after the reset carry the new
//     chain's slot and tick height; consumers see the jump). A reset whose tick height is not
//     a slot boundary, or whose slot is not the one that boundary ends, is refused and
//     counted (resets_refused); applied ones are counted in resets. Rotating, a reset to a
//     slot at or below the current parent is stale, not wrong (replay reports the tile's own
//     blocks after it built on them): ignored and counted in resets_stale. A tile with a gate
//     (below) that does not rotate refuses every reset: a reset moves the slot under the bank
//     tiles (a rotating one takes resets only between its blocks, when the gate is closed).
//   - Slot boundaries with a bank gate (optional, connect_gate() before start; a leader's
//     bank tiles, bank_gate.hpp): the bank tiles execute into slot S's bank, so everything
//     they executed must be recorded in slot S. When the hashes left in S that could hold
//     a record fall to `reserve` (every mixin the bank tiles can have waiting: B ×
//     max_pending) plus one poll's worth, PoH closes the gate for S; from then on it hashes
//     no further than keeps `reserve` records possible, and it finishes S's last tick only
//     once the gate is quiet (no tile inside) and every mixin ring is empty (all recorded).
//     Waits are counted in boundary_waits (polls spent waiting). The controller that sees
//     S's slot end opens S+1's bank; until then S+1 gets ticks only. A record the reserve
//     could not hold (a wrong reserve) is recorded in the next slot and counted in
//     boundary_overflows. When PoH stops for good (max_slots, halt, drain) it shuts the gate.
//   - Rotation (optional, connect_rotation() before start): the tile
//     follows the leader schedule. PoH always ticks, as the node's clock (tick height h is in
//     slot h / ticks_per_slot; a reset moves the clock to the reset bank's end, as a leader's
//     chain continues from its parent), but it makes blocks only for the slots
//     epoch::decide_start gives it, decided at start, after every tick and after every reset.
//     While it follows, its ticks are held (not sent): they are the skipped slots' ticks of
//     the block it may make next. When it leads slot S on parent P, the held ticks become the
//     start of S's block, so the block carries (S - P) x ticks_per_slot ticks, and the slot's
//     own entries follow; every entry of the block has slot S in its record (consumers end
//     the block at the tick whose height is (S + 1) x ticks_per_slot). At S's last tick the
//     block is done: P becomes S (its hash goes to the blockhash outs) and, when S + 1 is ours
//     too, the next block starts at once. Resets wait while a block is being made, and one
//     that would move the parent back (to our last block's slot or below) is refused and
//     counted (until fork choice decides, the chain only grows); mixins that come while the
//     tile follows are dropped and counted (mixins_dropped): no bank of ours is open. Entries
//     go through a held queue of `held_entries` (at least 2 x ticks_per_slot; a parent more
//     than held_entries / ticks_per_slot - 1 slots back is not built on), so a full `entries`
//     ring delays them instead of dropping them; what does not fit the queue is dropped and
//     counted (held_dropped). With a gate, the boundary rule above holds for each block's
//     slots only: the controller opens a block's bank at its first entry (bank_gate::
//     open_block), PoH closes it before each of the block's slots ends, and while it follows
//     the gate stays as the last block left it (closed), so no bank tile executes then.
//     Counters: leading (1 while making a block), slots_led, slots_produced,
//     own_slots_skipped (scheduled slots that passed without our block), grace_ticks (ticks
//     spent waiting for a block that was arriving), last_parent_distance, listen_ticks (ticks
//     spent listening, below).
//     Resumed (start_parent set: the chain starts at the tip of this node's own ledger), the
//     tile listens before it leads: until the TVU has seen a shred (highest_seen) or
//     epoch::listen_ticks have gone by since the start, it makes no block. Its clock starts at
//     its ledger's tip, which can be far behind the cluster's; if the slots just after that
//     tip are its own, nobody else is sending, and a block made on the stale tip would fork
//     the node off the cluster (epoch/rotation.hpp, reason listening).

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/epoch/rotation.hpp>
#include <riptide/epoch/schedule_window.hpp>
#include <riptide/tpu/bank_gate.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct poh_tile_config {
  std::uint64_t hashes_per_tick = 12'500;
  std::uint64_t ticks_per_slot = 64;
  std::uint64_t target_tick_ns = 0;  // 0: as fast as possible
  std::uint64_t hashes_per_poll = 256;
  std::uint64_t max_slots = 0;       // 0: unbounded
  std::uint64_t start_tick_height = 0;  // resuming a chain: ticks before `start`
  std::uint64_t mixins_per_poll = 16;
  // Sleep mode: the chain waits this many hashes before each tick, so up to this many mixins
  // per tick are recorded without moving the tick ahead of the wall clock.
  std::uint64_t mixin_slack_hashes = 256;
};

struct poh_mixin {
  crypto::hash32 hash;
  std::uint64_t id;  // caller's batch id, echoed in the entry record
};

struct poh_reset {
  crypto::hash32 hash{};          // the bank's last PoH hash
  std::uint64_t tick_height = 0;  // the bank's tick height: (slot + 1) * ticks_per_slot
  std::uint64_t slot = 0;         // the bank's slot
};

// Rotation: who leads when, who we are, and where the chain starts. The timeline's schedules
// must outlive the tile (epoch::leader_timeline is a view).
struct poh_rotation {
  epoch::leader_timeline timeline;
  // Optional, must outlive the tile and belong to its thread: the timeline is taken from it at
  // connect_rotation and again whenever housekeep advances it to the epoch of the slot PoH is
  // in (so the node leads past the first epoch).
  epoch::schedule_window* window = nullptr;
  crypto::pubkey identity{};
  epoch::rotation_config rules;  // its ticks_per_slot is replaced by the tile's
  // The highest slot this validator ever produced (its ledger's): never led again.
  std::optional<std::uint64_t> highest_produced;
  // The slot of the bank the chain starts on (the start hash is its last hash); nullopt: the
  // genesis root, whose only child is slot 0.
  std::optional<std::uint64_t> start_parent;
  // Written by the TVU: 1 + the lowest slot whose shreds are arriving and that has not
  // replayed yet (0: none). Null: nothing is ever arriving.
  const std::atomic<std::uint64_t>* arriving = nullptr;
  // Written by the TVU: 1 + the highest slot whose shreds came in (0: none). Null: none.
  const std::atomic<std::uint64_t>* highest_seen = nullptr;
  std::size_t held_entries = 8192;  // >= 2 x ticks_per_slot; caps the parent distance too
};

struct poh_entry_record {
  crypto::poh_entry entry;
  std::uint64_t slot;
  std::uint64_t tick_height;  // ticks completed before this entry (ticks: including it)
  std::uint64_t mixin_id;     // poh_mixin::id for records, ~0 for ticks
  bool is_tick;
  std::uint64_t parent = 0;   // the slot the entry's block builds on (0 for slot 0 on genesis)
};

class poh_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_hashes, c_ticks, c_slots, c_entries, c_mixins, c_entries_dropped, c_slot,
    c_mixins_dropped, c_blockhash_dropped, c_mixin_waits, c_halted, c_resets, c_resets_refused,
    c_boundary_waits, c_boundary_overflows, c_leading, c_slots_led, c_slots_produced,
    c_own_slots_skipped, c_grace_ticks, c_last_parent_distance, c_held_dropped, c_resets_stale,
    c_listen_ticks,
  };

  poh_tile(std::string name, const crypto::hash32& start, const poh_tile_config& config,
           util::spsc_ring<poh_mixin>* mixins, util::spsc_ring<poh_entry_record>* entries);
  poh_tile(std::string name, const crypto::hash32& start, const poh_tile_config& config,
           std::vector<util::spsc_ring<poh_mixin>*> mixins,
           util::spsc_ring<poh_entry_record>* entries,
           std::vector<util::spsc_ring<bank::slot_hash>*> blockhash_outs, bank::chain_board* board);

  // Start-up, before the runtime runs the tile: where resets come from (replay).
  void connect_resets(util::spsc_ring<poh_reset>* resets) noexcept { resets_ = resets; }
  // Start-up: the bank tiles' gate, and how many mixins they can have waiting at most.
  void connect_gate(bank_gate* gate, std::uint64_t reserve);

  // Start-up: follow the leader schedule (see the contract). Throws std::invalid_argument
  // with held_entries below 2 x ticks_per_slot, or a start that is not
  // start_parent's end (start_tick_height must be (start_parent + 1) x ticks_per_slot, 0 on
  // the genesis root).
  void connect_rotation(const poh_rotation& rotation);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  void on_start() override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  void begin_drain() noexcept override { draining_ = true; }
  bool drained() const noexcept override;

  // Read by the owning thread, or by others after the runtime stopped.
  std::uint64_t slot() const noexcept { return tick_count() / config_.ticks_per_slot; }
  std::uint64_t tick_count() const noexcept { return config_.start_tick_height + chain_.tick_count(); }
  std::uint64_t hash_count() const noexcept { return hashes_; }
  const crypto::hash32& last_hash() const noexcept { return chain_.last_hash(); }
  bool finished() const noexcept { return finished_; }
  // Rotation: the slot whose block is being made, if any (owning thread).
  std::optional<std::uint64_t> leading_slot() const noexcept { return leading_; }
  void halt_at_slot_end() noexcept { halt_requested_.store(true, std::memory_order_relaxed); }
  bool halted() const noexcept { return halted_.load(std::memory_order_acquire); }

 private:
  void emit(const crypto::poh_entry& e, std::uint64_t mixin_id, bool is_tick) noexcept;
  int finish_tick() noexcept;
  int take_mixins() noexcept;
  bool stopped() const noexcept { return finished_ || halted_.load(std::memory_order_relaxed); }
  // Rotation: decide whether to start a block now; at a slot end, close the one made.
  void rotate(bool on_tick) noexcept;
  void end_of_slot_rotation() noexcept;
  void hold(const poh_entry_record& r, bool publish) noexcept;
  int publish_held() noexcept;
  void send_blockhash(const bank::slot_hash& h) noexcept;
  int take_resets() noexcept;
  // Hashes left in the slot in progress that a record could use (tick hashes excluded).
  std::uint64_t records_left() const noexcept;
  bool last_tick_of_slot() const noexcept {
    return tick_count() % config_.ticks_per_slot == config_.ticks_per_slot - 1;
  }
  // With a gate: closes it when the slot's end nears; true once the slot may end.
  bool boundary_ready() noexcept;
  void stop_gate() noexcept {
    if (gate_ != nullptr) gate_->shut();
  }

  poh_tile_config config_;
  crypto::poh chain_;
  std::vector<util::spsc_ring<poh_mixin>*> mixins_;
  util::spsc_ring<poh_entry_record>* entries_;
  std::vector<util::spsc_ring<bank::slot_hash>*> blockhash_outs_;
  util::spsc_ring<poh_reset>* resets_ = nullptr;
  bank_gate* gate_ = nullptr;
  std::uint64_t reserve_ = 0;
  bool closing_ = false;  // the gate is closed for the slot in progress
  bank::chain_board* board_;
  bank::slot_hash newest_{};
  std::size_t next_mixin_ring_ = 0;
  std::uint64_t start_ns_ = 0;
  std::uint64_t hashes_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  std::atomic<bool> halt_requested_{false};
  std::atomic<bool> halted_{false};  // written by the tile's thread only

  // Rotation state (owning thread). held_ is a ring: its first `committed_` records are the
  // block's, waiting for room in `entries`; the rest are ticks made while following.
  bool rotating_ = false;
  poh_rotation rotation_;
  std::optional<std::uint64_t> leading_;  // slot of the block being made
  std::optional<std::uint64_t> parent_;   // the bank the chain continues: nullopt = genesis
  std::optional<std::uint64_t> produced_;  // highest slot produced
  std::uint64_t listen_until_ = 0;        // start_inputs::listen_until (0: a new cluster)
  std::uint64_t skip_counted_ = 0;        // own slots up to here were counted (skipped or not)
  std::vector<poh_entry_record> held_;
  std::size_t held_head_ = 0, held_count_ = 0, committed_ = 0;
};

}  // namespace riptide::tpu
