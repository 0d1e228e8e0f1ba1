#pragma once
// Shreds: the wire format a leader cuts a slot's serialized entries into, its strict
// zero-copy parser, merkle-root recomputation and signature check, and the builder of one
// signed, erasure-coded FEC set.
//
// Contract
// - parse_shred() is on the hot path (net -> shred verify -> fec resolve -> retransmit):
//   noexcept, no allocation, O(size). Every way the bytes can be malformed is its own
//   shred_error, so drop counters say exactly why. Callable from any thread. A wrong
//   shred_version is NOT a parse error: the caller compares shred_version() with its own.
// - shred_view is a non-owning view into the caller's packet bytes; valid only while those
//   bytes are alive and unchanged. Trivially copyable; a default-constructed view is empty.
// - shred_merkle_root() hashes the shred's leaf and walks its proof (2-7 SHA-256 compressions
//   of 20-byte nodes plus the leaf); verify_shred_signature() checks the leader's signature
//   over that root. Both noexcept and allocation-free. Every shred of a set yields the same
//   root, so a caller that remembers verified (slot, fec_set_index, root) triples checks the
//   signature once per FEC set rather than once per shred.
// - make_fec_set() is for the leader's shred tile at set granularity and for tests: it
//   allocates and throws (std::invalid_argument for bad parameters, whatever keypair::sign
//   throws).
//
// Wire format (all integers little-endian; docs/protocol.md "Shreds" has the same):
//
//   common header, 83 bytes, both kinds:
//   offset  size  field
//   0       64    signature        leader's BIP-340 signature over the signed message below
//   64      1     variant          bit7 coding, bit6 last FEC set of the slot,
//                                  bits4..5 zero, bits0..3 proof depth (nodes in the proof)
//   65      8     slot u64
//   73      4     index u32        data: index of the data shred in the slot;
//                                  coding: fec_set_index + position
//   77      2     shred_version u16
//   79      4     fec_set_index u32  index of the set's first data shred
//
//   data header, 9 bytes (headers end at 92)   coding header, 6 bytes (headers end at 89)
//   83      2     num_data u16                 83      2     num_data u16
//   85      2     num_coding u16               85      2     num_coding u16
//   87      2     parent_offset u16            87      2     position u16
//   89      1     flags u8
//   90      2     size u16
//
//   Data shred (64 + S + 20·depth bytes):
//   +-----------+------------------------------------------------------+-------------+
//   | signature | common rest | data header | payload | zero padding   | proof       |
//   | 64        | 19          | 9           | size-92 | 92+C-size      | 20 × depth  |
//   +-----------+------------------------------------------------------+-------------+
//               |<------------ erasure shard = merkle leaf, S bytes -->|
//
//   Coding shred (89 + S + 20·depth bytes):
//   +-----------+------------------------------+-----------------------+-------------+
//   | signature | common rest | coding header  | coding shard          | proof       |
//   | 64        | 19          | 6              | S                     | 20 × depth  |
//   +-----------+------------------------------+-----------------------+-------------+
//               |<-------------------- merkle leaf, 25 + S bytes ---->|
//                                              |<-- erasure shard -->|
//
//   With n = num_data + num_coding leaves and L = ceil(log2 n) (the deepest proof of the set):
//     S (shard bytes)       = 1139 - 20·L    (so the deepest coding shred is exactly 1228 B)
//     C (payload capacity)  = S - 28 = 1111 - 20·L    (991 bytes in a 32:32 set)
//
// Why it looks like this:
// - Every shard of a set is S bytes, fixed by the set's shape alone. A data shred's shard is
//   everything between its signature and its proof (headers, payload and zero padding), so
//   Reed-Solomon over the data shards yields the coding shards, and recovery rebuilds a
//   missing data shred byte for byte: shard from the codec, signature copied from any shred
//   of the set (all carry the same one), proof re-read from the merkle tree rebuilt over the
//   now complete set of leaves (whose root must equal the signed one). A coding shred's
//   shard is its payload after its own headers; its headers follow from the set's shape.
// - num_data and num_coding sit at the same offset in both kinds: any one shred of a set tells
//   a receiver the set's shape (to size its buffers), and a data shred needs the leaf count
//   to walk its proof, because the tree promotes a level's odd last node (shred/merkle.hpp):
//   a proof's length depends on the leaf's position and the leaf count. The root alone does
//   not commit to the leaf count, but these fields lie inside the shred's own leaf: once its
//   proof and the signature check out, the shape it was verified with is signed too.
// - depth is the number of nodes in this shred's proof, so it differs between shreds of a set
//   whose leaf count is not a power of two; the parser demands exactly
//   merkle_proof_size(merkle_position, n), which fixes the shred's total size.
// - The merkle leaf of a shred is merkle_leaf(bytes between the signature and the proof):
//   every header field is covered by the signature through the root. Leaves are ordered data
//   shreds first (position index - fec_set_index), then coding shreds (num_data + position).
// - Signed message = root (20) | slot u64 | fec_set_index u32 = 32 bytes, so a signature
//   cannot be replayed onto another slot or set. Every other signed message of the protocol
//   is longer (transactions >= 70 bytes) or starts with a domain string (gossip), so 32 bytes
//   alone keep the kinds apart.
// - Zero padding is checked, so one payload has exactly one encoding.
// - parent_offset = slot - parent slot: 1 <= parent_offset <= slot, except slot 0 (0).
// - index < max_shreds_per_slot bounds what a follower keeps per slot.

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/shred/merkle.hpp>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace riptide::shred {

constexpr std::size_t max_shred_bytes = 1228;  // ≤ 1232 bytes of UDP payload
constexpr std::size_t shred_signature_bytes = crypto::signature_bytes;  // 64
constexpr std::size_t common_header_bytes = 83;
constexpr std::size_t data_header_bytes = 9;
constexpr std::size_t coding_header_bytes = 6;
constexpr std::size_t data_headers_end = common_header_bytes + data_header_bytes;      // 92
constexpr std::size_t coding_headers_end = common_header_bytes + coding_header_bytes;  // 89
constexpr std::size_t max_data_shreds_per_set = 32;
constexpr std::size_t max_coding_shreds_per_set = 32;
constexpr std::size_t max_proof_depth = merkle_max_proof_nodes;  // 6: ceil(log2 64)
constexpr std::size_t max_shreds_per_slot = 32768;  // data and coding indices alike
constexpr std::size_t shred_signed_message_bytes = merkle_node_bytes + 8 + 4;  // 32

constexpr std::uint8_t variant_coding_bit = 0x80;
constexpr std::uint8_t variant_last_in_slot_bit = 0x40;
constexpr std::uint8_t variant_reserved_bits = 0x30;
constexpr std::uint8_t variant_depth_mask = 0x0F;

constexpr std::uint8_t data_flag_batch_complete = 0x01;  // payload ends an entry batch
constexpr std::uint8_t data_flag_slot_complete = 0x02;   // the slot's last data shred
constexpr std::uint8_t data_flags_known = data_flag_batch_complete | data_flag_slot_complete;

// ceil(log2 leaf_count): the deepest proof in a set of leaf_count (2..64) leaves.
[[nodiscard]] constexpr std::size_t set_proof_depth(std::size_t leaf_count) noexcept {
  std::size_t depth = 0;
  while ((std::size_t{1} << depth) < leaf_count) ++depth;
  return depth;
}
// S: bytes of every erasure shard in a set of leaf_count (2..64) leaves.
[[nodiscard]] constexpr std::size_t shard_bytes(std::size_t leaf_count) noexcept {
  return max_shred_bytes - coding_headers_end - merkle_node_bytes * set_proof_depth(leaf_count);
}
// C: payload bytes one data shred of such a set can carry.
[[nodiscard]] constexpr std::size_t data_capacity_bytes(std::size_t leaf_count) noexcept {
  return shard_bytes(leaf_count) - (data_headers_end - shred_signature_bytes);
}
static_assert(shard_bytes(64) == 1019 && data_capacity_bytes(64) == 991);
static_assert(shard_bytes(2) == 1119);

enum class shred_error : std::uint8_t {
  none,
  too_long,                      // more than max_shred_bytes
  truncated_header,              // fewer bytes than the common header plus the kind's header
  bad_variant,                   // a reserved variant bit (4 or 5) is set
  proof_depth_too_large,         // variant depth > 6
  bad_num_data,                  // num_data 0 or > 32
  bad_num_coding,                // num_coding 0 or > 32
  index_too_large,               // index >= max_shreds_per_slot
  coding_position_out_of_range,  // coding: position >= num_coding
  coding_index_mismatch,         // coding: index != fec_set_index + position
  index_before_fec_set,          // data: index < fec_set_index
  index_beyond_fec_set,          // data: index >= fec_set_index + num_data
  bad_parent_offset,             // data: 0 for slot > 0, > slot, or non-zero for slot 0
  bad_data_flags,                // data: unknown flag bits, or slot_complete without
                                 //       batch_complete
  slot_complete_not_last_set,    // data: slot_complete in a set not marked last in slot
  data_size_out_of_range,        // data: size < 92 or > 92 + C
  proof_depth_mismatch,          // depth != merkle_proof_size(merkle position, leaf count)
  truncated,                     // fewer bytes than the headers say the shred has
  trailing_bytes,                // more bytes than the headers say the shred has
  nonzero_padding,               // data: a byte between size and the proof is not zero
};
constexpr std::size_t shred_error_count =
    static_cast<std::size_t>(shred_error::nonzero_padding) + 1;

// The enumerator's name ("bad_num_data"), for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(shred_error error) noexcept;

class shred_view;

// Parses bytes strictly. On none, out views bytes; on any error out is left untouched.
[[nodiscard]] shred_error parse_shred(std::span<const std::uint8_t> bytes,
                                      shred_view& out) noexcept;

class shred_view {
 public:
  [[nodiscard]] bool empty() const noexcept { return bytes_ == nullptr; }
  // The whole shred.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return {bytes_, size_}; }

  [[nodiscard]] const crypto::signature& signature() const noexcept {
    // std::array<uint8_t, 64> has alignment 1: the wire bytes are the signature.
    return *reinterpret_cast<const crypto::signature*>(bytes_);
  }
  [[nodiscard]] std::uint8_t variant() const noexcept { return variant_; }
  [[nodiscard]] bool is_coding() const noexcept { return (variant_ & variant_coding_bit) != 0; }
  [[nodiscard]] bool is_data() const noexcept { return !is_coding(); }
  // The shred's FEC set is the slot's last.
  [[nodiscard]] bool last_in_slot() const noexcept {
    return (variant_ & variant_last_in_slot_bit) != 0;
  }
  [[nodiscard]] std::size_t proof_depth() const noexcept { return variant_ & variant_depth_mask; }
  [[nodiscard]] std::uint64_t slot() const noexcept { return slot_; }
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] std::uint16_t shred_version() const noexcept { return shred_version_; }
  [[nodiscard]] std::uint32_t fec_set_index() const noexcept { return fec_set_index_; }

  // The set's shape, from either kind.
  [[nodiscard]] std::size_t num_data() const noexcept { return num_data_; }
  [[nodiscard]] std::size_t num_coding() const noexcept { return num_coding_; }
  [[nodiscard]] std::size_t leaf_count() const noexcept {
    return std::size_t{num_data_} + num_coding_;
  }
  // Position among the set's data shreds (data) or coding shreds (coding).
  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  // Leaf index in the set's merkle tree and shard index for the codec: data shreds first.
  [[nodiscard]] std::size_t merkle_position() const noexcept {
    return is_coding() ? std::size_t{num_data_} + position_ : position_;
  }

  // Data shreds only (zero for coding shreds).
  [[nodiscard]] std::uint16_t parent_offset() const noexcept { return parent_offset_; }
  [[nodiscard]] std::uint64_t parent_slot() const noexcept { return slot_ - parent_offset_; }
  [[nodiscard]] std::uint8_t flags() const noexcept { return flags_; }
  [[nodiscard]] bool batch_complete() const noexcept {
    return (flags_ & data_flag_batch_complete) != 0;
  }
  [[nodiscard]] bool slot_complete() const noexcept {
    return (flags_ & data_flag_slot_complete) != 0;
  }
  // The size field: bytes of the shred used, headers included.
  [[nodiscard]] std::size_t data_size() const noexcept { return data_size_; }
  // The entry bytes this data shred carries (empty for coding shreds).
  [[nodiscard]] std::span<const std::uint8_t> payload() const noexcept {
    if (is_coding()) return {};
    return {bytes_ + data_headers_end, data_size_ - data_headers_end};
  }

  // The S bytes the set's Reed-Solomon code works on.
  [[nodiscard]] std::span<const std::uint8_t> erasure_shard() const noexcept {
    return {bytes_ + (is_coding() ? coding_headers_end : shred_signature_bytes), shard_bytes_};
  }
  // The bytes the merkle leaf hashes (between the signature and the proof): what the
  // signature covers through the root.
  [[nodiscard]] std::span<const std::uint8_t> signed_region() const noexcept {
    return {bytes_ + shred_signature_bytes, proof_offset() - shred_signature_bytes};
  }
  // proof_depth() nodes of 20 bytes, bottom-up.
  [[nodiscard]] std::span<const std::uint8_t> proof() const noexcept {
    return {bytes_ + proof_offset(), merkle_node_bytes * proof_depth()};
  }
  [[nodiscard]] const merkle_node& proof_node(std::size_t i) const noexcept {
    assert(i < proof_depth());
    return *reinterpret_cast<const merkle_node*>(bytes_ + proof_offset() + merkle_node_bytes * i);
  }

 private:
  friend shred_error parse_shred(std::span<const std::uint8_t> bytes, shred_view& out) noexcept;

  [[nodiscard]] std::size_t proof_offset() const noexcept {
    return (is_coding() ? coding_headers_end : shred_signature_bytes) + shard_bytes_;
  }

  const std::uint8_t* bytes_ = nullptr;
  std::uint64_t slot_ = 0;
  std::uint32_t index_ = 0;
  std::uint32_t fec_set_index_ = 0;
  std::uint16_t size_ = 0;
  std::uint16_t shred_version_ = 0;
  std::uint16_t shard_bytes_ = 0;
  std::uint16_t parent_offset_ = 0;
  std::uint16_t data_size_ = 0;
  std::uint8_t variant_ = 0;
  std::uint8_t flags_ = 0;
  std::uint8_t num_data_ = 0;
  std::uint8_t num_coding_ = 0;
  std::uint8_t position_ = 0;
};

