#pragma once
// TVU tile: the follower's shred path. Shreds received on the TVU port are verified and
// grouped by the FEC resolver, retransmitted to this node's Turbine children, and their data
// assembled into each slot's byte stream, which is handed to the consumer (replay) once the
// slot is complete.
//
//   net (tvu port) ──in──► fec_resolver::add ──► accepted / recovered shreds
//        ▲                                        ├─► turbine children ──tx──► net ──tx_release─┐
//        └──────────── release (every rx frame) ◄─┤                                             │
//                                                 └─► slot_assembler ──► completed slots ──out──► consumer
//                                                                        buffers ◄──out_release──┘
//
// Contract
// - Threads: one core thread runs poll(), housekeep() and set_root(); drained() may be called
//   from any thread (it reads ring sizes only), and arriving() read from any thread. The consumer of `out` may call stream() on its
//   own thread for a slot it has popped and not yet released (the ring's release/acquire order
//   makes the bytes visible).
// - Input: `in` carries frag_desc{frame of `rx_frames`, len, kind, meta = source endpoint}
//   from the net tile's TVU port. Every descriptor popped is pushed back on `release` once the
//   shred has been handled, whatever happened to it (a full `release` is counted in
//   rx_release_full and that frame is lost to the net tile: size `release` for every rx frame).
// - Per shred: fec_resolver::add with the slot's leader from the leader_schedule and the
//   tile's root slot. An accepted shred, and every shred recovered when it completes its set,
//   is (1) retransmitted to this node's children in its Turbine tree (turbine_tree::children
//   with the slot's leader and this node's cluster index): copied into a frame of the tile's
//   own tx pool (tx_frames()) and pushed to `tx` as frag_desc{frame, len, kind =
//   config.tx_port, meta = contacts[child].pack()}; the net tile gives the frame back on
//   `tx_release` after the send. (2) If it is a data shred, inserted into the slot assembler.
//   Shreds the resolver drops are neither retransmitted nor assembled; each is counted by
//   reason (drop_<fec_resolver drop_reason>).
// - Output: when a slot completes, its stream is copied (slot_assembler::take_slot) into one
//   of config.output_slots tile-owned buffers of config.max_slot_bytes each, and
//   completed_slot{slot, parent, bytes, buffer, shred counts} is pushed to `out`. The consumer reads
//   stream(c) and hands the buffer back by pushing the same completed_slot to `out_release`.
//   While no buffer is free or `out` is full, complete slots wait in the assembler (which never
//   evicts complete slots) and are handed over by later polls in completion order
//   (out_backpressure counts polls that had to wait). A slot whose stream exceeds
//   max_slot_bytes is dropped and counted (slots_dropped).
// - Order: with config.deliver_from set (a node following one chain) slots are handed over
//   along the chain from that slot on: next is the complete slot whose parent (the shred's
//   parent_offset) is the last slot handed over, the lowest if two claim it, so slots the
//   cluster skipped are stepped over and nothing waits for them. One slot is out at a time:
//   the next is handed over once the consumer released this one, and only a slot released
//   without `failed` extends the chain and becomes the root (resolver and assembler forget
//   older slots; their late shreds count as too_old / out_of_window); a failed one is
//   counted (slots_rejected) and the chain stays at its parent, whose other children (a
//   block that skips the bad one) can still come, while the failed slot and every complete
//   slot built on it are released unseen (slots_rejected too). A slot longer than
//   max_slot_bytes is refused the same way (slots_dropped). With config.forks the chain is
//   a tree: next is the lowest complete slot above the root whose parent replay kept (or the
//   root), a kept slot does not become the root (set_root / follow_roots move it), a block
//   built below the root is refused (slots_rejected), and "the chain's last slot" below is
//   the highest slot kept, but repair plans from the root on (another fork's blocks may lie
//   below the newest one kept). While a slot is out, arriving
//   names it and repair plans from the slot after it; the assembler then keeps the lowest slots when room runs out
//   (slot_assembler_config::keep_lowest) and repair asks for nothing beyond the next
//   assembler.max_slots slots, so a node far behind catches up slot by slot instead of
//   filling its assembler with later slots it cannot hand over yet. Without it, in
//   completion order.
// - Arriving (what a rotating PoH waits for, tpu::poh_rotation::arriving): at every
//   housekeep the tile stores 1 + the lowest slot that has shreds and has not been handed
//   over, above the last slot handed over (deliver_from mode) or the root, looking at most
//   assembler.max_slots slots ahead; 0 when there is none.
// - Repair (optional tvu_repair_links): datagrams from the net tile's repair port are told
//   apart by shred::is_repair_request. Requests from peers are answered by a repair_server
//   from the tile's shred_store, which holds every shred the resolver accepted or rebuilt.
//   Responses go through the repair_client (nonce must be outstanding) and then down the same
//   path as a Turbine shred, except that a repaired shred is not retransmitted (children
//   that lack it repair it themselves). Every interval_ms the client plans requests for the
//   assembler's gaps from the next slot wanted up to the highest slot seen, leaving out slots
//   that received a shred in the last defer_ms (still arriving: Turbine and FEC usually fill
//   them). Repair times are wall-clock milliseconds (they are signed into requests). With an
//   archive, each slot handed over has its data shreds copied from the store to the archive
//   (shred_archive.hpp), and requests the store cannot answer are answered from it. Requests and
//   answers leave from the repair port through the same tx frames as retransmits. Per slot
//   the tile counts shreds received, recovered and repaired; completed_slot carries them.
// - Retransmit failures never block the pipeline: no free tx frame (tx_no_frame), `tx` full
//   (tx_ring_full; the frame goes straight back to the free list) or a child without a contact
//   (endpoint 0 or index outside `contacts`: tx_no_contact) drop that one copy and count it.
// - Bounded work: each poll handles at most config.batch shreds from `in` (each may retransmit
//   itself and up to 63 recovered shreds to fanout children), reclaims at most every tx frame
//   and output buffer, and hands over at most the complete slots waiting. poll() is noexcept
//   and returns shreds handled + frames/buffers reclaimed + slots handed over.
// - Memory: the resolver, assembler, turbine scratch, tx frame pool and output buffers are all
//   sized by the constructor; nothing allocates afterwards (the resolver's once-per-shape codec
//   aside, see fec_resolver.hpp). `schedule`, `cluster`, `contacts` and the rings must outlive
//   the tile. The constructor throws std::invalid_argument for a bad config.

