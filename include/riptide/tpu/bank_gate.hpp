#pragma once
// Bank gate: which bank the leader's bank tiles execute into, and the handshake that makes a
// slot boundary quiescent. Lock-free; no allocation after construction.
//
// Why: a leader's bank tiles execute each transaction into the bank of the slot PoH is
// recording (bank::bank_forks keeps one bank per block). A transaction executed into bank S
// must be recorded in slot S, and bank S may be frozen only when no tile is executing into
// it. Three parties share this gate:
//
//   bank tiles ×B       enter() ─ execute into the open bank, push mixins ─ leave()
//   PoH (closes)        close(S) when slot S's last hashes begin; finishes S's last tick only
//                       once quiet() and every mixin is recorded
//   controller (opens)  sees S's slot end, freezes bank S, makes bank S+1, open(S+1, bank)
//
//        open(b, S) ──PoH: close(S)──► closed(S) ──controller: open(b', S+1)──► open(b', S+1)
//            │                            │
//            └──────────── shut() ────────┴──► shut (for good: PoH stopped)
//
// open() succeeds only from closed(S - 1) (or before the tiles run), so a controller that
// comes late, after PoH closed a later slot, does not open a bank PoH has already passed:
// that slot stays empty. The state is one 64-bit word: kind (2 bits) | slot (30 low bits; only
// compared for equality, so the wrap after 2^30 slots is harmless) | bank (32).
//
// Memory ordering: enter() publishes the tile as inside, then re-reads the state (both
// seq_cst); close() stores the state, then quiet() reads every tile (seq_cst). So either
// the tile sees the close and backs out, or PoH sees the tile inside. leave() is a release
// store that quiet() reads with acquire: everything the tile wrote into the bank (and its
// mixin pushes) happens before whatever PoH and the controller do after quiet().
//
// Threads: enter()/leave() only by tile `i`'s thread; close()/quiet()/shut() by PoH;
// open() by the controller (start-up: any single thread before the tiles run).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <riptide/bank/bank_forks.hpp>

namespace riptide::tpu {

class bank_gate {
 public:
  // Throws std::invalid_argument if tiles is 0. The gate starts closed before `first_slot`
  // (closed(first_slot - 1)), so the controller's first open(bank, first_slot) succeeds.
  bank_gate(std::size_t tiles, std::uint64_t first_slot);
  ~bank_gate();
  bank_gate(const bank_gate&) = delete;
  bank_gate& operator=(const bank_gate&) = delete;

  // ---- bank tile i
  // The bank to execute into, with the tile marked inside; or bank::no_bank (not inside):
  // the gate is closed (wait) or shut (see is_shut()).
  [[nodiscard]] bank::bank_index enter(std::size_t tile) noexcept;
  void leave(std::size_t tile) noexcept;
  [[nodiscard]] bool is_shut() const noexcept;

  // ---- PoH
  // No tile enters from now on; slot S is ending (a no-op when shut).
  void close(std::uint64_t slot) noexcept;
  // Closed (or shut), and no tile inside.
  [[nodiscard]] bool quiet() const noexcept;
  // Closed for good: tiles stop executing (PoH will record nothing more).
  void shut() noexcept;

  // ---- controller
  // Opens `bank` for `slot` if the gate is closed(slot - 1); false otherwise (PoH has passed
  // the slot, or the gate is shut), changing nothing.
  [[nodiscard]] bool open(bank::bank_index bank, std::uint64_t slot) noexcept;
  // A rotating validator's blocks do not follow each other slot by slot: opens `bank` for the
  // block of `slot` if the gate is closed for any other slot (the previous block's, or the
  // start's); false if PoH closed this very slot already (the block is past) or the gate is
  // open or shut, changing nothing.
  [[nodiscard]] bool open_block(bank::bank_index bank, std::uint64_t slot) noexcept;

  // For tests and metrics: the open bank and its slot, or false.
  [[nodiscard]] bool open_bank(bank::bank_index& bank, std::uint64_t& slot) const noexcept;

 private:
  struct alignas(64) inside_flag {
    std::atomic<std::uint32_t> bank{bank::no_bank};
  };
  alignas(64) std::atomic<std::uint64_t> state_;
  std::size_t tiles_;
  std::unique_ptr<inside_flag[]> inside_;
};

}  // namespace riptide::tpu
