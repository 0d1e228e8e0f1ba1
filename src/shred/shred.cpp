#include <riptide/shred/shred.hpp>

#include "shred_layout.hpp"

#include <riptide/shred/fec.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace riptide::shred {

namespace {

using namespace layout;  // field offsets and header writers (shred_layout.hpp)

static_assert(common_header_bytes == shred_signature_bytes + 1 + 8 + 4 + 2 + 4);
static_assert(max_data_shreds_per_set <= fec_max_data_shards);
static_assert(max_coding_shreds_per_set <= fec_max_coding_shards);
static_assert(max_data_shreds_per_set + max_coding_shreds_per_set <= merkle_max_leaves);
static_assert(set_proof_depth(merkle_max_leaves) == max_proof_depth);
static_assert(max_proof_depth <= variant_depth_mask);
static_assert(max_shred_bytes <= UINT16_MAX, "sizes are stored as u16");
// The deepest coding shred of any set fills max_shred_bytes exactly.
static_assert(coding_headers_end + shard_bytes(64) + merkle_node_bytes * 6 == max_shred_bytes);


std::uint16_t load_u16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::uint32_t load_u32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::uint64_t load_u64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}


bool all_zero(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint8_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}



}  // namespace

const char* to_string(shred_error error) noexcept {
  switch (error) {
#define RIPTIDE_CASE(name) \
  case shred_error::name: return #name;
    RIPTIDE_CASE(none)
    RIPTIDE_CASE(too_long)
    RIPTIDE_CASE(truncated_header)
    RIPTIDE_CASE(bad_variant)
    RIPTIDE_CASE(proof_depth_too_large)
    RIPTIDE_CASE(bad_num_data)
    RIPTIDE_CASE(bad_num_coding)
    RIPTIDE_CASE(index_too_large)
    RIPTIDE_CASE(coding_position_out_of_range)
    RIPTIDE_CASE(coding_index_mismatch)
    RIPTIDE_CASE(index_before_fec_set)
    RIPTIDE_CASE(index_beyond_fec_set)
    RIPTIDE_CASE(bad_parent_offset)
    RIPTIDE_CASE(bad_data_flags)
    RIPTIDE_CASE(slot_complete_not_last_set)
    RIPTIDE_CASE(data_size_out_of_range)
    RIPTIDE_CASE(proof_depth_mismatch)
    RIPTIDE_CASE(truncated)
    RIPTIDE_CASE(trailing_bytes)
    RIPTIDE_CASE(nonzero_padding)
#undef RIPTIDE_CASE
  }
  return "unknown";
}

shred_error parse_shred(std::span<const std::uint8_t> bytes, shred_view& out) noexcept {
  const std::size_t size = bytes.size();
  const std::uint8_t* const b = bytes.data();
  if (size > max_shred_bytes) return shred_error::too_long;
  if (size < common_header_bytes) return shred_error::truncated_header;

  const std::uint8_t variant = b[variant_offset];
  if ((variant & variant_reserved_bits) != 0) return shred_error::bad_variant;
  const std::size_t depth = variant & variant_depth_mask;
  if (depth > max_proof_depth) return shred_error::proof_depth_too_large;
  const bool coding = (variant & variant_coding_bit) != 0;
  const std::size_t headers_end = coding ? coding_headers_end : data_headers_end;
  if (size < headers_end) return shred_error::truncated_header;

  const std::uint64_t slot = load_u64(b + slot_offset);
  const std::uint32_t index = load_u32(b + index_offset);
  const std::uint32_t fec_set_index = load_u32(b + fec_set_index_offset);
  const std::uint16_t num_data = load_u16(b + num_data_offset);
  const std::uint16_t num_coding = load_u16(b + num_coding_offset);
  if (num_data == 0 || num_data > max_data_shreds_per_set) return shred_error::bad_num_data;
  if (num_coding == 0 || num_coding > max_coding_shreds_per_set) {
    return shred_error::bad_num_coding;
  }
  if (index >= max_shreds_per_slot) return shred_error::index_too_large;
  const std::size_t leaf_count = std::size_t{num_data} + num_coding;

  std::uint16_t position = 0;
  std::uint16_t parent_offset = 0;
  std::uint8_t flags = 0;
  std::uint16_t data_size = 0;
  const std::size_t shard = shard_bytes(leaf_count);
  std::size_t merkle_position = 0;
  if (coding) {
    position = load_u16(b + position_offset);
    if (position >= num_coding) return shred_error::coding_position_out_of_range;
    // In 64 bits: fec_set_index + position may not fit a u32.
    if (std::uint64_t{index} != std::uint64_t{fec_set_index} + position) {
      return shred_error::coding_index_mismatch;
    }
    merkle_position = std::size_t{num_data} + position;
  } else {
    if (index < fec_set_index) return shred_error::index_before_fec_set;
    if (index - fec_set_index >= num_data) return shred_error::index_beyond_fec_set;
    position = static_cast<std::uint16_t>(index - fec_set_index);
    parent_offset = load_u16(b + parent_offset_offset);
    if (!parent_offset_valid(slot, parent_offset)) return shred_error::bad_parent_offset;
    flags = b[flags_offset];
    const bool slot_complete = (flags & data_flag_slot_complete) != 0;
    if ((flags & ~data_flags_known) != 0 ||
        (slot_complete && (flags & data_flag_batch_complete) == 0)) {
      return shred_error::bad_data_flags;
    }
    if (slot_complete && (variant & variant_last_in_slot_bit) == 0) {
      return shred_error::slot_complete_not_last_set;
    }
    data_size = load_u16(b + size_offset);
    if (data_size < data_headers_end || data_size > data_headers_end + data_capacity_bytes(leaf_count)) {
      return shred_error::data_size_out_of_range;
    }
    merkle_position = position;
  }
  if (depth != merkle_proof_size(merkle_position, leaf_count)) {
    return shred_error::proof_depth_mismatch;
  }

  const std::size_t proof_offset = (coding ? coding_headers_end : shred_signature_bytes) + shard;
  const std::size_t expected = proof_offset + merkle_node_bytes * depth;
  if (size < expected) return shred_error::truncated;
  if (size > expected) return shred_error::trailing_bytes;
  if (!coding && !all_zero(b + data_size, proof_offset - data_size)) {
    return shred_error::nonzero_padding;
  }

  out.bytes_ = b;
  out.slot_ = slot;
  out.index_ = index;
  out.fec_set_index_ = fec_set_index;
  out.size_ = static_cast<std::uint16_t>(size);
  out.shred_version_ = load_u16(b + version_offset);
  out.shard_bytes_ = static_cast<std::uint16_t>(shard);
  out.parent_offset_ = parent_offset;
  out.data_size_ = data_size;
  out.variant_ = variant;
  out.flags_ = flags;
  out.num_data_ = static_cast<std::uint8_t>(num_data);
  out.num_coding_ = static_cast<std::uint8_t>(num_coding);
  out.position_ = static_cast<std::uint8_t>(position);
  return shred_error::none;
}

