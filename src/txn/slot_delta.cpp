#include <riptide/txn/slot_delta.hpp>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/bank.hpp>

#include <algorithm>
#include <array>
#include <random>
#include <stdexcept>

namespace riptide::txn {

// Open addressing with linear probing over a power-of-two table of at least twice
// max_accounts slots, so a probe sequence stays short. `used` marks a live slot; finish()
// clears exactly the slots that order_ names, so the cost of a slot is its own keys.
struct slot_delta::entry {
  crypto::pubkey key{};
  std::uint64_t lamports = 0;
  bool used = false;
};

namespace {

std::size_t table_size_for(std::size_t max_accounts) {
  std::size_t n = 4;
  while (n < 2 * max_accounts) n <<= 1;
  return n;
}

// Keys come from transactions anyone can send, so the probe hash is seeded per process:
// nobody can precompute keys that pile onto one probe chain. The seed never shows in the
// bank hash, which depends only on the sorted keys and balances.
std::uint64_t probe_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

slot_delta::slot_delta(std::size_t capacity) : max_accounts_(capacity) {
  if (capacity == 0 || capacity > (std::size_t{1} << 30))
    throw std::invalid_argument("slot_delta: max_accounts must be in [1, 2^30]");
  const std::size_t n = table_size_for(capacity);
  mask_ = n - 1;
  seed_ = probe_seed();
  table_ = std::make_unique<entry[]>(n);
  order_ = std::make_unique<std::uint32_t[]>(capacity);
}

slot_delta::~slot_delta() = default;

bool slot_delta::record(const crypto::pubkey& key, std::uint64_t lamports) noexcept {
  std::size_t i = crypto::xxh3_64(key, seed_) & mask_;
  for (;;) {
    entry& e = table_[i];
    if (!e.used) break;
    if (e.key == key) {
      e.lamports = lamports;  // last write wins
      return true;
    }
    i = (i + 1) & mask_;
  }
  if (size_ == max_accounts_) {
    overflowed_ = true;
    return false;
  }
  entry& e = table_[i];
  e.key = key;
  e.lamports = lamports;
  e.used = true;
  order_[size_++] = static_cast<std::uint32_t>(i);
  return true;
}

crypto::hash32 slot_delta::finish(const crypto::hash32& last_poh) noexcept {
  crypto::hash32 out{};
  std::uint32_t* begin = order_.get();
  if (!overflowed_) {
    std::sort(begin, begin + size_, [this](std::uint32_t a, std::uint32_t b) {
      return table_[a].key < table_[b].key;
    });
    txn::bank_hasher hasher(size_);  // the same bytes as bank::bank_hash()
    for (std::size_t i = 0; i < size_; ++i) hasher.add(table_[begin[i]].key, table_[begin[i]].lamports);
    out = hasher.finish(last_poh);
  }
  for (std::size_t i = 0; i < size_; ++i) table_[begin[i]] = entry{};
  size_ = 0;
  overflowed_ = false;
  return out;
}

}  // namespace riptide::txn
