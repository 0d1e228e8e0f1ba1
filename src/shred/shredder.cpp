#include <riptide/shred/shredder.hpp>

#include "shred_layout.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace riptide::shred {

namespace {

using namespace layout;  // field offsets and header writers (shred_layout.hpp)


// Shred buffers sit buffer_stride apart from a 64-byte aligned base. A coding shred starts
// coding_lead bytes into its buffer so that its erasure shard (at 89) is 64-byte aligned
// like a data shred's (at 64): ISA-L reads and writes whole cache lines.
constexpr std::size_t buffer_align = 64;
constexpr std::size_t coding_lead = 2 * buffer_align - coding_headers_end;  // 39
constexpr std::size_t buffer_stride = 1280;
static_assert(coding_lead + max_shred_bytes <= buffer_stride);
static_assert(buffer_stride % buffer_align == 0);
static_assert((coding_lead + coding_headers_end) % buffer_align == 0);
static_assert(shred_signature_bytes % buffer_align == 0);




std::size_t checked_num_coding(std::size_t num_coding) {
  if (num_coding == 0 || num_coding > max_coding_shreds_per_set) {
    throw std::invalid_argument("shredder: num_coding must be 1..32");
  }
  return num_coding;
}

}  // namespace

// ------------------------------------------------------------------------- fec_set_builder

fec_set_builder::fec_set_builder(std::size_t num_coding)
    : num_coding_(checked_num_coding(num_coding)),
      storage_(fec_max_shards * buffer_stride + buffer_align, 0) {
  codecs_.reserve(max_data_shreds_per_set);
  for (std::size_t d = 1; d <= max_data_shreds_per_set; ++d) codecs_.emplace_back(d, num_coding_);
}

