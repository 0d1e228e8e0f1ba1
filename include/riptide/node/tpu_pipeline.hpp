#pragma once
// The TPU (transactions in, entries out) declared and built once, for the node and for
// bench_pipeline alike:
//
//   source ─► verify ×V ─► dedup ─► bank ×B ─► poh ─► ledger [─► shred]
//     ▲           │          │  ▲       │        │
//     └─ frames ──┴──────────┘  └ slot_hashes ───┘ (PoH's newest blockhash to dedup)
//
// `source` is whoever owns the packet frames the verify tiles read: the net tile in a node,
// the benchmark's driver thread (an outside party) in bench_pipeline. Every tile that is done
// with a frame hands it back to the source on its own ".free" ring.
//
// declare_tpu() adds the tiles and links to a topology (tile names: verify<i>, dedup,
// bank<j>, poh, ledger; link names below in the .cpp); build_tpu() constructs the tiles on
// the rings of a link_set, taking each tile's own ends only. Both throw at start-up on a bad
// shape (std::invalid_argument) or a wiring bug (std::logic_error, from link_set). The
// resources (frame pool, bank forks, gate, stores, ledger, board) belong to the caller and
// must outlive the tiles.

#include <riptide/bank/bank_forks.hpp>
#include <riptide/bank/chain_board.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/node/topology.hpp>
#include <riptide/tpu/bank_gate.hpp>
#include <riptide/tpu/bank_tile.hpp>
#include <riptide/tpu/dedup_tile.hpp>
#include <riptide/tpu/forward_tile.hpp>
#include <riptide/tpu/ledger_tile.hpp>
#include <riptide/tpu/microblock.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/tpu/verify_tile.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace riptide::node {

struct tpu_shape {
  std::string source = "net";  // the frames' owner: a tile or an outside party of the topology
  std::size_t verify_tiles = 0;  // 0: no verify, dedup or bank tiles (PoH and ledger only)
  std::size_t bank_tiles = 0;    // needs verify tiles and the ledger (it stores the microblocks)
  bool ledger = true;            // the ledger tile (PoH's entries go nowhere without it)
  bool records_out = false;      // ledger -> shred (the leader's shred tile reads its records)
  // Gulf Stream (a rotating validator): dedup -> forward -> bank0, and forward -> source
  // (copies to the coming leaders' tpu_forwards). Needs exactly one bank tile.
  bool forward = false;
  std::size_t forward_frames = 1024;  // the forward tile's send frames
  std::size_t verify_ring = 1024;     // source -> verify, verify -> dedup
  std::size_t bank_ring = 1024;       // dedup -> bank
  std::size_t free_ring = 1 << 16;    // every ".free" ring back to the source (>= its frames)
  std::size_t entries_ring = 8192;    // poh -> ledger
  std::size_t records_ring = 8192;    // ledger -> shred
};

// Link names, for the parties outside this file (net, shred, the benchmark's driver).
[[nodiscard]] std::string tpu_verify_in(const tpu_shape& shape, std::size_t verify);
// Verify tile i's frames back to the source (the net tile pairs it with tpu_verify_in).
[[nodiscard]] std::string tpu_verify_free(const tpu_shape& shape, std::size_t verify);
// The other tiles' frames back to the source: dedup's, the forward tile's, then each bank tile's.
// The forward tile's copies to the source (tx) and their frames back (tx_free).
inline constexpr const char* tpu_forward_tx = "forward>net";
inline constexpr const char* tpu_forward_tx_free = "net>forward.free";
[[nodiscard]] std::vector<std::string> tpu_release_links(const tpu_shape& shape);
inline constexpr const char* tpu_records_link = "ledger>shred";

void declare_tpu(topology& topo, const tpu_shape& shape);

struct tpu_resources {
  const util::frame_pool* frames = nullptr;  // the source's frames (required with verify tiles)
  bank::bank_forks* forks = nullptr;         // required with bank tiles
  tpu::bank_gate* gate = nullptr;            // required with bank tiles
  std::vector<tpu::microblock_store*> stores;  // one per bank tile
  ledger::ledger* ledger = nullptr;          // required with the ledger tile
  bank::chain_board* board = nullptr;        // may be null
  crypto::hash32 start_hash{};               // PoH's (and the ledger's) chain position
  // Blockhashes of a resumed chain's last slots, oldest first: put on dedup's slot_hashes
  // ring before any tile runs (PoH only sends the newest).
  std::vector<bank::slot_hash> resumed_blockhashes;
  tpu::verify_tile_config verify;
  tpu::dedup_tile_config dedup;
  tpu::bank_tile_config bank;                // index is set per tile
  tpu::poh_tile_config poh;
  tpu::ledger_tile_config ledger_tile;       // banks, forks, gate, records_out are set here
  // The forward tile's (required with shape.forward; they must outlive the tiles).
  tpu::forward_tile_config forward;
  const epoch::leader_timeline* timeline = nullptr;
  const net::contact_book* contacts = nullptr;  // the forward tile's targets
  const bank::chain_board* forward_board = nullptr;  // the slot in progress
};

struct tpu_tiles {
  std::vector<std::unique_ptr<tpu::verify_tile>> verifiers;
  std::unique_ptr<tpu::dedup_tile> dedup;
  std::vector<std::unique_ptr<tpu::bank_tile>> banks;
  std::unique_ptr<tpu::poh_tile> poh;
  std::unique_ptr<tpu::ledger_tile> ledger;
  std::unique_ptr<tpu::forward_tile> forward;
  // Every tile above, in declaration order (what a core plan names).
  [[nodiscard]] std::vector<util::tile*> all() const;
};

[[nodiscard]] tpu_tiles build_tpu(const tpu_shape& shape, link_set& rings, tpu_resources& res);

}  // namespace riptide::node