#include <cstddef>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/epoch/schedule_window.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/net/tx_sender.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/shred/repair_service.hpp>
#include <riptide/shred/shred_store.hpp>
#include <riptide/shred/fec_resolver.hpp>
#include <riptide/shred/slot_assembler.hpp>
#include <riptide/shred/turbine.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tvu {

struct tvu_tile_config {
  shred::fec_resolver_config resolver;    // shred_version, sets in flight, window
  shred::slot_assembler_config assembler;
  std::uint32_t fanout = 200;             // Turbine fanout, the cluster's
  std::size_t batch = 16;                 // shreds taken from `in` per poll (1..64)
  std::uint32_t tx_frames = 1024;         // retransmit frames owned by the tile (≥ 1)
  net::port_kind tx_port = net::port_kind::tvu;  // port retransmits are sent from
  std::size_t output_slots = 4;           // completed-slot buffers (≥ 1)
  std::size_t max_slot_bytes = 4u << 20;  // bytes per completed-slot buffer (≥ 1)
  std::uint64_t root_slot = 0;            // initial root (set_root() moves it)
  // Set: slots are handed over along the chain, starting with the child of slot
  // deliver_from - 1 (slot 0 when 0), and each delivered slot becomes the root. Unset: in
  // completion order.
  std::optional<std::uint64_t> deliver_from;
  // With deliver_from (a voting validator, whose replay keeps several forks): a complete slot
  // is handed over once its parent was (and replay kept it), whichever fork it is on, the
  // lowest first; a slot replay kept does not become the root: the root moves only by
  // set_root(), or from the chain board given to follow_roots().
  bool forks = false;

  // Throws std::invalid_argument naming the first bad field (the resolver's and assembler's
  // own fields are checked by their constructors).
  void validate() const;
};

// One completed slot handed to the consumer. Pushed back unchanged on `out_release`.
struct completed_slot {
  std::uint64_t slot = 0;
  std::uint64_t parent = 0;
  crypto::pubkey leader{};   // the schedule's leader of the slot (its shreds were signed by it)
  bool has_leader = false;   // false: the schedule has no leader for the slot (not checked)
  std::uint64_t bytes = 0;   // stream length
  std::uint32_t buffer = 0;  // which of the tile's output buffers holds the stream
  // How the slot's shreds arrived (data and coding; counted while the slot was tracked):
  std::uint32_t received = 0;   // accepted from Turbine
  std::uint32_t recovered = 0;  // data shreds rebuilt by FEC
  std::uint32_t repaired = 0;   // accepted from repair responses
  // Set by the consumer before it releases the slot: replay rejected it. In deliver_from
  // mode the chain then stays at the slot's parent (see "Order").
  bool failed = false;
};

