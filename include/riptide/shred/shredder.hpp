#pragma once
// The leader's shredder: cuts a slot's serialized block bytes (an opaque byte stream, entry
// batches one after another) into signed, erasure-coded FEC sets, and the allocation-free
// builder of one set it runs on.
//
// Contract
// - Pure: no threads, no sockets, no clocks. One shredder per shred tile; its methods are
//   called from that tile's thread only (nothing is shared, nothing is locked).
// - Memory: the constructor allocates everything: a fec_codec for every set shape the
//   shredder can emit (d:num_coding for d = 1..32, about 1.7 MB at 32 coding shreds), one
//   set's worth of shred buffers and one set's worth of payload staging. begin_slot(),
//   add() and finish_slot() never allocate.
// - Output: shreds are handed to a shred_sink passed to each call, one call per shred, data
//   shreds of a set in index order and then its coding shreds in position order. A shred's
//   bytes live in the shredder and are valid only during the on_shred() call: a sink that
//   keeps them copies them (the shred tile copies each into a tx frame).
// - Failure: the constructor throws std::invalid_argument for a bad config or an empty
//   keypair, and std::runtime_error if the signing nonce seed cannot be drawn from
//   getrandom(2). Afterwards everything is noexcept: a call made out of order, a bad parent
//   or bytes past the slot's limit are refused, with nothing taken or emitted, and counted
//   by reason in shredder_metrics.
//
// How a slot is cut (every set's bytes are exactly what make_fec_set(leader, params,
// payload) gives for that set's params and payload, signature aside; see fec_set_builder):
//
//   stream:   |<------ 31 712 B ------>|<------ 31 712 B ------>|<-- rest -->|
//   sets:     | data 0..31 + 32 coding | data 32..63 + 32 coding| data 64..  |  + coding
//             fec_set_index 0           32                       64  (last_in_slot)
//
// - Full sets: as soon as more than one full set's payload (max_fec_set_payload_bytes, 32
//   data shreds of 991 bytes at 32 coding shreds) is buffered, the first full set leaves.
//   A full buffer is held until the next byte arrives or the slot finishes, so a slot whose
//   bytes end exactly on a set boundary ends with that full set (marked last), not with an
//   extra empty one.
// - finish_slot() emits what is buffered as the slot's last set: last_in_slot in every
//   shred's variant, batch_complete and slot_complete on its last data shred. It has
//   data_shreds_for(rest, num_coding) data shreds; an empty slot still emits one set of one
//   (empty) data shred so followers learn that the slot is complete.
// - Coding shreds: EVERY set, full or partial, carries config.num_coding of them. A small
//   last set is the most fragile one, so it keeps all of them: at 20 % uniform loss a 4:4
//   set is lost about once in 100 (5 or more of 8 shreds lost: p = 0.0104), a 4:32 set
//   practically never (33 of 36 lost: p ≈ 3e-20; a 32:32 set: p ≈ 2e-8), and a slot's
//   FEC-only delivery is only as good as its last set.
//   It costs at most num_coding extra shreds per slot. (At the default 32 it also gives
//   every set, full or not, 33 leaves or more: proof depth 6, 1019-byte shards, 991 bytes of
//   payload per data shred.)
// - batch_complete (add()'s flag: the bytes added so far end an entry batch) is marked on a
//   set's last data shred when a batch ends exactly where the set ends; a batch that ends
//   inside a set is not marked, because a set's data shreds are filled to capacity in order
//   and only its last one carries flags (make_fec_set's layout). Entry batches are
//   self-delimiting (ledger/entry_codec.hpp: a count, then entries), so followers decode the
//   concatenated payloads in order; batch_complete is a hint, slot_complete is the end.
// - Data indices run 0, 1, 2, … through the slot with no gaps; each set's fec_set_index is
//   its first data index. Indices stay below max_shreds_per_slot because a slot accepts at
//   most max_slot_bytes (default and largest: 1024 full sets, 32 473 088 bytes).
// - Each set is signed once (its root | slot | fec_set_index), with BIP-340 aux randomness
//   derived from a per-shredder random seed and a set counter (no syscall per set; aux is
//   only extra protection in BIP-340, and the nonce stays unique per message regardless).

