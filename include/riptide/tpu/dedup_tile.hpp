#pragma once
// Dedup tile: drops transactions whose recent blockhash is too old or unknown or whose
// signature was seen recently, and routes the rest to the bank tiles by fee payer.
//
// Contract
//   - Runs on one core thread; everything but drained() is called there only. drained()
//     may be called from any thread (it reads ring indices and one atomic flag).
//   - Fan-in: polls one ring per verify tile, round-robin. A descriptor's `meta` is the XXH3
//     tag of the transaction's first signature (set by the verify tile), so the signature
//     check never hashes.
//   - Blockhash age (when `blockhashes` is given): each poll first pops every slot_hash PoH
//     pushed (slots in increasing order; slot 0 carries the chain's start hash) into the
//     tile's own txn::blockhash_queue, which remembers `blockhash_history_slots` slots. A
//     transaction whose recent blockhash is not recent there is dropped: blockhash_too_old
//     if it is the hash of a remembered slot that aged out (the client should fetch a new
//     blockhash), blockhash_unknown if no remembered slot has it (another cluster's, a
//     forged one, or older than the history). This needs the frame: the tile parses
//     `frames->frame(d.frame)` (first d.len bytes) again; a frame that does not parse (the
//     verify tile should have caught it) is dropped as parse_failed.
//   - Signatures: new tags are remembered in a fixed-capacity dedup_cache (oldest forgotten
//     first); a repeated tag is dropped (duplicate). A transaction dropped for its blockhash
//     is not remembered.
//   - Routing: with one out every survivor goes there; with several, to
//     outs[xxh3(fee payer key) % outs.size()], so one fee payer always lands on the same bank
//     tile (its account locks stay on one core). With no out, survivors are counted and
//     released (a pipeline without banks).
//   - Outs are reliable links: nothing is dropped for a full out. The tile pops only what
//     the outs certainly have room for; when some out is full it takes one descriptor at a
//     time and, if that one's out is full, holds it (one at most) and takes no more input
//     until it is pushed (backpressure counts each poll that found an out full). drained()
//     is false while a descriptor is held.
//   - Frames: every descriptor popped ends on an out or on `release` (frame return ring to
//     the pool's owner, e.g. the net tile's add_release ring); a full `release` is counted
//     (release_full) and the frame is lost to its owner. With `release` null, dropped frames
//     are simply forgotten (tests, benches).
//   - Memory: the cache and the blockhash queue are sized at construction; poll() is
//     noexcept and allocates nothing. Construction errors (a null ring, a needed frame pool
//     missing) throw std::invalid_argument.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/crypto/dedup_cache.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct dedup_tile_config {
  std::size_t cache_entries = 1 << 20;  // signature tags remembered (dedup_cache capacity)
  // Slot hashes remembered to tell too old from unknown (txn::blockhash_queue history;
  // 4096 slots of 400 ms are about 27 minutes).
  std::size_t blockhash_history_slots = 4096;
};

// The tag a transaction is deduplicated by: XXH3 of its first signature. The verify tile puts
// it in frag_desc::meta.
[[nodiscard]] inline std::uint64_t signature_tag(const crypto::signature& signature) noexcept {
  return crypto::xxh3_64(signature);
}

class dedup_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_received,
    c_unique,             // passed the age and signature checks
    c_duplicate,
    c_backpressure,       // polls that found an out full
    c_release_full,
    c_blockhash_too_old,  // recent blockhash: a remembered slot's, older than max_age_slots
    c_blockhash_unknown,  // recent blockhash: no remembered slot's
    c_parse_failed,       // frame missing or not a transaction (verify should have dropped it)
    c_blockhashes,        // slot hashes registered
    c_own_count,
  };

  // One out (or none), no age check, no frame access: the tile only looks at `meta`.
  dedup_tile(std::string name, std::size_t cache_entries,
             std::vector<util::spsc_ring<util::frag_desc>*> ins,
             util::spsc_ring<util::frag_desc>* out, util::spsc_ring<util::frag_desc>* release);
  // `frames` is required when `blockhashes` is given or there are several outs (the tile
  // reads the transactions); `blockhashes` may be null (no age check); `outs` may be empty.
  dedup_tile(std::string name, const dedup_tile_config& config, const util::frame_pool* frames,
             std::vector<util::spsc_ring<util::frag_desc>*> ins,
             std::vector<util::spsc_ring<util::frag_desc>*> outs,
             util::spsc_ring<util::frag_desc>* release,
             util::spsc_ring<bank::slot_hash>* blockhashes);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  bool drained() const noexcept override;

  // Start-up (before the runtime runs the tile): a signature that already landed on the
  // chain this node resumes, so sending it again after a restart is a duplicate too.
  void remember(const crypto::signature& signature) noexcept { (void)cache_.insert(signature_tag(signature)); }

  // Core thread (or after the runtime stopped).
  std::uint64_t unique() const noexcept { return unique_; }
  std::uint64_t duplicates() const noexcept { return duplicates_; }

 private:
  int take_blockhashes() noexcept;
  bool push_held() noexcept;
  std::size_t out_room() noexcept;  // free slots every out certainly has
  // Checks and routes descs[0, n); returns how many were pushed. A descriptor whose out is
  // full becomes the held one (only possible when n == 1).
  std::size_t process(util::frag_desc* descs, std::size_t n) noexcept;
  void release(const util::frag_desc& d) noexcept;

  crypto::dedup_cache cache_;
  const util::frame_pool* frames_;
  std::vector<util::spsc_ring<util::frag_desc>*> ins_;
  std::vector<util::spsc_ring<util::frag_desc>*> outs_;
  util::spsc_ring<util::frag_desc>* release_;
  util::spsc_ring<bank::slot_hash>* blockhashes_;
  txn::blockhash_queue recent_;
  bool read_frames_;          // age check or routing by payer: parse each transaction
  std::size_t next_in_ = 0;   // in ring polled first (rotates for fairness)
  util::frag_desc held_{};    // valid while has_held_
  std::size_t held_out_ = 0;
  std::atomic<bool> has_held_{false};
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace riptide::tpu
