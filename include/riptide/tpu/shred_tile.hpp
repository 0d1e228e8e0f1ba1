#pragma once
// Shred tile: the leader's side of Turbine. It cuts the slots the ledger tile writes into
// signed, erasure-coded shreds, sends each to the root of its Turbine tree, keeps recent
// shreds and answers repair requests from them.
//
//   ledger tile ──records──► shredder ──► shred store (repair answers)
//   (ledger_record_ref)         │
//                               └──► turbine_tree::root ──tx──► net (tvu port) ──► root node
//   net (repair port) ──repair_in──► repair_server ──tx──► net (repair port) ──► requester
//
// Contract
// - One core thread runs poll(), on_start() and on_stop(). Inputs: `records` (every record the
//   ledger tile appended, in order; the bytes are read from the ledger with encoded_at, zero
//   copy) and, optionally, `repair_in` (datagrams from the net tile's repair port, frames of
//   `rx_frames`, each pushed back on `repair_release` once handled).
// - A slot's stream is exactly its ledger records, encoded as on disk, concatenated: a
//   follower that replays it appends the same records and ends with the same ledger. A slot
//   is opened at its first record (parent = the record's parent: the previous block in the
//   ledger; slot 0 is its own parent) and closed at its slot_end record, which emits the
//   last FEC set (marked slot_complete).
// - Each shred is stored (shred_store) and sent once, to the root of its tree
//   (turbine_tree::root with this node as leader), from the tile's own frames (tx_sender).
//   A send that finds no frame or a full ring is counted and not retried: followers repair it
//   from this tile's store.
// - Repair requests are answered by repair_server (signed, rate-limited per requester, see
//   shred/repair_service.hpp); responses go to the requester's repair endpoint.
// - slot_log (optional): one CSV line per slot, "slot,unix_ns,data_shreds,coding_shreds",
//   written when the slot's last shred has been handed to the net tile; flushed at on_stop.
// - Memory: shredder, store, frames and the tree are sized in the constructor. The
//   constructor throws std::invalid_argument for a bad config and std::runtime_error if the
//   slot log cannot be opened.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/net/tx_sender.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/shred/repair_service.hpp>
#include <riptide/shred/shred_archive.hpp>
#include <riptide/shred/shred_store.hpp>
#include <riptide/shred/shredder.hpp>
#include <riptide/shred/turbine.hpp>
#include <riptide/tpu/ledger_tile.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct shred_tile_config {
  std::uint16_t shred_version = 0;
  std::uint32_t fanout = 200;      // the cluster's Turbine fanout
  std::uint32_t tx_frames = 4096;  // send frames (shreds and repair responses)
  std::size_t batch = 16;          // records and repair datagrams handled per poll (1..64)
  shred::shred_store_config store;
  shred::repair_server_config repair;
  std::string slot_log;            // CSV path; empty: none
  // Optional, must outlive the tile: every data shred made is archived here, and repair
  // answers from it what the store no longer holds (slots from before a restart included).
  shred::shred_archive* archive = nullptr;
};

// The peers a node exchanges shreds with, index = row of the node's contact book.
struct shred_peers {
  std::span<const crypto::pubkey> ids;
  net::contact_column repair;  // repair endpoint of each peer, as gossip knows it now
};

class shred_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_records, c_slots, c_data_shreds, c_coding_shreds, c_sent, c_send_no_frame,
    c_send_ring_full, c_no_root, c_shredder_refused, c_repair_requests, c_repair_responses,
    c_repair_dropped, c_rx_release_full, c_bad_frame, c_bad_record, c_store_evicted,
    c_archived,             // data shreds appended to the archive
    c_archive_refused,      // data shreds the archive refused (see shred_archive counters)
    c_repair_from_archive,  // repair answers found in the archive (not in the store)
    c_own_sent,             // copies handed to this node's own TVU (connect_own)
    c_own_dropped,          // copies not handed over: no frame, or the ring was full
  };

  // `tvu_contacts[i]` is where cluster index i (turbine canonical order) receives shreds, read
  // at every send (the contact book gossip keeps up to date).
  shred_tile(std::string name, const shred_tile_config& config, const crypto::keypair& leader,
             const ledger::ledger& lg, util::spsc_ring<ledger_record_ref>& records,
             const shred::turbine_cluster& cluster, net::contact_column tvu_contacts,
             const shred_peers& peers, const util::frame_pool& rx_frames,
             util::spsc_ring<util::frag_desc>* repair_in,
             util::spsc_ring<util::frag_desc>* repair_release,
             util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release);
  ~shred_tile() override;

  const util::frame_pool& tx_frames() const noexcept { return sender_.frames(); }
  // Start-up, before the runtime runs the tile (a rotating validator): a copy of every shred
  // made also goes to this node's own TVU (tvu_tile::connect_own), in `frames` frames of the
  // tile's own, pushed to `out` and given back on `release`; the TVU puts the node's own
  // blocks on its chain, in its repair store and through replay like anyone's. A copy that
  // finds no frame or a full ring is counted (own_dropped); the TVU repairs it from peers.
  void connect_own(std::uint32_t frames, util::spsc_ring<util::frag_desc>& out,
                   util::spsc_ring<util::frag_desc>& release);
  // The pool of connect_own's frames (null before it).
  const util::frame_pool* own_frames() const noexcept { return own_ ? &own_->frames() : nullptr; }
  const shred::shred_store& store() const noexcept { return store_; }

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  bool drained() const noexcept override { return records_.empty_approx(); }
  void on_stop() noexcept override;

 private:
  class sink;
  class repair_sink;
  void on_record(const ledger_record_ref& ref) noexcept;
  void send_shred(std::span<const std::uint8_t> bytes) noexcept;
  void count_send(net::send_result r, std::size_t sent_counter) noexcept;
  int serve_repair() noexcept;

  shred_tile_config config_;
  crypto::pubkey self_;
  const ledger::ledger& ledger_;
  util::spsc_ring<ledger_record_ref>& records_;
  net::contact_column tvu_contacts_;
  shred_peers peers_;
  const util::frame_pool& rx_frames_;
  util::spsc_ring<util::frag_desc>* repair_in_;
  util::spsc_ring<util::frag_desc>* repair_release_;
  shred::shredder shredder_;
  shred::turbine_tree tree_;
  shred::shred_store store_;
  shred::repair_server server_;
  net::tx_sender sender_;
  std::unique_ptr<net::tx_sender> own_;  // connect_own
  std::unique_ptr<sink> sink_;
  std::unique_ptr<repair_sink> repair_sink_;
  std::FILE* slot_log_ = nullptr;
  std::uint64_t slot_data_ = 0, slot_coding_ = 0;  // shreds of the open slot
};

}  // namespace riptide::tpu
