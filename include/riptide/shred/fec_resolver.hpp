#pragma once
// FEC resolver: the follower's per-shred state machine between "a packet arrived on the TVU
// port" and "these shreds are verified, new, and here are the ones Reed-Solomon rebuilt".
// Shreds arrive in any order, with loss, duplicates and forgeries; the resolver groups them
// by FEC set (slot, fec_set_index), checks the leader's signature once per set, and as soon
// as num_data distinct shreds of a set are in, recovers every missing data and coding shred
// byte for byte (docs/protocol.md "Shreds", "Recovery is exact").
//
// Per shred, add() runs these checks in order; the first failure drops the shred and bumps
// its counter (drop_reason, and shred_error for parse failures):
//
//   parse_shred ─► shred_version ─► slot window ─► set completed already? ─► duplicate
//   (parse_error)  (wrong_shred_   [root, root +   (duplicate)
//                   version)        max_ahead]
//                                   (too_old /
//                                    too_far_ahead)
//        ┌─ set in progress ─► shape equal? ─► position new? ─► signature bytes equal
//        │                     (wrong_shape)   (duplicate)      the set's? (bad_signature)
//        │                                                      ─► root == verified root? ─┐
//   ─────┤                                                         (wrong_root)            ├─► accepted
//        └─ no set yet ──────► leader known? ─► leader's signature over the shred's root? ┘
//                              (unknown_leader) (bad_signature), then the set is created
//
// Why it is shaped like this:
// - A set exists only once a shred's root has verified against the slot's leader: a forged
//   first shred (wrong signer, altered byte, altered proof) fails its signature check and
//   leaves nothing behind, so it cannot poison the set for the honest shreds after it.
//   Every later shred of the set costs one merkle root (its leaf plus ≤ 6 compressions),
//   never a signature check; it must carry the very signature bytes that verified (the
//   leader signs a set once), so the leaves of an honest set under someone else's signature
//   are not passed on either. The shape (num_data, num_coding) lies inside each shred's
//   signed leaf, so the shape of a verified set is the leader's.
// - A shred whose position is already filled is a duplicate whatever its bytes: it cannot
//   change what the set holds, so it is not hashed at all. Late shreds of a set that has
//   already completed are duplicates too (a ring remembers the last completed sets), so
//   they neither restart the set nor cost a signature check.
// - Recovery rebuilds the merkle tree over the completed leaves and demands its root equal
//   the verified one, and re-parses every rebuilt shred: a leader whose coding shards do not
//   match its data (or whose data shreds would not parse) gets recovery_failed counted and no
//   shred reported; the set is then remembered as completed so it is not restarted.
//
// Contract
// - Threads: single owner. One resolver per shred-resolve tile; add() and the accessors are
//   called from that tile's thread only. The leader_lookup is called from add() on that
//   thread (only when a shred would start a new set) and must be noexcept and cheap.
// - Memory: everything is allocated by the constructor: config.max_sets set buffers of 64 ×
//   max_shred_bytes (78 592 B each: ~20 MB at the default 256), the set and completed-set
//   indices, the leader key cache and the 32:32 codec. add() does not allocate, with one
//   bounded exception: the first completion of a set shape other than 32:32 builds that
//   shape's fec_codec (≤ ~110 KB, once per shape while it stays among the
//   config.codec_cache_shapes most recently used). That happens per set, never per shred.
// - add() reads the packet only during the call (its bytes are copied into the set's
//   buffer). The spans in add_result::recovered point into the resolver and stay valid until
//   the next add() call.
// - Memory bound: when all max_sets buffers hold sets in progress and a shred verifies for a
//   new set, the oldest set in progress (by creation) is evicted and counted.
// - Failure: the constructor throws std::invalid_argument for a bad config (validate()) and
//   whatever allocation throws. add() is noexcept; every outcome is in its result and the
//   counters.

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/shred/fec.hpp>
#include <riptide/shred/merkle.hpp>
#include <riptide/shred/shred.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace riptide::shred {

// Who leads a slot, owned by the caller (e.g. a view over an epoch::leader_schedule).
// Must outlive the resolver; called from the resolver's thread.
class leader_lookup {
 public:
  virtual ~leader_lookup() = default;
  // nullopt when the caller does not know the slot's leader (its shreds are then dropped
  // as unknown_leader).
  [[nodiscard]] virtual std::optional<crypto::pubkey> leader_for_slot(
      std::uint64_t slot) const noexcept = 0;
};