bool fec_set_builder::build(const crypto::keypair& leader, const fec_set_params& params,
                            std::span<const std::uint8_t> payload,
                            const crypto::aux_rand& aux) noexcept {
  num_data_ = 0;
  const std::size_t num_coding = params.num_coding;
  if (num_coding != num_coding_ || leader.empty()) return false;
  const std::size_t num_data = data_shreds_for(payload.size(), num_coding);
  if (num_data == 0 || !parent_offset_valid(params.slot, params.parent_offset)) return false;
  if (std::uint64_t{params.fec_set_index} + std::max(num_data, num_coding) > max_shreds_per_slot) {
    return false;
  }

  const std::size_t leaf_count = num_data + num_coding;
  const std::size_t shard = shard_bytes(leaf_count);
  const std::size_t capacity = data_capacity_bytes(leaf_count);
  // The base is aligned here rather than remembered: a moved builder keeps its heap buffer.
  const auto raw = reinterpret_cast<std::uintptr_t>(storage_.data());
  std::uint8_t* const base =
      storage_.data() + ((buffer_align - raw % buffer_align) % buffer_align);

  // Data shreds: headers, payload and zero padding. Every byte from 64 to the proof is
  // written, so the buffers need no clearing between sets; signature and proof come last.
  std::array<const std::uint8_t*, fec_max_data_shards> data_shards;
  std::size_t taken = 0;
  for (std::size_t i = 0; i < num_data; ++i) {
    const std::size_t depth = merkle_proof_size(i, leaf_count);
    std::uint8_t* const s = base + i * buffer_stride;
    shreds_[i] = s;
    lengths_[i] = static_cast<std::uint16_t>(shred_signature_bytes + shard + merkle_node_bytes * depth);
    write_common(s, false, params.last_in_slot, depth, params,
                 static_cast<std::uint32_t>(params.fec_set_index + i), num_data, num_coding);
    const std::size_t chunk = std::min(capacity, payload.size() - taken);
    const bool last = i + 1 == num_data;
    store_le(s + parent_offset_offset, params.parent_offset, 2);
    s[flags_offset] = static_cast<std::uint8_t>(
        (last && (params.batch_complete || params.last_in_slot) ? data_flag_batch_complete : 0) |
        (last && params.last_in_slot ? data_flag_slot_complete : 0));
    store_le(s + size_offset, data_headers_end + chunk, 2);
    if (chunk > 0) std::memcpy(s + data_headers_end, payload.data() + taken, chunk);
    std::memset(s + data_headers_end + chunk, 0, capacity - chunk);
    taken += chunk;
    data_shards[i] = s + shred_signature_bytes;
  }

  // Coding shreds: headers, then the shards the cached codec encodes in place.
  std::array<std::uint8_t*, fec_max_coding_shards> coding_shards;
  for (std::size_t r = 0; r < num_coding; ++r) {
    const std::size_t depth = merkle_proof_size(num_data + r, leaf_count);
    std::uint8_t* const s = base + (num_data + r) * buffer_stride + coding_lead;
    shreds_[num_data + r] = s;
    lengths_[num_data + r] =
        static_cast<std::uint16_t>(coding_headers_end + shard + merkle_node_bytes * depth);
    write_common(s, true, params.last_in_slot, depth, params,
                 static_cast<std::uint32_t>(params.fec_set_index + r), num_data, num_coding);
    store_le(s + position_offset, r, 2);
    coding_shards[r] = s + coding_headers_end;
  }
  if (!codecs_[num_data - 1].encode(std::span<const std::uint8_t* const>(data_shards.data(), num_data),
                                    std::span<std::uint8_t* const>(coding_shards.data(), num_coding),
                                    shard)) {
    return false;
  }

  // Merkle tree over every shred's signed region, one signature over its root.
  std::array<std::span<const std::uint8_t>, fec_max_shards> leaves;
  for (std::size_t i = 0; i < leaf_count; ++i) {
    const std::size_t depth = merkle_proof_size(i, leaf_count);
    leaves[i] = std::span<const std::uint8_t>(
        shreds_[i] + shred_signature_bytes,
        lengths_[i] - shred_signature_bytes - merkle_node_bytes * depth);
  }
  if (!tree_.build(std::span<const std::span<const std::uint8_t>>(leaves.data(), leaf_count))) {
    return false;
  }
  const auto msg = shred_signed_message(tree_.root(), params.slot, params.fec_set_index);
  crypto::signature sig;
  try {
    sig = leader.sign(msg, aux);
  } catch (const std::exception&) {
    return false;
  }

  std::array<merkle_node, max_proof_depth> proof;
  for (std::size_t i = 0; i < leaf_count; ++i) {
    std::uint8_t* const s = shreds_[i];
    std::memcpy(s, sig.data(), shred_signature_bytes);
    const std::size_t depth = tree_.proof(i, proof);
    std::memcpy(s + lengths_[i] - merkle_node_bytes * depth, proof.data(),
                merkle_node_bytes * depth);
  }
  num_data_ = num_data;
  return true;
}

// -------------------------------------------------------------------------------- shredder

std::size_t shredder::max_slot_bytes_limit(std::size_t num_coding) noexcept {
  // Full sets take 32 data indices each; with at most 1024 of them (the last possibly
  // partial), every set's fec_set_index + max(num_data, num_coding) stays ≤ 32 768.
  return max_shreds_per_slot / max_data_shreds_per_set * max_fec_set_payload_bytes(num_coding);
}

shredder::shredder(const crypto::keypair& leader, std::uint16_t shred_version,
                   shredder_config config)
    : leader_(leader),
      shred_version_(shred_version),
      num_coding_(checked_num_coding(config.num_coding)),
      full_payload_(max_fec_set_payload_bytes(num_coding_)),
      max_slot_bytes_(config.max_slot_bytes == 0 ? max_slot_bytes_limit(num_coding_)
                                                 : config.max_slot_bytes),
      builder_(num_coding_),
      payload_(full_payload_, 0) {
  if (leader_.empty()) throw std::invalid_argument("shredder: empty leader keypair");
  if (max_slot_bytes_ > max_slot_bytes_limit(num_coding_)) {
    throw std::invalid_argument("shredder: max_slot_bytes above what a slot's indices allow");
  }
  // A full set is 32 data shreds for every num_coding, so full sets keep data indices
  // contiguous in steps of 32 and max_slot_bytes_limit holds.
  if (data_shreds_for(full_payload_, num_coding_) != max_data_shreds_per_set) {
    throw std::logic_error("shredder: a full set is not 32 data shreds");
  }
  crypto::random_bytes(aux_seed_);
}

