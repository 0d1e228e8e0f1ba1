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
//   - Invalid packets are dropped and counted by reason; their descriptors go to `release`
//     (frame return ring to the pool's owner) when one is given, so every frame popped from
//     `in` either goes on to `out` or comes back on `release` (a full `release` is counted
//     in release_full and the frame is lost to its owner). Reasons: each txn::parse_error
//     has its own counter (parse_counter(e), named "parse_<reason>" with the words
//     truncated/instruction/account/readonly/index shortened to trunc/ix/acct/ro/idx so every
//     name fits metrics_counter_name_bytes), and parse_failed is their total; a packet
//     longer than txn::max_transaction_bytes (or than a frame) is parse_too_long; a bad
//     signature is sig_failed; a descriptor naming no frame of the pool is bad_frame.
//   - Parsed public keys are cached per tile (pubkey_cache), so hot signers are parsed once.
//   - No allocation after construction; poll() is noexcept and handles ≤ batch packets.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/transaction.hpp>
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
  enum counter : std::size_t {
    c_received,
    c_verified,
    c_parse_failed,  // total of the parse_<reason> counters
    c_sig_failed,
    c_backpressure,
    c_release_full,
    c_bad_frame,     // frame index outside the pool (a broken producer, not a bad packet)
    c_parse_first,   // parse_counter(parse_error::too_long); one per reason follows
    c_own_count = c_parse_first + txn::parse_error_count - 1,
  };
  static_assert(std::size_t{c_own_count} + std::size_t{util::first_own_counter} <=
                util::metrics_max_counters);
  // The own counter of a parse failure reason (e != parse_error::none).
  static constexpr std::size_t parse_counter(txn::parse_error e) noexcept {
    return c_parse_first + static_cast<std::size_t>(e) - 1;
  }

  verify_tile(std::string name, const util::frame_pool& frames,
              util::spsc_ring<util::frag_desc>& in, util::spsc_ring<util::frag_desc>& out,
              util::spsc_ring<util::frag_desc>* release, const verify_tile_config& config);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
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