struct fec_resolver_config {
  // Sets in progress at once; each owns a 78 592-byte buffer (64 × max_shred_bytes), so the
  // default takes ~20 MB. At 32 data shreds a set, 256 sets hold 8192 data shreds in flight.
  std::size_t max_sets = 256;
  // Completed sets remembered, so their late shreds count as duplicates (16 B + 8 B of
  // index each).
  std::size_t completed_sets_remembered = 4096;
  // The cluster's shred_version; shreds carrying another are dropped.
  std::uint16_t shred_version = 0;
  // Shreds more than this many slots past the caller's root slot are dropped.
  std::uint64_t max_slots_ahead = 1024;
  // fec_codec objects kept (one per set shape, least recently used evicted); ≥ 1. The
  // 32:32 codec is built at construction.
  std::size_t codec_cache_shapes = 8;
  // Parsed leader public keys kept (crypto::pubkey_cache capacity); ≥ 2.
  std::size_t leader_key_cache = 64;

  // Throws std::invalid_argument naming the first bad field.
  void validate() const;
};

enum class drop_reason : std::uint8_t {
  none,
  parse_error,          // parse_shred failed (add_result::parse_error says how)
  wrong_shred_version,  // not the cluster's shred_version
  too_old,              // slot < the caller's root slot
  too_far_ahead,        // slot > root slot + max_slots_ahead
  unknown_leader,       // leader_for_slot(slot) gave nullopt
  bad_signature,        // first shred of a set: signature does not verify over its root;
                        // later shreds: signature bytes differ from the verified ones
  wrong_shape,          // num_data / num_coding differ from the set's (verified) shape
  wrong_root,           // root from leaf and proof differs from the set's verified root
  duplicate,            // position already filled, or the set already completed
};
constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::duplicate) + 1;

// The enumerator's name ("wrong_root"), for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(drop_reason reason) noexcept;

// One shred rebuilt by recovery, full wire bytes (it parses, and carries the set's signature
// and its own proof).
struct recovered_shred {
  std::span<const std::uint8_t> bytes;
  bool is_data = false;
  std::uint32_t index = 0;  // the shred's index field (data: in the slot; coding: fsi + pos)
};

struct add_result {
  // True: the shred verified and is new; the caller retransmits it now and, if it is a
  // data shred, stores it. False: dropped for `reason`.
  bool accepted = false;
  drop_reason reason = drop_reason::none;
  shred_error parse_error = shred_error::none;  // set when reason == parse_error
  // This shred completed its set (it is the num_data-th distinct one): `recovered` holds
  // every shred of the set that had not arrived (num_coding of them), data then coding, in
  // merkle-position order. False with accepted true when the set needs more shreds, or when
  // recovery failed (metrics().recovery_failed).
  bool set_completed = false;
  std::span<const recovered_shred> recovered;  // valid until the next add()
};

struct fec_resolver_metrics {
  std::uint64_t received = 0;
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, drop_reason_count> dropped{};       // by reason
  std::array<std::uint64_t, shred_error_count> parse_errors{};  // by shred_error
  std::uint64_t signatures_verified = 0;  // signature checks run (good or bad)
  std::uint64_t sets_created = 0;
  std::uint64_t sets_completed = 0;
  std::uint64_t sets_evicted = 0;     // in-progress sets pushed out by newer ones
  std::uint64_t sets_forgotten = 0;   // completed sets forgotten on request (forget_set/slot)
  std::uint64_t recovery_failed = 0;  // rebuilt root differed, or a rebuilt shred was invalid
  std::uint64_t data_shreds_recovered = 0;
  std::uint64_t coding_shreds_recovered = 0;
  std::uint64_t codecs_built = 0;  // including the 32:32 one built at construction
};

class fec_resolver {
 public:
  // leaders must outlive the resolver. Throws std::invalid_argument for a bad config.
  fec_resolver(const fec_resolver_config& config, const leader_lookup& leaders);
  ~fec_resolver();
  fec_resolver(const fec_resolver&) = delete;
  fec_resolver& operator=(const fec_resolver&) = delete;

  // One received packet. root_slot is the caller's current root: shreds of earlier slots are
  // too_old, and of slots beyond root_slot + max_slots_ahead too_far_ahead.
  [[nodiscard]] add_result add(std::span<const std::uint8_t> packet,
                               std::uint64_t root_slot) noexcept;

  [[nodiscard]] const fec_resolver_metrics& metrics() const noexcept { return metrics_; }
  [[nodiscard]] const fec_resolver_config& config() const noexcept { return config_; }
  // Sets currently in progress (0..max_sets).
  [[nodiscard]] std::size_t sets_in_progress() const noexcept { return in_progress_; }
  // True if (slot, fec_set_index) is a set in progress.
  [[nodiscard]] bool in_progress(std::uint64_t slot, std::uint32_t fec_set_index) const noexcept;
  // True if (slot, fec_set_index) is among the remembered completed sets.
  [[nodiscard]] bool completed(std::uint64_t slot, std::uint32_t fec_set_index) const noexcept;