// Repair: where requests and responses come from and go to. Optional (tests run without).
struct tvu_repair_links {
  const crypto::keypair* identity = nullptr;   // signs requests; must outlive the tile
  std::span<const crypto::pubkey> peer_ids;    // every peer (the contact book's rows)
  net::contact_column peer_repair;             // each peer's repair endpoint, read per send
  std::uint32_t self_index = 0;                // this node in peer_ids (never asked)
  util::spsc_ring<util::frag_desc>* in = nullptr;       // net repair port → tile (rx frames)
  util::spsc_ring<util::frag_desc>* release = nullptr;  // every `in` frame back to the net tile
  shred::shred_store_config store;
  shred::repair_server_config server;
  shred::repair_client_config client;
  std::uint64_t interval_ms = 50;              // how often gaps are looked for
  // A slot is left to Turbine and FEC until no shred of it has arrived for this long.
  std::uint64_t defer_ms = 100;
  // Optional, must outlive the tile: the data shreds of each slot handed over are archived
  // here (from the store, all of the slot's or none), and the server answers from it what the
  // store does not hold: slots older than the store keeps, and slots from before a restart.
  shred::shred_archive* archive = nullptr;
};

class tvu_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_received,          // descriptors popped from `in`
    c_accepted,          // shreds the resolver accepted
    c_drop_first,        // drop_<reason> for each fec_resolver drop_reason but none
    c_recovered = c_drop_first + shred::drop_reason_count - 1,  // shreds rebuilt by FEC
    c_retransmitted,     // copies pushed to `tx`
    c_tx_no_frame,
    c_tx_ring_full,
    c_tx_no_contact,
    c_tx_release_bad,    // a tx_release descriptor naming no free-able frame of the tx pool
    c_rx_release_full,
    c_bad_frame,         // descriptor outside the rx pool or longer than a frame
    c_recovery_failed,   // resolver: sets whose recovery found the leader inconsistent
    c_sets_evicted,      // resolver: sets in progress pushed out by newer ones
    c_slots_completed,
    c_slots_delivered,   // pushed to `out`
    c_slots_dropped,     // complete slots never handed over: longer than max_slot_bytes (or,
                         // defensively, no room left in the waiting list: fetched again)
    c_out_backpressure,  // polls where a complete slot waited for a buffer or room in `out`
    c_out_release_bad,   // an out_release entry naming no buffer, or one not handed out
    c_asm_first,         // asm_<insert_result> for each slot_assembler result but inserted
    c_repair_sent = c_asm_first + shred::insert_result_count - 1,  // requests sent
    c_repair_send_failed,  // requests with no frame or a full tx ring
    c_repaired,            // shreds accepted from repair responses
    c_repair_unmatched,    // responses the client refused (unknown or expired nonce, bad bytes)
    c_repair_served,       // responses sent to other nodes' requests
    c_repair_refused,      // requests the server refused (see its reasons)
    c_recovered_data,      // of `recovered`, the data shreds (the rest are coding shreds)
    c_archived,            // data shreds appended to the archive
    c_archive_incomplete,  // slots handed over whose data shreds the store no longer held
                           // in full (not archived)
    c_archive_refused,     // data shreds the archive refused (see shred_archive counters)
    c_repair_from_archive, // answers to peers found in the archive (not in the store)
    c_sets_forgotten,      // completed FEC sets the resolver forgot because the assembler
                           // lost their shreds (no room, or their slot evicted): taken again
                           // when repair brings them back
    c_slots_rejected,      // deliver_from: slots handed over that the consumer released as
                           // failed (the chain stays at their parent), and complete slots
                           // built on one, released without being handed over
    c_own_received,        // shreds of this node's own blocks from `own` (connect_own)
    c_slots_again,         // forks: a slot replay already accepted completed again (its
                           // shreds came back after the assembler forgot it): released
    c_asm_slots_held,      // gauge: slots the assembler tracks (of assembler.max_slots)
    c_repair_first,        // gauge, forks: the lowest slot the repair window asks for
    c_repair_last,         // gauge, forks: the highest (the window's size-th unaccepted slot)
    c_own_count,
  };
  static_assert(std::size_t{c_own_count} + std::size_t{util::first_own_counter} <=
                util::metrics_max_counters);
  static constexpr std::size_t drop_counter(shred::drop_reason r) noexcept {
    return c_drop_first + static_cast<std::size_t>(r) - 1;
  }
  static constexpr std::size_t assembler_counter(shred::insert_result r) noexcept {
    return c_asm_first + static_cast<std::size_t>(r) - 1;
  }

  // `self` is this node's identity; if it is not in `cluster` the tile retransmits nothing.
  // `contacts[i]` is where cluster index i receives shreds (the contact book, kept up to date
  // by gossip; read at every send).
  tvu_tile(std::string name, const tvu_tile_config& config, const util::frame_pool& rx_frames,
           util::spsc_ring<util::frag_desc>& in, util::spsc_ring<util::frag_desc>& release,
           util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release,
           util::spsc_ring<completed_slot>& out, util::spsc_ring<completed_slot>& out_release,
           const epoch::leader_schedule& schedule, const shred::turbine_cluster& cluster,
           const crypto::pubkey& self, net::contact_column contacts,
           const tvu_repair_links* repair = nullptr);
  ~tvu_tile() override;

  // The pool `tx` descriptors name (give it to net_tile::add_tx).
  const util::frame_pool& tx_frames() const noexcept { return sender_.frames(); }
  // Tx frames on the free list (all of them once every send came back). Core thread only.
  std::size_t free_tx_frames() const noexcept { return sender_.free_frames(); }
  // The bytes of a slot popped from `out`, valid until it is pushed to `out_release`.
  std::span<const std::uint8_t> stream(const completed_slot& c) const noexcept;

  // Start-up, before the runtime runs the tile: this node's own blocks (a rotating validator),
  // as shreds from its shred tile: frames of `frames`, each pushed back on `release` once
  // handled. They take the Turbine path (verified, stored, assembled, handed over in chain
  // order, so the chain and replay include the node's own blocks); nothing is retransmitted
  // (a leader has no place in its own slot's tree: the shred tile sent them to its root).
  void connect_own(const util::frame_pool& frames, util::spsc_ring<util::frag_desc>& in,
                   util::spsc_ring<util::frag_desc>& release) noexcept {
    own_ = own_input{&frames, &in, &release};
  }

  // Moves the root: shreds of older slots are dropped (too_old) and their slots forgotten.
  void set_root(std::uint64_t root) noexcept;
  std::uint64_t root() const noexcept { return root_; }
  // See "Arriving" above; any thread.
  const std::atomic<std::uint64_t>& arriving() const noexcept { return arriving_; }
  // 1 + the highest slot of a shred the resolver accepted (0: none), stored at housekeep and
  // at every poll that saw a higher one; any thread (tpu::poh_rotation::highest_seen).
  const std::atomic<std::uint64_t>& highest_seen() const noexcept { return highest_seen_pub_; }

  const shred::fec_resolver& resolver() const noexcept { return *resolver_; }
  const shred::slot_assembler& assembler() const noexcept { return *assembler_; }
  // Null without repair links.
  const shred::shred_store* store() const noexcept { return store_.get(); }
  const shred::repair_client* repair_client() const noexcept { return client_.get(); }
  const shred::repair_server* repair_server() const noexcept { return server_.get(); }

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  // Start-up, before the tile runs: take leaders from `window` (which must outlive the tile)
  // instead of the constructor's one schedule, and advance it at every housekeep to the
  // epoch of the chain's next slot, so the node follows leaders past the first epoch. The
  // window belongs to this tile's thread from then on.
  void follow_epochs(epoch::schedule_window& window) noexcept;
  // Start-up (config.forks): at every housekeep the root moves to the board's root slot (the
  // replay tile sets it when consensus roots a block). `board` must outlive the tile.
  void follow_roots(const bank::chain_board* board) noexcept { roots_ = board; }
  bool drained() const noexcept override {
    return in_.empty_approx() && (own_.in == nullptr || own_.in->empty_approx());
  }

 private:
  class schedule_lookup;
  class repair_sink;
  class defer_gate;
  enum class origin : std::uint8_t { turbine, repair, own };
  struct own_input {
    const util::frame_pool* frames = nullptr;
    util::spsc_ring<util::frag_desc>* in = nullptr;
    util::spsc_ring<util::frag_desc>* release = nullptr;
  };
  struct slot_tally {
    std::uint64_t slot = ~std::uint64_t{0};
    std::uint32_t received = 0, recovered = 0, repaired = 0;
    std::uint64_t last_ms = 0;  // wall clock of the slot's last accepted shred
  };

  void handle(const util::frag_desc& d) noexcept;
  void handle_bytes(std::span<const std::uint8_t> bytes, origin from) noexcept;
  void on_shred(const shred::shred_view& v, const crypto::pubkey* leader, bool retransmit_it) noexcept;
  void retransmit(const shred::shred_view& v, const crypto::pubkey& leader) noexcept;
  int reclaim_outputs() noexcept;
  int deliver_completed() noexcept;
  int deliver_in_order() noexcept;
  [[nodiscard]] bool rejected(std::uint64_t slot) const noexcept;
  // deliver_from mode: the lowest slot that can extend the chain (0 before any).
  [[nodiscard]] std::uint64_t chain_next() const noexcept { return delivered_tip_ ? *delivered_tip_ + 1 : 0; }
  void reject(std::uint64_t slot) noexcept;
  [[nodiscard]] bool accepted(std::uint64_t slot) const noexcept;
  // [first, last] to ask repair for.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> repair_window() const noexcept;
  std::pair<std::uint64_t, std::uint64_t> fork_repair_window() noexcept;
  void compact_pending() noexcept;
  bool hand_over(std::uint64_t slot) noexcept;
  void archive_slot(std::uint64_t slot) noexcept;
  void forget_evicted() noexcept;
  int poll_repair() noexcept;
  int poll_own() noexcept;
  slot_tally& tally(std::uint64_t slot) noexcept;

  tvu_tile_config config_;
  const util::frame_pool& rx_frames_;
  util::spsc_ring<util::frag_desc>& in_;
  util::spsc_ring<util::frag_desc>& release_;
  util::spsc_ring<completed_slot>& out_;
  util::spsc_ring<completed_slot>& out_release_;
  epoch::leader_timeline own_timeline_;       // the constructor's schedule alone
  const epoch::leader_timeline* timeline_;    // own_timeline_, or follow_epochs()'s window
  epoch::schedule_window* window_ = nullptr;
  net::contact_column contacts_;
  std::unique_ptr<schedule_lookup> lookup_;
  std::unique_ptr<shred::fec_resolver> resolver_;
  std::unique_ptr<shred::slot_assembler> assembler_;
  shred::turbine_tree tree_;
  std::uint32_t self_;
  net::tx_sender sender_;
  std::unique_ptr<std::uint8_t[]> outputs_;      // output_slots × max_slot_bytes
  std::vector<std::uint32_t> free_outputs_;      // stack, capacity output_slots
  std::vector<std::uint8_t> output_out_;         // 1 while buffer i is with the consumer
  std::vector<std::uint64_t> pending_;           // complete slots waiting, oldest first
  std::size_t pending_head_ = 0;                 // ring over pending_ (capacity max_slots)
  std::size_t pending_count_ = 0;
  std::uint64_t root_;
  std::optional<std::uint64_t> delivered_tip_;  // deliver_from mode: the chain's last slot
  std::optional<std::uint64_t> in_flight_;      // deliver_from mode: handed over, not released
  // deliver_from mode: slots replay refused (or too large to hand over), and slots built on
  // them: never handed over again. The oldest is forgotten first; by then the root passed it.
  std::array<std::uint64_t, 64> rejected_{};
  std::size_t rejected_count_ = 0, rejected_next_ = 0;
  // config.forks: slot + 1 at slot % size for the slots replay kept above the root (a slot
  // 4096 above an unrooted one overwrites it: its children then wait until the root passes).
  std::vector<std::uint64_t> accepted_;
  const bank::chain_board* roots_ = nullptr;
  std::uint64_t highest_seen_ = 0;  // highest slot of an accepted shred
  std::atomic<std::uint64_t> arriving_{0};
  std::atomic<std::uint64_t> highest_seen_pub_{0};
  std::vector<slot_tally> tallies_;  // by slot % size
  // Repair (null without links).
  std::optional<tvu_repair_links> repair_;
  std::unique_ptr<shred::shred_store> store_;
  std::unique_ptr<shred::repair_server> server_;
  std::unique_ptr<shred::repair_client> client_;
  std::unique_ptr<repair_sink> request_sink_, response_sink_;
  std::unique_ptr<defer_gate> gate_;
  std::uint64_t next_plan_ms_ = 0;
  std::uint64_t now_ms_ = 0;  // wall clock, read once per poll (repair only)
  own_input own_;             // null rings: not connected
};

}  // namespace riptide::tvu