#include <riptide/crypto/schnorr.hpp>
#include <riptide/shred/fec.hpp>
#include <riptide/shred/merkle.hpp>
#include <riptide/shred/shred.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace riptide::shred {

enum class shred_kind : std::uint8_t { data, coding };

// Receives the shreds a shredder emits. The span is valid only during the call.
class shred_sink {
 public:
  virtual void on_shred(std::span<const std::uint8_t> shred, shred_kind kind,
                        std::uint32_t index) noexcept = 0;
  virtual ~shred_sink() = default;
};

// Builds one FEC set, byte for byte as make_fec_set() does, into buffers it owns: the
// codecs of every shape d:num_coding (d = 1..32), one set of shred buffers and the merkle
// tree are made at construction, so build() neither allocates nor throws. Signs with the
// caller's aux randomness, so the whole set is deterministic (make_fec_set draws fresh aux;
// its shreds equal these from byte 64 on, and both signatures verify).
// Threads: one caller at a time (build() writes the shared buffers).
class fec_set_builder {
 public:
  // Throws std::invalid_argument unless 1 ≤ num_coding ≤ 32.
  explicit fec_set_builder(std::size_t num_coding);

  fec_set_builder(const fec_set_builder&) = delete;
  fec_set_builder& operator=(const fec_set_builder&) = delete;
  fec_set_builder(fec_set_builder&&) noexcept = default;
  fec_set_builder& operator=(fec_set_builder&&) noexcept = default;

  [[nodiscard]] std::size_t num_coding() const noexcept { return num_coding_; }

  // The set make_fec_set(leader, params, payload) builds, signed with aux. False, with
  // nothing built (size() 0), where make_fec_set would throw: params.num_coding !=
  // num_coding(), a payload that does not fit one set, a bad parent_offset, indices reaching
  // max_shreds_per_slot, an empty keypair or a failed signature.
  [[nodiscard]] bool build(const crypto::keypair& leader, const fec_set_params& params,
                           std::span<const std::uint8_t> payload,
                           const crypto::aux_rand& aux) noexcept;

  // The last built set: data shreds (index order) then coding shreds (position order).
  [[nodiscard]] std::size_t size() const noexcept { return num_data_ + (num_data_ ? num_coding_ : 0); }
  [[nodiscard]] std::size_t num_data() const noexcept { return num_data_; }
  // Precondition: i < size(). Valid until the next build().
  [[nodiscard]] std::span<const std::uint8_t> shred(std::size_t i) const noexcept {
    return {shreds_[i], lengths_[i]};
  }

 private:
  std::size_t num_coding_;
  std::vector<fec_codec> codecs_;      // codecs_[d - 1] is d:num_coding
  std::vector<std::uint8_t> storage_;  // fec_max_shards buffers of buffer_stride bytes
  std::array<std::uint8_t*, fec_max_shards> shreds_{};
  std::array<std::uint16_t, fec_max_shards> lengths_{};
  std::size_t num_data_ = 0;
  merkle_tree tree_;
};

struct shredder_config {
  // Coding shreds in every FEC set, full sets and the slot's last one alike (1..32).
  std::size_t num_coding = max_coding_shreds_per_set;
  // Payload bytes one slot accepts; add() refuses bytes past it. 0 means the most a slot's
  // indices allow (shredder::max_slot_bytes_limit(num_coding), 32 473 088 at 32 coding
  // shreds), which is also the largest value accepted.
  std::size_t max_slot_bytes = 0;
};