// The set's merkle root implied by this shred's leaf and proof; nullopt for an empty view.
[[nodiscard]] std::optional<merkle_node> shred_merkle_root(const shred_view& shred) noexcept;

// root | slot u64 | fec_set_index u32, the 32 bytes the leader signs once per FEC set.
[[nodiscard]] std::array<std::uint8_t, shred_signed_message_bytes> shred_signed_message(
    const merkle_node& root, std::uint64_t slot, std::uint32_t fec_set_index) noexcept;

// True iff shred.signature() is leader's signature over shred_signed_message(root, shred's
// slot, shred's fec_set_index). Pass the root from shred_merkle_root(). The cache form is for
// the verify tile (one cache per tile).
[[nodiscard]] bool verify_shred_signature(const shred_view& shred, const crypto::pubkey& leader,
                                          const merkle_node& root) noexcept;
[[nodiscard]] bool verify_shred_signature(const shred_view& shred, crypto::pubkey_cache& cache,
                                          const crypto::pubkey& leader,
                                          const merkle_node& root) noexcept;

// ------------------------------------------------------------------------------ builder

struct fec_set_params {
  std::uint64_t slot = 0;
  std::uint16_t parent_offset = 0;   // slot - parent slot (see the rules above)
  std::uint16_t shred_version = 0;
  std::uint32_t fec_set_index = 0;   // index of the set's first data shred in the slot
  std::size_t num_coding = max_coding_shreds_per_set;  // 1..32
  bool batch_complete = false;       // the payload ends an entry batch
  bool last_in_slot = false;         // the slot's last set (implies batch_complete)
};

// The fewest data shreds that carry payload_bytes next to num_coding coding shreds, or 0 if
// even 32 cannot. An empty payload takes one data shred.
[[nodiscard]] std::size_t data_shreds_for(std::size_t payload_bytes,
                                          std::size_t num_coding) noexcept;
// The most payload one set with num_coding coding shreds can carry (31712 bytes at 32).
[[nodiscard]] std::size_t max_fec_set_payload_bytes(std::size_t num_coding) noexcept;

// Every shred of one FEC set, data shreds (index order) then coding shreds (position order),
// each signed by leader and carrying its proof. Payload is cut in order into
// data_shreds_for(payload.size(), num_coding) data shreds of data_capacity_bytes each, the
// last one taking the rest; the last data shred carries batch_complete (and slot_complete if
// last_in_slot). Throws std::invalid_argument if num_coding is not in 1..32, the payload does
// not fit one set, the parent_offset breaks the rules, or the set's indices would reach
// max_shreds_per_slot; whatever keypair::sign throws.
[[nodiscard]] std::vector<std::vector<std::uint8_t>> make_fec_set(
    const crypto::keypair& leader, const fec_set_params& params,
    std::span<const std::uint8_t> payload);

}  // namespace riptide::shred