  // The consumer lost shreds a set gave it (the assembler had no room for them, or evicted
  // their slot later): forget that the set completed, or drop it while in progress (its
  // filled positions), so its shreds are taken again when they come back (repair) instead of
  // being dropped as duplicates. forget_set is O(1); forget_slot scans the completed-set ring
  // (completed_sets_remembered entries) and the sets in progress. Both return how many sets
  // were forgotten (counted in sets_forgotten).
  std::size_t forget_set(std::uint64_t slot, std::uint32_t fec_set_index) noexcept;
  std::size_t forget_slot(std::uint64_t slot) noexcept;

 private:
  static constexpr std::uint32_t no_index = 0xFFFFFFFFu;
  // A completed-ring entry that was forgotten (no real slot is this high).
  static constexpr std::uint64_t forgotten_slot = ~std::uint64_t{0};
  static constexpr std::size_t set_buffer_bytes = fec_max_shards * max_shred_bytes;

  struct set_key {
    std::uint64_t slot = 0;
    std::uint32_t fec_set_index = 0;
    friend bool operator==(const set_key&, const set_key&) = default;
  };

  // One set in progress; its shreds live in buffers_ at index × set_buffer_bytes, position
  // p at offset p × max_shred_bytes.
  struct set_state {
    set_key key;
    merkle_node root{};                  // verified against the leader's signature
    crypto::signature signature{};       // copied into recovered shreds
    std::uint64_t present = 0;           // bit p: merkle position p received
    std::uint8_t num_data = 0;
    std::uint8_t num_coding = 0;
    std::uint8_t received = 0;
    bool last_in_slot = false;
    std::uint32_t older = no_index;      // creation-order list (oldest at oldest_)
    std::uint32_t newer = no_index;
    std::array<merkle_node, fec_max_shards> leaves{};  // leaf hash of each received shred
  };

  struct codec_slot {
    std::uint8_t num_data = 0;
    std::uint8_t num_coding = 0;
    std::uint64_t last_used = 0;
    std::unique_ptr<fec_codec> codec;
  };

  // Open-addressing (linear probing, backward-shift erase) index from set_key to an entry
  // number; cells hold entry + 1, 0 = empty; at most half full.
  struct key_index {
    std::vector<std::uint32_t> cells;
    std::size_t mask = 0;
  };

  std::uint8_t* shred_buffer(std::uint32_t set, std::size_t position) noexcept {
    return buffers_.data() + std::size_t{set} * set_buffer_bytes + position * max_shred_bytes;
  }

  [[nodiscard]] add_result drop(drop_reason reason) noexcept;
  [[nodiscard]] std::uint32_t find_set(const set_key& key) const noexcept;
  [[nodiscard]] std::uint32_t find_completed(const set_key& key) const noexcept;
  std::uint32_t create_set(const set_key& key, const shred_view& first,
                           const merkle_node& root) noexcept;
  void release_set(std::uint32_t set) noexcept;
  void remember_completed(const set_key& key) noexcept;
  void forget_entry(std::uint32_t entry) noexcept;
  void store_shred(std::uint32_t set, const shred_view& shred, const merkle_node& leaf) noexcept;
  [[nodiscard]] fec_codec* codec_for(std::size_t num_data, std::size_t num_coding) noexcept;
  // Recovers the set's missing shreds into its buffer and fills recovered_; false (counted)
  // if the set turns out inconsistent.
  [[nodiscard]] bool recover_set(std::uint32_t set) noexcept;

  fec_resolver_config config_;
  const leader_lookup& leaders_;
  crypto::pubkey_cache key_cache_;
  fec_resolver_metrics metrics_;

  std::vector<std::uint8_t> buffers_;  // max_sets × set_buffer_bytes
  std::vector<set_state> sets_;
  std::vector<std::uint32_t> free_sets_;  // stack of unused set numbers
  std::size_t in_progress_ = 0;
  std::uint32_t oldest_ = no_index;
  std::uint32_t newest_ = no_index;
  key_index set_index_;

  std::vector<set_key> completed_;  // ring
  std::size_t completed_next_ = 0;
  std::size_t completed_count_ = 0;
  key_index completed_index_;

  std::vector<codec_slot> codecs_;
  std::uint64_t codec_clock_ = 0;

  std::array<recovered_shred, fec_max_shards> recovered_{};
};

}  // namespace riptide::shred
