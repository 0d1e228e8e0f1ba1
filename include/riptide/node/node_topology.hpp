#pragma once
// The tiles and links of one node, as data (topology.hpp): what node::node builds, and what
// tests inspect without starting anything.
//
//   net ─► verify ×V ─► dedup ─► bank ×B ─► poh ─► ledger ─► shred ─► net   (TPU, leader)
//   load ─► net                                                            (own client)
//   net ─► gossip ─► net ; http api ─► gossip (commands)                   (gossip)
//   net ─► tvu ─► replay ─► tvu ; tvu ─► net                              (TVU, follower)
//   shred ─► tvu (own shreds) ; replay ─► poh (resets)                      (rotating validator)
//   net ─► shred / tvu (repair requests)
//
// Which parts exist comes from node_shape, which node::node derives from the config and the
// genesis (today a node is a leader, a follower or standalone; the shape says which tiles
// that role runs). Link names are "producer>consumer[.what]"; frames go back to the net
// tile on "<tile>>net.free" rings. Pure: builds a description, starts nothing.

#include <riptide/node/topology.hpp>
#include <riptide/node/tpu_pipeline.hpp>

#include <cstddef>

namespace riptide::node {

struct node_shape {
  bool net = false;     // the net tile: every UDP port
  bool gossip = false;  // needs net
  bool rpc = false;     // the HTTP API (an outside party; sends gossip commands)
  bool poh = true;      // PoH and the TPU (tpu.verify_tiles may still be 0); false for a follower
  tpu_shape tpu;        // source "net"; verify tiles need net; free_ring is set from rx_free_ring
  bool load = false;    // the load tile: a client of the node's own tpu port (needs verify tiles)
  bool shred = false;   // the leader's shred tile (needs net and tpu.records_out)
  bool tvu = false;     // a follower's tvu and replay tiles (needs net)
  // A rotating validator (needs poh, records_out, shred and tvu): its shred tile hands a copy
  // of every own shred to its TVU, and replay resets PoH after every stored slot.
  bool rotation = false;
  // A voting validator (needs rotation): replay tells the consensus tile of every stored
  // block and landed vote; the consensus tile sends our votes through the net tile.
  bool consensus = false;
  std::size_t consensus_tx_frames = 16;
  std::size_t own_shred_frames = 4096;
  std::size_t rx_free_ring = 1 << 16;   // frames of the net's rx pool: every "<tile>>net.free" holds them all
  std::size_t load_frames = 4096;
  std::size_t gossip_tx_frames = 1024;
  std::size_t shred_tx_frames = 4096;
  std::size_t retransmit_frames = 4096;
};

// Names of the links node::node hands to the net tile and the tiles it builds itself.
namespace links {
inline constexpr const char* load_tx = "load>net";
inline constexpr const char* load_free = "net>load.free";
inline constexpr const char* gossip_rx = "net>gossip";
inline constexpr const char* gossip_rx_free = "gossip>net.free";
inline constexpr const char* gossip_tx = "gossip>net";
inline constexpr const char* gossip_tx_free = "net>gossip.free";
inline constexpr const char* gossip_commands = "api>gossip";
inline constexpr const char* shred_repair_rx = "net>shred.repair";
inline constexpr const char* shred_repair_free = "shred.repair>net.free";
inline constexpr const char* shred_tx = "shred>net";
inline constexpr const char* shred_tx_free = "net>shred.free";
inline constexpr const char* tvu_rx = "net>tvu";
inline constexpr const char* tvu_rx_free = "tvu>net.free";
inline constexpr const char* tvu_repair_rx = "net>tvu.repair";
inline constexpr const char* tvu_repair_free = "tvu.repair>net.free";
inline constexpr const char* tvu_tx = "tvu>net";
inline constexpr const char* tvu_tx_free = "net>tvu.free";
inline constexpr const char* completed = "tvu>replay";
inline constexpr const char* completed_release = "replay>tvu";
inline constexpr const char* own_shreds = "shred>tvu.own";
inline constexpr const char* own_shreds_free = "tvu>shred.own.free";
inline constexpr const char* resets = "replay>poh";
inline constexpr const char* consensus_events = "replay>consensus";
inline constexpr const char* consensus_verdicts = "consensus>replay";
inline constexpr const char* consensus_tx = "consensus>net";
inline constexpr const char* consensus_tx_free = "net>consensus.free";
}  // namespace links

// Throws std::invalid_argument on a shape that cannot run (a part without what it needs).
[[nodiscard]] topology declare_node(const node_shape& shape);

}  // namespace riptide::node
