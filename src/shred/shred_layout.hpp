#pragma once
// Private to src/shred: the shred header's field offsets and the writers that the set builder
// (shred.cpp), the shredder and the FEC resolver (which rebuilds coding headers) share, so
// the layout drawn in include/riptide/shred/shred.hpp is written down in code exactly once.

#include <cstddef>
#include <cstdint>

#include <riptide/shred/shred.hpp>

namespace riptide::shred::layout {

constexpr std::size_t variant_offset = 64;
constexpr std::size_t slot_offset = 65;
constexpr std::size_t index_offset = 73;
constexpr std::size_t version_offset = 77;
constexpr std::size_t fec_set_index_offset = 79;
constexpr std::size_t num_data_offset = 83;
constexpr std::size_t num_coding_offset = 85;
constexpr std::size_t position_offset = 87;       // coding
constexpr std::size_t parent_offset_offset = 87;  // data
constexpr std::size_t flags_offset = 89;          // data
constexpr std::size_t size_offset = 90;           // data

inline void store_le(std::uint8_t* p, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// parent_offset is 0 only in slot 0 and never reaches below slot 0.
inline bool parent_offset_valid(std::uint64_t slot, std::uint64_t parent_offset) noexcept {
  return slot == 0 ? parent_offset == 0 : (parent_offset >= 1 && parent_offset <= slot);
}

// Writes the common header after the signature and the set's shape (the signature is filled
// in once the root is known). p supplies slot, shred_version and fec_set_index.
inline void write_common(std::uint8_t* b, bool coding, bool last_in_slot, std::size_t depth,
                         const fec_set_params& p, std::uint32_t index, std::size_t num_data,
                         std::size_t num_coding) noexcept {
  b[variant_offset] = static_cast<std::uint8_t>((coding ? variant_coding_bit : 0) |
                                                (last_in_slot ? variant_last_in_slot_bit : 0) |
                                                depth);
  store_le(b + slot_offset, p.slot, 8);
  store_le(b + index_offset, index, 4);
  store_le(b + version_offset, p.shred_version, 2);
  store_le(b + fec_set_index_offset, p.fec_set_index, 4);
  store_le(b + num_data_offset, num_data, 2);
  store_le(b + num_coding_offset, num_coding, 2);
}

}  // namespace riptide::shred::layout