std::optional<merkle_node> shred_merkle_root(const shred_view& shred) noexcept {
  if (shred.empty()) return std::nullopt;
  // Copied out of the packet so the nodes are real merkle_node objects (120 bytes at most).
  std::array<merkle_node, max_proof_depth> proof;
  const std::size_t depth = shred.proof_depth();
  std::memcpy(proof.data(), shred.proof().data(), merkle_node_bytes * depth);
  return merkle_root_from_proof(merkle_leaf(shred.signed_region()), shred.merkle_position(),
                                shred.leaf_count(),
                                std::span<const merkle_node>(proof.data(), depth));
}

std::array<std::uint8_t, shred_signed_message_bytes> shred_signed_message(
    const merkle_node& root, std::uint64_t slot, std::uint32_t fec_set_index) noexcept {
  std::array<std::uint8_t, shred_signed_message_bytes> msg;
  std::memcpy(msg.data(), root.data(), merkle_node_bytes);
  store_le(msg.data() + merkle_node_bytes, slot, 8);
  store_le(msg.data() + merkle_node_bytes + 8, fec_set_index, 4);
  return msg;
}

bool verify_shred_signature(const shred_view& shred, const crypto::pubkey& leader,
                            const merkle_node& root) noexcept {
  if (shred.empty()) return false;
  const auto msg = shred_signed_message(root, shred.slot(), shred.fec_set_index());
  return crypto::verify(leader, msg, shred.signature());
}

bool verify_shred_signature(const shred_view& shred, crypto::pubkey_cache& cache,
                            const crypto::pubkey& leader, const merkle_node& root) noexcept {
  if (shred.empty()) return false;
  const auto msg = shred_signed_message(root, shred.slot(), shred.fec_set_index());
  return cache.verify(leader, msg, shred.signature());
}

// ------------------------------------------------------------------------------ builder

std::size_t data_shreds_for(std::size_t payload_bytes, std::size_t num_coding) noexcept {
  if (num_coding == 0 || num_coding > max_coding_shreds_per_set) return 0;
  for (std::size_t num_data = 1; num_data <= max_data_shreds_per_set; ++num_data) {
    if (num_data * data_capacity_bytes(num_data + num_coding) >= payload_bytes) return num_data;
  }
  return 0;
}

std::size_t max_fec_set_payload_bytes(std::size_t num_coding) noexcept {
  if (num_coding == 0 || num_coding > max_coding_shreds_per_set) return 0;
  std::size_t best = 0;
  for (std::size_t num_data = 1; num_data <= max_data_shreds_per_set; ++num_data) {
    best = std::max(best, num_data * data_capacity_bytes(num_data + num_coding));
  }
  return best;
}