struct shredder_metrics {
  std::uint64_t slots_begun = 0;
  std::uint64_t slots_finished = 0;
  std::uint64_t fec_sets = 0;
  std::uint64_t data_shreds = 0;
  std::uint64_t coding_shreds = 0;
  std::uint64_t payload_bytes = 0;            // bytes carried by the emitted data shreds
  // Refused calls (nothing taken, nothing emitted), by reason.
  std::uint64_t begin_refused_slot_open = 0;  // begin_slot() before finish_slot()
  std::uint64_t begin_refused_bad_parent = 0; // parent ≥ slot, slot − parent > 65535, or
                                              // slot 0 with a parent other than 0
  std::uint64_t add_refused_no_slot = 0;      // add() outside begin_slot()..finish_slot()
  std::uint64_t add_refused_slot_full = 0;    // add() that would pass max_slot_bytes
  std::uint64_t bytes_refused_slot_full = 0;  // the bytes of those calls
  std::uint64_t finish_refused_no_slot = 0;   // finish_slot() with no slot begun
  // A set whose signature failed (cannot happen with a valid key): its payload is lost
  // and its indices are given to the next set.
  std::uint64_t sets_dropped_sign_failed = 0;
};

class shredder {
 public:
  // Copies the keypair. Throws std::invalid_argument for an empty keypair, num_coding not in
  // 1..32 or max_slot_bytes above the limit; std::runtime_error if getrandom(2) fails.
  shredder(const crypto::keypair& leader, std::uint16_t shred_version, shredder_config config);

  // The most payload a slot can carry with num_coding (1..32) coding shreds per set.
  [[nodiscard]] static std::size_t max_slot_bytes_limit(std::size_t num_coding) noexcept;

  // Opens a slot. Refused (false) while a slot is open or for a bad parent.
  [[nodiscard]] bool begin_slot(std::uint64_t slot, std::uint64_t parent_slot) noexcept;
  // Appends bytes to the open slot's stream, emitting every full set this completes;
  // batch_complete says these bytes end an entry batch. Refused (false, nothing taken) with
  // no slot open or when the slot would pass max_slot_bytes.
  [[nodiscard]] bool add(std::span<const std::uint8_t> bytes, bool batch_complete,
                         shred_sink& sink) noexcept;
  // Emits the buffered rest as the slot's last set and closes the slot. Refused (false)
  // with no slot open.
  [[nodiscard]] bool finish_slot(shred_sink& sink) noexcept;

  [[nodiscard]] bool in_slot() const noexcept { return in_slot_; }
  [[nodiscard]] std::uint64_t slot() const noexcept { return slot_; }
  // The fec_set_index (= first data index) the next set of the open slot will get.
  [[nodiscard]] std::uint32_t next_fec_set_index() const noexcept { return next_index_; }
  // Payload bytes waiting for the next set (at most full_set_payload_bytes()).
  [[nodiscard]] std::size_t buffered_bytes() const noexcept { return buffered_; }
  [[nodiscard]] std::size_t full_set_payload_bytes() const noexcept { return full_payload_; }
  [[nodiscard]] std::size_t max_slot_bytes() const noexcept { return max_slot_bytes_; }
  [[nodiscard]] const shredder_metrics& metrics() const noexcept { return metrics_; }

 private:
  void emit_set(bool batch_complete, bool last_in_slot, shred_sink& sink) noexcept;

  crypto::keypair leader_;
  std::uint16_t shred_version_;
  std::size_t num_coding_;
  std::size_t full_payload_;
  std::size_t max_slot_bytes_;
  fec_set_builder builder_;
  std::vector<std::uint8_t> payload_;  // full_payload_ bytes of staging
  crypto::aux_rand aux_seed_{};
  std::uint64_t sets_signed_ = 0;

  bool in_slot_ = false;
  bool pending_batch_complete_ = false;  // the buffered bytes end an entry batch
  std::uint64_t slot_ = 0;
  std::uint16_t parent_offset_ = 0;
  std::uint32_t next_index_ = 0;
  std::size_t slot_bytes_ = 0;
  std::size_t buffered_ = 0;
  shredder_metrics metrics_;
};

}  // namespace riptide::shred
