#pragma once
// Gossip tile: wires the pure gossip engine to the net tile's rings and to the HTTP API.
//
// Contract
//   - Runs on one core thread. Receives gossip datagrams from net (rx ring, frames in net's
//     pool, source endpoint packed in `meta`), feeds them to the engine with the wall clock in
//     ms, and hands every frame straight back (rx release ring). Sends what the engine queues
//     through its own frame pool (tx ring to net; net returns frames on the tx release ring).
//   - Operator commands (set a Data key) arrive on an SPSC ring whose single producer is the
//     HTTP API thread. Snapshots for readers (peers, data, health, stats) are published to a
//     `snapshot_board` from housekeep() every `snapshot_interval_ms`; building one allocates,
//     which is fine at that rate and off the packet path.
//   - The node's contact book (connect_contacts, optional) is rewritten from the same peer list
//     at every snapshot: each validator's ports as its newest signed ContactInfo names them,
//     so Turbine, repair and forwarding reach a node restarted on other ports. The tile is
//     the book's only writer once the node runs.
//   - Never blocks; a full ring or an empty frame pool is counted, never waited for.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/gossip/engine.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::gossip {

constexpr std::size_t command_key_max_bytes = 64;
constexpr std::size_t command_value_max_bytes = 512;

struct gossip_command {
  std::uint8_t key_len = 0;
  std::uint16_t value_len = 0;
  char key[command_key_max_bytes];
  char value[command_value_max_bytes];
};

// Everything the HTTP API shows, as of one moment.
struct gossip_snapshot {
  std::uint64_t taken_unix_ms = 0;
  contact_info self;
  node_health health = node_health::isolated;
  std::vector<peer_view> peers;
  std::vector<data_view> data;
  std::size_t table_size = 0;
  std::vector<std::pair<std::string, std::uint64_t>> counts_by_kind;
  std::vector<std::pair<std::string, std::uint64_t>> stats;
  // Another live process signs gossip as this node (engine::duplicate_identity()).
  bool duplicate_identity = false;
};

// Latest snapshot, handed from the tile to readers. A mutex guards only a shared_ptr swap
// (a few ns, at most every snapshot interval on the tile side).
class snapshot_board {
 public:
  void publish(std::shared_ptr<const gossip_snapshot> s) {
    std::lock_guard lock(mutex_);
    latest_ = std::move(s);
  }
  std::shared_ptr<const gossip_snapshot> latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const gossip_snapshot> latest_;
};

// Writes each peer's ContactInfo ports into the row of its identity (peers the book has no row
// for are left out; a 0 address or port keeps what the book had). Returns the number of
// endpoints that changed.
std::size_t learn_contacts(net::contact_book& book, std::span<const peer_view> peers) noexcept;

struct gossip_tile_config {
  gossip_config engine;
  std::vector<socket_addr> entrypoints;
  std::uint64_t seed = 1;
  std::uint32_t tx_frames = 2048;
  std::uint64_t snapshot_interval_ms = 200;
  std::uint16_t gossip_port_kind = 0;  // net::port_kind::gossip, as the tx descriptor's kind
};

class gossip_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_rx_packets, c_tx_packets, c_tx_no_frame, c_tx_ring_full, c_rx_release_full, c_commands,
    c_commands_rejected, c_snapshots, c_peers_active, c_table_size,
    c_contacts_changed,  // contact book endpoints rewritten from ContactInfo (learn_contacts)
  };

  gossip_tile(std::string name, const crypto::keypair& identity, const contact_info& self,
              const gossip_tile_config& config, const util::frame_pool& rx_pool,
              util::spsc_ring<util::frag_desc>& rx_in, util::spsc_ring<util::frag_desc>& rx_release,
              util::spsc_ring<util::frag_desc>& tx_out, util::spsc_ring<util::frag_desc>& tx_release,
              util::spsc_ring<gossip_command>* commands, snapshot_board* board);

  const util::frame_pool& tx_frames() const noexcept { return tx_pool_; }
  // Start-up, before the tile runs: keep `book` (which must outlive the tile) up to date.
  void connect_contacts(net::contact_book& book) noexcept { contacts_ = &book; }
  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  bool drained() const noexcept override { return rx_in_.empty_approx(); }

 private:
  int reclaim_tx() noexcept;
  int send_outgoing() noexcept;
  void publish_snapshot(std::uint64_t now_ms);

  engine engine_;
  contact_info self_;
  gossip_tile_config config_;
  const util::frame_pool& rx_pool_;
  util::spsc_ring<util::frag_desc>& rx_in_;
  util::spsc_ring<util::frag_desc>& rx_release_;
  util::spsc_ring<util::frag_desc>& tx_out_;
  util::spsc_ring<util::frag_desc>& tx_release_;
  util::spsc_ring<gossip_command>* commands_;
  snapshot_board* board_;
  net::contact_book* contacts_ = nullptr;
  util::frame_pool tx_pool_;
  util::frame_stack tx_free_;
  std::uint64_t last_tick_ms_ = 0;
  std::uint64_t last_snapshot_ms_ = 0;
  bool outgoing_pending_ = false;
  outgoing pending_{};
};

}  // namespace riptide::gossip
