#pragma once
// Bloom filters over 32-byte CRDS value hashes, for gossip pull requests.
//
// Contract
// - A pull request carries one filter over (a partition of) the hashes its sender holds; the
//   answering node sends back the values of that partition the filter does not contain.
//   False positives only delay a value until a later request, whose filter has fresh random
//   keys, so a value is never hidden for good.
// - Hash space is split into 2^mask_bits partitions by the top mask_bits bits of the first
//   8 bytes (little-endian u64) of a hash, so one request covers a slice of the table when
//   the whole table does not fit one packet's worth of bits (see hash_partition()).
// - bloom owns its bits (a std::vector, sized once in the constructor); bloom_view reads a
//   filter in place from packet bytes (no copy, no allocation) and is valid only while those
//   bytes are. Both are single-owner, no locking; pure functions are callable from any thread.
// - Bit positions are xxh3_64(hash, key_i) mod num_bits, identical for bloom and bloom_view.
// - Failure: the constructor throws std::invalid_argument for 0 bits, more than
//   max_bloom_bits, or a key count outside [1, max_bloom_keys]; everything else is noexcept.

#include <riptide/crypto/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace riptide::gossip {

constexpr std::size_t max_bloom_keys = 8;
constexpr std::size_t max_bloom_bits = 8192;  // 1 KiB of bits: what fits a 1232-byte request
constexpr std::size_t max_bloom_mask_bits = 32;
constexpr double default_bloom_false_positive_rate = 0.1;

// The first 8 bytes of a value hash as a little-endian integer: what partitions and bloom
// shapes key on. Value hashes are SHA-256 outputs, so these bits are uniform.
[[nodiscard]] inline std::uint64_t hash_prefix(const crypto::hash32& hash) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | hash[static_cast<std::size_t>(i)];
  return v;
}

// The partition (top mask_bits bits of hash_prefix) a hash falls in; 0 when mask_bits == 0.
// mask_bits must be at most 63 (the wire allows 32).
[[nodiscard]] inline std::uint64_t hash_partition(const crypto::hash32& hash,
                                                  std::uint32_t mask_bits) noexcept {
  return mask_bits == 0 ? 0 : hash_prefix(hash) >> (64 - mask_bits);
}

// Bit index of `hash` under one key, in [0, num_bits). num_bits must be > 0.
[[nodiscard]] std::uint32_t bloom_bit(const crypto::hash32& hash, std::uint64_t key,
                                      std::uint32_t num_bits) noexcept;

struct bloom_shape {
  std::uint32_t num_bits = 0;
  std::uint32_t num_keys = 0;
};

// Bits and keys for `items` entries at `false_positive_rate`, with at most max_bits bits
// (the rate then rises). Always at least 64 bits and one key; keys at most max_bloom_keys.
[[nodiscard]] bloom_shape optimal_bloom_shape(std::size_t items, double false_positive_rate,
                                              std::uint32_t max_bits) noexcept;

// The key count that minimises false positives for `items` entries in exactly num_bits bits
// (num_bits / items * ln 2, rounded, clamped to [1, max_bloom_keys]).
[[nodiscard]] std::uint32_t optimal_bloom_keys(std::size_t items, std::uint32_t num_bits) noexcept;

// Expected false-positive rate of a filter with these dimensions holding `items` entries.
[[nodiscard]] double bloom_false_positive_rate(std::size_t items, std::uint32_t num_bits,
                                               std::uint32_t num_keys) noexcept;

// How many items one filter of max_bits bits holds at false_positive_rate.
[[nodiscard]] std::size_t bloom_capacity(double false_positive_rate,
                                         std::uint32_t max_bits) noexcept;

class bloom {
 public:
  bloom() = default;  // empty: 0 bits, contains() is false; only an assignment target
  bloom(std::uint32_t num_bits, std::span<const std::uint64_t> keys);

  void add(const crypto::hash32& hash) noexcept;
  [[nodiscard]] bool contains(const crypto::hash32& hash) const noexcept;
  void clear() noexcept;

  [[nodiscard]] std::uint32_t num_bits() const noexcept { return num_bits_; }
  [[nodiscard]] std::span<const std::uint64_t> keys() const noexcept { return keys_; }
  // ceil(num_bits / 64) words; bit i is (words[i / 64] >> (i % 64)) & 1; unused high bits of
  // the last word are always 0.
  [[nodiscard]] std::span<const std::uint64_t> words() const noexcept { return words_; }
  [[nodiscard]] std::size_t bits_set() const noexcept;

 private:
  std::uint32_t num_bits_ = 0;
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint64_t> words_;
};

// A filter read in place from wire bytes (little-endian u64 keys and words, any alignment).
// The message parser validates the shape; contains() trusts it.
class bloom_view {
 public:
  bloom_view() = default;  // empty: contains() is false
  bloom_view(std::span<const std::uint8_t> key_bytes, std::uint32_t num_bits,
             std::span<const std::uint8_t> word_bytes) noexcept
      : key_bytes_(key_bytes), word_bytes_(word_bytes), num_bits_(num_bits) {}

  [[nodiscard]] bool contains(const crypto::hash32& hash) const noexcept;
  [[nodiscard]] std::uint32_t num_bits() const noexcept { return num_bits_; }
  [[nodiscard]] std::size_t num_keys() const noexcept { return key_bytes_.size() / 8; }
  [[nodiscard]] std::uint64_t key(std::size_t i) const noexcept;
  [[nodiscard]] std::size_t num_words() const noexcept { return word_bytes_.size() / 8; }
  [[nodiscard]] std::uint64_t word(std::size_t i) const noexcept;

 private:
  std::span<const std::uint8_t> key_bytes_;
  std::span<const std::uint8_t> word_bytes_;
  std::uint32_t num_bits_ = 0;
};

}  // namespace riptide::gossip
