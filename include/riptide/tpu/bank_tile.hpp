#pragma once
// Bank tile: executes verified, deduplicated transfers into the bank of the slot PoH is
// recording (bank::bank_forks, one bank per block) and hands each batch to PoH as one entry
// (a microblock).
//
// Contract
//   - Runs on one core thread; there are B of them, each with its own input ring (dedup
//     routes by fee payer, so one payer's lock words stay on one core), its own
//     microblock_store and its own mixin ring to PoH. They share one bank_forks and never
//     wait for each other: account locks are try-locks.
//   - Which bank: each poll enters the bank_gate (bank_gate.hpp) and executes into the bank
//     it names, pushes the microblock's mixin, then leaves. While the gate is closed (a slot
//     boundary: PoH is finishing the slot, the controller freezing its bank and opening the
//     next) the tile takes no input. Once the gate is shut (PoH stopped for good) it
//     releases every waiting and arriving transaction unexecuted, counted in shut_dropped.
//   - Per poll, at most `max_txs_per_microblock` transactions: each is parsed from its
//     frame (the net tile's rx pool), locked (writable accounts exclusive, readonly
//     shared), executed, and copied with its result into the open microblock; the frame
//     then goes back on `release` at once. A transaction whose locks are taken waits in a
//     bounded retry queue and is tried again next poll; while that queue is full the tile
//     takes no new input (backpressure to dedup).
//   - Every executed transaction is recorded, failed ones too (with their tx_result), except
//     already_processed: its signature landed on this fork already (a duplicate dedup did not
//     catch), it changed nothing and is counted, not recorded. A frame that does not parse
//     (should not happen after verify) is counted and released. Nothing leaves silently.
//   - Lock order = ledger order: the tile publishes the microblock, pushes its mixin
//     (entry_mixin of every signature of its transactions, in order), and keeps the
//     microblock's locks until PoH has popped that mixin (the ring's popped_total). PoH
//     records mixins in pop order, so a conflicting transaction executed later by any tile
//     lands later in the ledger, and replaying the ledger in order reproduces execution.
//   - Backpressure: no new microblock while the store has no free buffer (the ledger tile
//     has not released them), the mixin ring is full, or `max_pending` microblocks still
//     hold locks. So at most max_pending of this tile's mixins are ever waiting for PoH
//     (PoH reserves room for them at a slot's end).
//   - No allocation after construction; poll() is noexcept.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <riptide/bank/bank_forks.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/tpu/bank_gate.hpp>
#include <riptide/tpu/microblock.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct bank_tile_config {
  std::uint32_t index = 0;                   // this tile's index (in mixin ids and the gate)
  std::size_t max_txs_per_microblock = 64;   // also the most transactions per poll
  std::size_t retry_slots = 256;             // transactions waiting for a lock
  std::size_t max_pending = 16;              // microblocks holding locks until PoH pops them
};

class bank_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_received, c_executed, c_ok, c_failed, c_lock_conflicts, c_retry_full, c_parse_failed,
    c_microblocks, c_store_full, c_release_full, c_fees, c_already_processed, c_shut_dropped,
  };

  // `release` (bank → net) returns rx frames; `mixins` (bank → PoH) must be this tile's own
  // ring; `store` must be this tile's own store, drained by the ledger tile.
  bank_tile(std::string name, bank::bank_forks& forks, bank_gate& gate, const util::frame_pool& frames,
            util::spsc_ring<util::frag_desc>& in, util::spsc_ring<util::frag_desc>* release,
            util::spsc_ring<poh_mixin>& mixins, microblock_store& store, const bank_tile_config& config);
  ~bank_tile() override;

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  bool drained() const noexcept override;

  // Results so far, for tests and summaries (owning thread, or after the runtime stopped).
  const txn::execution_counters& execution() const noexcept { return exec_; }

 private:
  struct pending_block;
  int unlock_recorded() noexcept;
  int drop_all() noexcept;  // the gate is shut
  bool run_one(bank::bank_index bank, const util::frag_desc& d) noexcept;  // false: lock conflict (caller keeps d)
  void release_frame(const util::frag_desc& d) noexcept;

  bank::bank_forks& forks_;
  bank_gate& gate_;
  const util::frame_pool& frames_;
  util::spsc_ring<util::frag_desc>& in_;
  util::spsc_ring<util::frag_desc>* release_;
  util::spsc_ring<poh_mixin>& mixins_;
  microblock_store& store_;
  bank_tile_config config_;
  txn::execution_counters exec_;
  std::unique_ptr<util::frag_desc[]> retry_;   // ring of retry_slots (power of two)
  std::size_t retry_head_ = 0, retry_tail_ = 0, retry_mask_;
  std::unique_ptr<pending_block[]> pending_;   // ring of max_pending microblocks
  std::size_t pending_head_ = 0, pending_tail_ = 0;
  std::uint64_t mixins_pushed_ = 0;
  std::unique_ptr<crypto::signature[]> sigs_;  // signatures of the open microblock
  std::size_t sig_count_ = 0;
  std::atomic<std::size_t> backlog_{0};  // retry + pending, for drained() on other threads
};

}  // namespace riptide::tpu