std::vector<std::vector<std::uint8_t>> make_fec_set(const crypto::keypair& leader,
                                                    const fec_set_params& params,
                                                    std::span<const std::uint8_t> payload) {
  const std::size_t num_coding = params.num_coding;
  if (num_coding == 0 || num_coding > max_coding_shreds_per_set) {
    throw std::invalid_argument("make_fec_set: num_coding must be 1..32");
  }
  const std::size_t num_data = data_shreds_for(payload.size(), num_coding);
  if (num_data == 0) throw std::invalid_argument("make_fec_set: payload does not fit one FEC set");
  if (!parent_offset_valid(params.slot, params.parent_offset)) {
    throw std::invalid_argument("make_fec_set: parent_offset must be 1..slot (0 for slot 0)");
  }
  if (std::uint64_t{params.fec_set_index} + std::max(num_data, num_coding) > max_shreds_per_slot) {
    throw std::invalid_argument("make_fec_set: shred indices would reach max_shreds_per_slot");
  }

  const std::size_t leaf_count = num_data + num_coding;
  const std::size_t shard = shard_bytes(leaf_count);
  const std::size_t capacity = data_capacity_bytes(leaf_count);
  std::vector<std::vector<std::uint8_t>> shreds(leaf_count);

  // Data shreds: headers, payload and zero padding; signature and proof come last.
  std::size_t taken = 0;
  for (std::size_t i = 0; i < num_data; ++i) {
    const std::size_t depth = merkle_proof_size(i, leaf_count);
    std::vector<std::uint8_t>& s = shreds[i];
    s.assign(shred_signature_bytes + shard + merkle_node_bytes * depth, 0);
    write_common(s.data(), false, params.last_in_slot, depth, params,
                 static_cast<std::uint32_t>(params.fec_set_index + i), num_data, num_coding);
    const std::size_t chunk = std::min(capacity, payload.size() - taken);
    const bool last = i + 1 == num_data;
    store_le(s.data() + parent_offset_offset, params.parent_offset, 2);
    s[flags_offset] = static_cast<std::uint8_t>(
        (last && (params.batch_complete || params.last_in_slot) ? data_flag_batch_complete : 0) |
        (last && params.last_in_slot ? data_flag_slot_complete : 0));
    store_le(s.data() + size_offset, data_headers_end + chunk, 2);
    if (chunk > 0) std::memcpy(s.data() + data_headers_end, payload.data() + taken, chunk);
    taken += chunk;
  }

  // Coding shreds: headers, then the Reed-Solomon shards of the data shreds' shards.
  std::vector<const std::uint8_t*> data_shards(num_data);
  std::vector<std::uint8_t*> coding_shards(num_coding);
  for (std::size_t i = 0; i < num_data; ++i) data_shards[i] = shreds[i].data() + shred_signature_bytes;
  for (std::size_t r = 0; r < num_coding; ++r) {
    const std::size_t depth = merkle_proof_size(num_data + r, leaf_count);
    std::vector<std::uint8_t>& s = shreds[num_data + r];
    s.assign(coding_headers_end + shard + merkle_node_bytes * depth, 0);
    write_common(s.data(), true, params.last_in_slot, depth, params,
                 static_cast<std::uint32_t>(params.fec_set_index + r), num_data, num_coding);
    store_le(s.data() + position_offset, r, 2);
    coding_shards[r] = s.data() + coding_headers_end;
  }
  const fec_codec codec(num_data, num_coding);
  if (!codec.encode(data_shards, coding_shards, shard)) {
    throw std::logic_error("make_fec_set: fec_codec rejected the set's shape");
  }

  // Merkle tree over every shred's signed region, one signature over its root.
  std::vector<std::span<const std::uint8_t>> leaves(leaf_count);
  for (std::size_t i = 0; i < leaf_count; ++i) {
    const std::size_t depth = merkle_proof_size(i, leaf_count);
    leaves[i] = std::span<const std::uint8_t>(shreds[i]).subspan(
        shred_signature_bytes, shreds[i].size() - shred_signature_bytes - merkle_node_bytes * depth);
  }
  merkle_tree tree;
  if (!tree.build(leaves)) throw std::logic_error("make_fec_set: merkle tree rejected the set");
  const auto msg = shred_signed_message(tree.root(), params.slot, params.fec_set_index);
  const crypto::signature sig = leader.sign(msg);

  std::array<merkle_node, max_proof_depth> proof;
  for (std::size_t i = 0; i < leaf_count; ++i) {
    std::vector<std::uint8_t>& s = shreds[i];
    std::memcpy(s.data(), sig.data(), shred_signature_bytes);
    const std::size_t depth = tree.proof(i, proof);
    std::memcpy(s.data() + s.size() - merkle_node_bytes * depth, proof.data(),
                merkle_node_bytes * depth);
  }
  return shreds;
}

}  // namespace riptide::shred