bool shredder::begin_slot(std::uint64_t slot, std::uint64_t parent_slot) noexcept {
  if (in_slot_) {
    ++metrics_.begin_refused_slot_open;
    return false;
  }
  const bool parent_ok = slot == 0 ? parent_slot == 0
                                   : (parent_slot < slot && slot - parent_slot <= UINT16_MAX);
  if (!parent_ok) {
    ++metrics_.begin_refused_bad_parent;
    return false;
  }
  in_slot_ = true;
  pending_batch_complete_ = false;
  slot_ = slot;
  parent_offset_ = static_cast<std::uint16_t>(slot - parent_slot);
  next_index_ = 0;
  slot_bytes_ = 0;
  buffered_ = 0;
  ++metrics_.slots_begun;
  return true;
}

bool shredder::add(std::span<const std::uint8_t> bytes, bool batch_complete,
                   shred_sink& sink) noexcept {
  if (!in_slot_) {
    ++metrics_.add_refused_no_slot;
    return false;
  }
  if (bytes.size() > max_slot_bytes_ - slot_bytes_) {
    ++metrics_.add_refused_slot_full;
    metrics_.bytes_refused_slot_full += bytes.size();
    return false;
  }
  slot_bytes_ += bytes.size();
  while (!bytes.empty()) {
    // A full buffer leaves only once a byte needs its room: the slot may end right here.
    if (buffered_ == full_payload_) emit_set(pending_batch_complete_, false, sink);
    const std::size_t take = std::min(full_payload_ - buffered_, bytes.size());
    std::memcpy(payload_.data() + buffered_, bytes.data(), take);
    buffered_ += take;
    bytes = bytes.subspan(take);
    pending_batch_complete_ = false;
  }
  if (batch_complete && buffered_ > 0) pending_batch_complete_ = true;
  return true;
}

bool shredder::finish_slot(shred_sink& sink) noexcept {
  if (!in_slot_) {
    ++metrics_.finish_refused_no_slot;
    return false;
  }
  emit_set(true, true, sink);
  in_slot_ = false;
  ++metrics_.slots_finished;
  return true;
}

void shredder::emit_set(bool batch_complete, bool last_in_slot, shred_sink& sink) noexcept {
  fec_set_params params;
  params.slot = slot_;
  params.parent_offset = parent_offset_;
  params.shred_version = shred_version_;
  params.fec_set_index = next_index_;
  params.num_coding = num_coding_;
  params.batch_complete = batch_complete;
  params.last_in_slot = last_in_slot;

  // BIP-340 aux: the seed with the set counter folded into its first 8 bytes.
  crypto::aux_rand aux = aux_seed_;
  for (std::size_t i = 0; i < 8; ++i) aux[i] ^= static_cast<std::uint8_t>(sets_signed_ >> (8 * i));
  ++sets_signed_;

  const std::span<const std::uint8_t> payload(payload_.data(), buffered_);
  buffered_ = 0;
  if (!builder_.build(leader_, params, payload, aux)) {
    // Only signing can fail here: begin_slot() and max_slot_bytes_ rule out the rest.
    ++metrics_.sets_dropped_sign_failed;
    return;
  }
  const std::size_t num_data = builder_.num_data();
  for (std::size_t i = 0; i < num_data; ++i) {
    sink.on_shred(builder_.shred(i), shred_kind::data, next_index_ + static_cast<std::uint32_t>(i));
  }
  for (std::size_t r = 0; r < num_coding_; ++r) {
    sink.on_shred(builder_.shred(num_data + r), shred_kind::coding,
                  next_index_ + static_cast<std::uint32_t>(r));
  }
  next_index_ += static_cast<std::uint32_t>(num_data);
  ++metrics_.fec_sets;
  metrics_.data_shreds += num_data;
  metrics_.coding_shreds += num_coding_;
  metrics_.payload_bytes += payload.size();
}

}  // namespace riptide::shred
