#pragma once
// Dedup tile: drops transactions whose signature was seen recently.
//
// Contract
//   - Runs on one core thread. Fan-in: polls one ring per verify tile, round-robin. A
//     descriptor's `meta` is the XXH3 tag of the transaction's first signature (set by the
//     verify tile), so dedup never touches the frame.
//   - New tags are remembered in a fixed-capacity dedup_cache (oldest forgotten first) and
//     the descriptor goes on to `out` (dedup → bank) when there is one; duplicates are
//     dropped and counted. A frame that goes no further is handed back through `release`.
//   - `out` is reliable: the tile stops taking input while `out` is full.

#include <cstdint>
#include <string>
#include <vector>

#include <riptide/crypto/dedup_cache.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

class dedup_tile final : public util::tile {
 public:
  enum counter : std::size_t { c_received, c_unique, c_duplicate, c_backpressure, c_release_full };

  dedup_tile(std::string name, std::size_t cache_entries,
             std::vector<util::spsc_ring<util::frag_desc>*> ins,
             util::spsc_ring<util::frag_desc>* out, util::spsc_ring<util::frag_desc>* release);

  std::vector<std::string_view> own_counter_names() const override;
  int poll() noexcept override;
  bool drained() const noexcept override;

  std::uint64_t unique() const noexcept { return unique_; }
  std::uint64_t duplicates() const noexcept { return duplicates_; }

 private:
  crypto::dedup_cache cache_;
  std::vector<util::spsc_ring<util::frag_desc>*> ins_;
  util::spsc_ring<util::frag_desc>* out_;
  util::spsc_ring<util::frag_desc>* release_;
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace riptide::tpu
