#pragma once
// Verify tile: parses each transaction packet and checks every signature.
//
// Contract
//   - Runs on one core thread. Consumes descriptors from `in` (net → verify, one ring per
//     verify tile: the producer shards round-robin or by hash), reads the frame they name
//     from the shared frame pool, and forwards descriptors of valid transactions to `out`
//     (verify → dedup). The forwarded descriptor's `meta` is the XXH3 tag of the first
//     signature, so dedup does not re-hash.
//   - `out` is a reliable link: the tile pops only as many inputs as `out` has room for
//     (backpressure flows upstream to net, which may drop and count).
//   - Invalid packets are dropped and counted by reason (parse error, bad signature); their
//     descriptors go to `release` (frame return ring to the pool's owner) when one is given.
//   - Parsed public keys are cached per tile (pubkey_cache), so hot signers are parsed once.
//   - No allocation after construction; poll() is noexcept and handles ≤ batch packets.

#include <cstdint>
#include <string>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct verify_tile_config {
  std::size_t pubkey_cache_entries = 4096;  // power of two
  std::size_t batch = 8;                    // packets per poll (a verify is ~40-50 µs… keep small)
};

class verify_tile final : public util::tile {
 public:
  enum counter : std::size_t { c_received, c_verified, c_parse_failed, c_sig_failed, c_backpressure, c_release_full };

  verify_tile(std::string name, const util::frame_pool& frames,
              util::spsc_ring<util::frag_desc>& in, util::spsc_ring<util::frag_desc>& out,
              util::spsc_ring<util::frag_desc>* release, const verify_tile_config& config);

  std::vector<std::string_view> own_counter_names() const override;
  int poll() noexcept override;
  bool drained() const noexcept override { return in_.empty_approx(); }

 private:
  const util::frame_pool& frames_;
  util::spsc_ring<util::frag_desc>& in_;
  util::spsc_ring<util::frag_desc>& out_;
  util::spsc_ring<util::frag_desc>* release_;
  crypto::pubkey_cache cache_;
  std::size_t batch_;
  std::size_t out_room_ = 0;  // producer-side view of free slots in out_
};

}  // namespace riptide::tpu
