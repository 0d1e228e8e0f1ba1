#include <riptide/crypto/dedup_cache.hpp>

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace riptide::crypto {

namespace {
constexpr std::size_t max_capacity = std::size_t{1} << 62;
// 2^64 / golden ratio: multiplicative (Fibonacci) hashing spreads any tag pattern over the
// high bits, which the index takes.
constexpr std::uint64_t fibonacci_multiplier = 0x9E3779B97F4A7C15ULL;
}  // namespace

dedup_cache::dedup_cache(std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("dedup_cache: capacity must be at least 1");
  if (capacity > max_capacity) throw std::invalid_argument("dedup_cache: capacity too large");
  // Load factor <= 1/2 keeps linear-probe chains short.
  const std::size_t table_size = std::bit_ceil(capacity * 2);
  ring_.assign(capacity, 0);
  table_.assign(table_size, empty_slot);
  table_mask_ = table_size - 1;
  table_shift_ = 64U - static_cast<unsigned>(std::countr_zero(table_size));
}

std::size_t dedup_cache::home_slot(std::uint64_t tag) const noexcept {
  // table_shift_ can be 63 at most (table size >= 2), so the shift is always defined.
  return static_cast<std::size_t>((tag * fibonacci_multiplier) >> table_shift_);
}

std::size_t dedup_cache::find_slot(std::uint64_t tag) const noexcept {
  for (std::size_t i = home_slot(tag);; i = (i + 1) & table_mask_) {
    // The table is never full (size <= capacity < table size), so an empty slot ends the probe.
    if (table_[i] == tag) return i;
    if (table_[i] == empty_slot) return table_.size();
  }
}

bool dedup_cache::contains(std::uint64_t tag) const noexcept {
  if (tag == 0) return zero_present_;
  return find_slot(tag) != table_.size();
}

void dedup_cache::table_insert(std::uint64_t tag) noexcept {
  if (tag == 0) {
    zero_present_ = true;
    return;
  }
  std::size_t i = home_slot(tag);
  while (table_[i] != empty_slot) i = (i + 1) & table_mask_;
  table_[i] = tag;
}

void dedup_cache::table_erase(std::uint64_t tag) noexcept {
  if (tag == 0) {
    zero_present_ = false;
    return;
  }
  std::size_t hole = find_slot(tag);
  if (hole == table_.size()) return;  // cannot happen: every ring tag is in the table
  // Backward-shift deletion: pull later members of the probe run into the hole unless their
  // home slot lies cyclically in (hole, j], in which case moving them would break their probe.
  for (std::size_t j = (hole + 1) & table_mask_; table_[j] != empty_slot;
       j = (j + 1) & table_mask_) {
    const std::size_t home = home_slot(table_[j]);
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    table_[hole] = table_[j];
    hole = j;
  }
  table_[hole] = empty_slot;
}

bool dedup_cache::insert(std::uint64_t tag) noexcept {
  if (contains(tag)) return false;
  const std::size_t cap = ring_.size();
  if (size_ == cap) {
    table_erase(ring_[head_]);
    ring_[head_] = tag;  // the oldest slot becomes the newest
    head_ = head_ + 1 == cap ? 0 : head_ + 1;
  } else {
    std::size_t tail = head_ + size_;
    if (tail >= cap) tail -= cap;
    ring_[tail] = tag;
    ++size_;
  }
  table_insert(tag);
  return true;
}

void dedup_cache::clear() noexcept {
  std::fill(table_.begin(), table_.end(), empty_slot);
  head_ = 0;
  size_ = 0;
  zero_present_ = false;
}

}  // namespace riptide::crypto
