#pragma once
// Load tile: a synthetic transaction source for a node without network input, used by
// `riptide run` on a dev box and by benchmarks. It signs fresh transfers into frames it owns
// and hands them to the verify tiles, round-robin.
//
// Contract
//   - Owns a frame pool and its free stack. Frames come back through `releases` rings (one
//     per downstream tile that may finish with a frame: each verify tile for the ones it
//     rejects, dedup for the rest). A frame is written only while it is on the free stack.
//   - Signs one transfer per poll (signing costs ~20-40 µs, more than a poll's budget would
//     allow for several), paced by a token bucket at `rate_tps` (0: as fast as frames and
//     rings allow). A share of sends repeat the previous transaction byte for byte
//     (duplicates for dedup) and a share carry a corrupted signature (for verify).
//   - Rings to verify are reliable: when the next verify ring is full the tile waits
//     (backpressure), it does not drop.
//   - Transfers go between the signers (1 to 1000 lamports), so with funded signers the
//     bank executes them and balances only move between them, minus fees.
//   - A source: after begin_drain() it stops creating transactions but keeps reclaiming frames.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct load_tile_config {
  std::uint64_t rate_tps = 2000;         // 0: unpaced
  std::uint64_t signers = 64;            // distinct fee payers (exercises the pubkey cache)
  std::uint64_t duplicate_percent = 5;
  std::uint64_t invalid_percent = 1;
  std::uint32_t frames = 8192;
  std::uint64_t seed = 1;
  // Recent blockhash for every transaction, read from the board when signing; null: the
  // zero hash (accepted only where no blockhash check runs, e.g. verify-only benchmarks).
  const bank::chain_board* board = nullptr;
  // When desc_meta != 0 every descriptor carries {kind = desc_kind, meta = desc_meta}: the
  // net tile's send port and the packed destination, so the load goes out as UDP (to the
  // node's own tpu port) and takes the same path as any client's. Otherwise meta is a
  // sequence number and the outs are verify tiles.
  std::uint16_t desc_kind = 0;
  std::uint64_t desc_meta = 0;
};

class load_tile final : public util::tile {
 public:
  enum counter : std::size_t { c_sent, c_duplicates, c_invalid, c_no_frame, c_backpressure, c_reclaimed };

  load_tile(std::string name, const load_tile_config& config,
            std::vector<util::spsc_ring<util::frag_desc>*> outs,
            std::vector<util::spsc_ring<util::frag_desc>*> releases);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  void on_start() override;
  int poll() noexcept override;
  void begin_drain() noexcept override { draining_ = true; }

  const util::frame_pool& frames() const noexcept { return pool_; }
  // Signer i of a load tile seeded with `seed` (the same keys every run, so a resumed node
  // can fund them again before replaying its ledger).
  static crypto::keypair signer(std::uint64_t seed, std::uint64_t i);
  // The fee payers it signs with (start-up: the node funds them in its bank).
  const std::vector<crypto::keypair>& signers() const noexcept { return signers_; }

 private:
  int reclaim() noexcept;

  load_tile_config config_;
  util::frame_pool pool_;
  util::frame_stack free_;
  std::vector<util::spsc_ring<util::frag_desc>*> outs_;
  std::vector<util::spsc_ring<util::frag_desc>*> releases_;
  std::vector<crypto::keypair> signers_;
  std::mt19937_64 rng_;
  std::vector<std::uint8_t> last_tx_;
  std::size_t next_out_ = 0;
  std::uint64_t next_signer_ = 0;
  std::uint64_t lamports_ = 1;
  std::uint64_t start_ns_ = 0;
  std::uint64_t created_ = 0;
  bool draining_ = false;
};

}  // namespace riptide::tpu
