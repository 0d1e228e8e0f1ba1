#include <riptide/gossip/bloom.hpp>

#include <riptide/crypto/xxh3.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace riptide::gossip {

namespace {

std::uint64_t load_u64_le(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr double ln2 = 0.69314718055994530942;

}  // namespace

std::uint32_t bloom_bit(const crypto::hash32& hash, std::uint64_t key,
                        std::uint32_t num_bits) noexcept {
  return static_cast<std::uint32_t>(crypto::xxh3_64(hash, key) % num_bits);
}

bloom_shape optimal_bloom_shape(std::size_t items, double false_positive_rate,
                                std::uint32_t max_bits) noexcept {
  const double n = static_cast<double>(std::max<std::size_t>(items, 1));
  const double p = std::clamp(false_positive_rate, 1e-9, 0.5);
  // m = -n ln p / (ln 2)^2, rounded up to whole words; k = (m / n) ln 2.
  double m = std::ceil(-n * std::log(p) / (ln2 * ln2));
  m = std::clamp(m, 64.0, static_cast<double>(std::max<std::uint32_t>(max_bits, 64)));
  const auto bits = static_cast<std::uint32_t>(m);
  const double k = std::round(static_cast<double>(bits) / n * ln2);
  const auto keys = static_cast<std::uint32_t>(std::clamp(k, 1.0, double{max_bloom_keys}));
  return {bits, keys};
}

std::uint32_t optimal_bloom_keys(std::size_t items, std::uint32_t num_bits) noexcept {
  const double n = static_cast<double>(std::max<std::size_t>(items, 1));
  const double k = std::round(static_cast<double>(num_bits) / n * ln2);
  return static_cast<std::uint32_t>(std::clamp(k, 1.0, double{max_bloom_keys}));
}

double bloom_false_positive_rate(std::size_t items, std::uint32_t num_bits,
                                 std::uint32_t num_keys) noexcept {
  if (num_bits == 0) return 1.0;
  const double k = num_keys;
  const double fill = 1.0 - std::exp(-k * static_cast<double>(items) / num_bits);
  return std::pow(fill, k);
}

std::size_t bloom_capacity(double false_positive_rate, std::uint32_t max_bits) noexcept {
  const double p = std::clamp(false_positive_rate, 1e-9, 0.5);
  return static_cast<std::size_t>(static_cast<double>(max_bits) * ln2 * ln2 / -std::log(p));
}

bloom::bloom(std::uint32_t num_bits, std::span<const std::uint64_t> keys)
    : num_bits_(num_bits), keys_(keys.begin(), keys.end()), words_((num_bits + 63) / 64, 0) {
  if (num_bits == 0 || num_bits > max_bloom_bits) {
    throw std::invalid_argument("bloom: num_bits must be in [1, max_bloom_bits]");
  }
  if (keys.empty() || keys.size() > max_bloom_keys) {
    throw std::invalid_argument("bloom: key count must be in [1, max_bloom_keys]");
  }
}

void bloom::add(const crypto::hash32& hash) noexcept {
  for (const std::uint64_t key : keys_) {
    const std::uint32_t bit = bloom_bit(hash, key, num_bits_);
    words_[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
}

bool bloom::contains(const crypto::hash32& hash) const noexcept {
  if (num_bits_ == 0) return false;
  for (const std::uint64_t key : keys_) {
    const std::uint32_t bit = bloom_bit(hash, key, num_bits_);
    if (((words_[bit / 64] >> (bit % 64)) & 1) == 0) return false;
  }
  return true;
}

void bloom::clear() noexcept { std::fill(words_.begin(), words_.end(), 0); }

std::size_t bloom::bits_set() const noexcept {
  std::size_t n = 0;
  for (const std::uint64_t w : words_) n += static_cast<std::size_t>(std::popcount(w));
  return n;
}

std::uint64_t bloom_view::key(std::size_t i) const noexcept {
  return load_u64_le(key_bytes_.data() + 8 * i);
}

std::uint64_t bloom_view::word(std::size_t i) const noexcept {
  return load_u64_le(word_bytes_.data() + 8 * i);
}

bool bloom_view::contains(const crypto::hash32& hash) const noexcept {
  if (num_bits_ == 0 || key_bytes_.empty()) return false;
  for (std::size_t i = 0; i < num_keys(); ++i) {
    const std::uint32_t bit = bloom_bit(hash, key(i), num_bits_);
    if (((word_bytes_[bit / 8] >> (bit % 8)) & 1) == 0) return false;
  }
  return true;
}

}  // namespace riptide::gossip
