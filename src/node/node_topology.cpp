#include <riptide/node/node_topology.hpp>

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace riptide::node {

namespace {
// Ring depth for `frames` frames: every one fits.
std::size_t depth_for(std::size_t frames) { return std::max<std::size_t>(2, std::bit_ceil(frames)); }
}  // namespace

topology declare_node(const node_shape& s) {
  const bool tpu_in = s.poh && s.tpu.verify_tiles > 0;
  if ((s.gossip || s.shred || s.tvu || tpu_in) && !s.net)
    throw std::invalid_argument("node: gossip, shred, tvu and verify tiles need the net tile");
  if (s.load && !tpu_in) throw std::invalid_argument("node: the load tile needs verify tiles");
  if (s.shred && (!s.poh || !s.tpu.records_out))
    throw std::invalid_argument("node: the shred tile reads the ledger tile's records");
  if (s.shred && s.tvu && !s.rotation)
    throw std::invalid_argument("node: a node with both shred and tvu tiles is a rotating validator (rotation)");
  if (s.rotation && !(s.shred && s.tvu))
    throw std::invalid_argument("node: a rotating validator runs the shred, tvu and replay tiles");
  if (s.consensus && !s.rotation) throw std::invalid_argument("node: the consensus tile is a rotating validator's");
  if (!s.poh && tpu_in) throw std::invalid_argument("node: verify tiles need PoH");
  if (tpu_in && s.tpu.source != "net") throw std::invalid_argument("node: the TPU's frames are the net tile's");

  topology t;
  if (s.rpc) t.add_outside("api");
  if (s.net) t.add_tile("net", "net", placement::light);
  if (s.gossip) t.add_tile("gossip", "gossip", placement::light);
  if (s.shred) t.add_tile("shred", "shred", placement::light);
  if (s.tvu) t.add_tile("tvu", "tvu", placement::light);
  if (s.load) t.add_tile("load", "load", placement::light);
  if (s.poh) {
    tpu_shape tpu = s.tpu;
    tpu.free_ring = depth_for(s.rx_free_ring);  // the TPU's frames are the net tile's rx frames
    declare_tpu(t, tpu);
  }
  if (s.tvu) t.add_tile("replay", "replay", placement::heavy);
  if (s.consensus) t.add_tile("consensus", "consensus", placement::light);

  const std::size_t rx_free = depth_for(s.rx_free_ring);
  if (s.load) {
    t.add_link(links::load_tx, link_kind::frags, link_mode::reliable, 1024, "load", "net");
    t.add_link(links::load_free, link_kind::frags, link_mode::reliable, depth_for(s.load_frames), "net", "load");
  }
  if (s.gossip) {
    t.add_link(links::gossip_rx, link_kind::frags, link_mode::lossy, 1024, "net", "gossip");
    t.add_link(links::gossip_rx_free, link_kind::frags, link_mode::reliable, rx_free, "gossip", "net");
    t.add_link(links::gossip_tx, link_kind::frags, link_mode::lossy, 1024, "gossip", "net");
    t.add_link(links::gossip_tx_free, link_kind::frags, link_mode::reliable, depth_for(s.gossip_tx_frames), "net",
               "gossip");
    if (s.rpc) t.add_link(links::gossip_commands, link_kind::gossip_commands, link_mode::lossy, 64, "api", "gossip");
  }
  if (s.shred) {
    if (!s.rotation) {  // a rotating validator's TVU answers repair, own blocks included
      t.add_link(links::shred_repair_rx, link_kind::frags, link_mode::lossy, 1024, "net", "shred");
      t.add_link(links::shred_repair_free, link_kind::frags, link_mode::reliable, rx_free, "shred", "net");
    }
    t.add_link(links::shred_tx, link_kind::frags, link_mode::lossy, depth_for(s.shred_tx_frames), "shred", "net");
    t.add_link(links::shred_tx_free, link_kind::frags, link_mode::reliable, depth_for(s.shred_tx_frames), "net",
               "shred");
  }
  if (s.tvu) {
    t.add_link(links::tvu_rx, link_kind::frags, link_mode::lossy, 4096, "net", "tvu");
    t.add_link(links::tvu_rx_free, link_kind::frags, link_mode::reliable, rx_free, "tvu", "net");
    t.add_link(links::tvu_repair_rx, link_kind::frags, link_mode::lossy, 1024, "net", "tvu");
    t.add_link(links::tvu_repair_free, link_kind::frags, link_mode::reliable, rx_free, "tvu", "net");
    t.add_link(links::tvu_tx, link_kind::frags, link_mode::lossy, depth_for(s.retransmit_frames), "tvu", "net");
    t.add_link(links::tvu_tx_free, link_kind::frags, link_mode::reliable, depth_for(s.retransmit_frames), "net",
               "tvu");
    t.add_link(links::completed, link_kind::completed_slots, link_mode::reliable, 8, "tvu", "replay");
    t.add_link(links::completed_release, link_kind::completed_slots, link_mode::reliable, 8, "replay", "tvu");
  }
  if (s.rotation) {
    const std::size_t own = depth_for(s.own_shred_frames);
    t.add_link(links::own_shreds, link_kind::frags, link_mode::lossy, own, "shred", "tvu");
    t.add_link(links::own_shreds_free, link_kind::frags, link_mode::reliable, own, "tvu", "shred");
    t.add_link(links::resets, link_kind::resets, link_mode::lossy, 64, "replay", "poh");
    // Replay and the ledger tile both make, freeze and root banks of the forks the bank
    // tiles execute into: one core thread, so their calls never overlap.
    if (s.tpu.bank_tiles > 0) t.keep_together("ledger", "replay");
  }
  if (s.consensus) {
    // Lossy: replay never waits for consensus (a lost vote event is mended by the voter's
    // next one; consensus_dropped counts it).
    t.add_link(links::consensus_events, link_kind::consensus_events, link_mode::lossy, 1024, "replay", "consensus");
    // Reliable: consensus keeps its newest verdict until there is room (replay takes the newest).
    t.add_link(links::consensus_verdicts, link_kind::consensus_verdicts, link_mode::reliable, 64, "consensus",
               "replay");
    const std::size_t frames = depth_for(s.consensus_tx_frames);
    t.add_link(links::consensus_tx, link_kind::frags, link_mode::lossy, frames, "consensus", "net");
    t.add_link(links::consensus_tx_free, link_kind::frags, link_mode::reliable, frames, "net", "consensus");
  }
  return t;
}

}  // namespace riptide::node
