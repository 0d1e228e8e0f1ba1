#pragma once
// Forward tile (Gulf Stream): where each transaction that passed sigverify and dedup goes on a
// node that may not be the leader right now. epoch::plan_forward decides from the leader
// schedule and the slot in progress: kept for this node's banks (we lead now, or soon),
// forwarded to the tpu_forwards port of the leaders of the next slots, both, or dropped.
//
//   dedup ──in──► plan_forward(slot now, arrived on tpu_forwards?) ─┬─ keep ──► keep (banks)
//                                                                 ├─ forward ──► tx ──► net (one copy per leader)
//                                                                 └─ drop ──► release
//
// Contract
//   - Runs on one core thread; drained() may be called from any thread.
//   - Input: `in` carries frag_desc{frame of `frames`, len, kind = the port it arrived on, meta}
//     as dedup passes them on. kind == port_kind::tpu_forwards marks a transaction another node
//     forwarded: it is never forwarded again (plan_forward).
//   - The slot in progress is read from `board` (bank::chain_board, the node's PoH) once per
//     poll; the decision and the leaders' addresses are worked out once per slot (and per
//     origin), so a transaction costs a table lookup, not a schedule walk.
//   - keep (consume, hold, forward_and_hold): the descriptor goes on `keep` unchanged (a reliable
//     link: the tile pops only what `keep` has room for and counts the polls it waited,
//     keep_backpressure); with no `keep` it is released and counted in kept_released (a node
//     without banks). Holding for a later slot is the banks' business.
//   - forward: one copy to each target's tpu_forwards endpoint (the contact book, by identity,
//     looked up once per slot so an address gossip changed is used from the next slot) through
//     the tile's own send frames (net::tx_sender), sent from this node's tpu_forwards port;
//     then the frame is released, unless it is also kept. A target with no known address is
//     counted (no_contact); a copy with no free frame or a full tx ring is counted and not
//     retried (the client or the next leader's own retries cover it). A transaction only to
//     be forwarded of which no copy left is lost and counted (forward_failed).
//   - drop: released and counted by reason (dropped_reforward: arrived forwarded and we do not
//     lead soon; dropped_no_leader: no leader of the coming slots is known).
//   - Every descriptor popped ends on `keep` or on `release`; a full `release` is counted
//     (release_full).
//   - Memory: the send frames and the per-slot target table are sized at construction; poll()
//     is noexcept and allocates nothing. Construction throws std::invalid_argument on a bad
//     config.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/epoch/rotation.hpp>
#include <riptide/epoch/schedule_window.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/net/tx_sender.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct forward_tile_config {
  crypto::pubkey identity{};
  epoch::rotation_config rules;  // forward_slots, hold_slots, hold_forwarded_slots
  std::uint32_t tx_frames = 256;  // send frames owned by the tile (>= 1)
  std::size_t batch = 32;         // descriptors per poll (1..64)
  void validate() const;          // throws std::invalid_argument naming the bad field
};

class forward_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_received,
    c_kept,               // pushed to keep (consume, hold, forward_and_hold)
    c_kept_released,      // would be kept, but the node has no banks: released
    c_forwarded_txs,      // transactions of which at least one copy was sent
    c_forwarded,          // copies sent
    c_dropped_reforward,  // arrived on tpu_forwards, we do not lead soon: never forwarded again
    c_dropped_no_leader,  // no leader of the coming slots known
    c_no_contact,         // a target leader with no known tpu_forwards address
    c_tx_no_frame,
    c_tx_ring_full,
    c_tx_release_bad,
    c_keep_backpressure,  // polls that found keep full
    c_release_full,
    c_bad_frame,          // descriptor outside the frame pool
    c_forward_failed,     // to forward only, but no copy left (no address, no frame): lost
    c_own_count,
  };

  // `timeline`'s schedules and `contacts` must outlive the tile. `keep` and `release` may be
  // null (no banks; frames owned by nobody, as in tests).
  forward_tile(std::string name, const forward_tile_config& config, const epoch::leader_timeline& timeline,
               const net::contact_book& contacts, const bank::chain_board& board,
               const util::frame_pool& frames, util::spsc_ring<util::frag_desc>& in,
               util::spsc_ring<util::frag_desc>* keep, util::spsc_ring<util::frag_desc>* release,
               util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  bool drained() const noexcept override { return in_.empty_approx(); }
  // Start-up, before the tile runs: plan by `window`'s timeline (the window must outlive the
  // tile) instead of the constructor's, advanced at every housekeep to the epoch of the slot
  // in progress. The window belongs to this tile's thread from then on.
  void follow_epochs(epoch::schedule_window& window) noexcept;

  const util::frame_pool& tx_frames() const noexcept { return sender_.frames(); }

 private:
  // The decision for transactions of one origin in the slot it was made for.
  struct plan {
    epoch::forward_action action = epoch::forward_action::drop;
    std::array<net::endpoint, epoch::forward_decision::max_targets> to{};
    std::uint8_t count = 0;
    std::uint8_t missing = 0;  // targets with no known address (no_contact per transaction)
  };
  void replan(std::uint64_t slot) noexcept;
  void handle(const util::frag_desc& d) noexcept;
  void release(const util::frag_desc& d) noexcept;

  forward_tile_config config_;
  const epoch::leader_timeline* timeline_;
  epoch::schedule_window* window_ = nullptr;
  const net::contact_book& contacts_;
  const bank::chain_board& board_;
  const util::frame_pool& frames_;
  util::spsc_ring<util::frag_desc>& in_;
  util::spsc_ring<util::frag_desc>* keep_;
  util::spsc_ring<util::frag_desc>* release_;
  net::tx_sender sender_;
  std::array<plan, 2> plans_{};  // [0]: arrived on tpu, [1]: arrived on tpu_forwards
  std::uint64_t plans_slot_ = ~std::uint64_t{0};
};

}  // namespace riptide::tpu
