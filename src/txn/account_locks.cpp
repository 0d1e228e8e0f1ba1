#include <riptide/txn/account_locks.hpp>

#include <bit>
#include <cassert>
#include <stdexcept>

#include <riptide/crypto/xxh3.hpp>

namespace riptide::txn {

namespace {
// The stripe uses other hash bits than an accounts table's slot index (the low bits), so keys
// that collide in one are spread in the other.
constexpr unsigned stripe_hash_shift_bits = 32;
}  // namespace

account_locks::account_locks(std::size_t stripes, std::uint64_t seed) : stripe_mask_(0), seed_(seed) {
  if (stripes == 0 || stripes > (std::size_t{1} << 30))
    throw std::invalid_argument("account_locks: lock_stripes must be in [1, 2^30]");
  const std::size_t n = std::bit_ceil(stripes);
  stripe_mask_ = n - 1;
  stripes_ = std::make_unique<lock_word[]>(n);
}

account_locks::~account_locks() = default;

std::size_t account_locks::held_stripes() const noexcept {
  std::size_t held = 0;
  for (std::size_t i = 0; i <= stripe_mask_; ++i)
    if (stripes_[i].word.load(std::memory_order_acquire) != 0) ++held;
  return held;
}

void account_locks::lock_entries(const transaction_view& tx, held_locks& out) const noexcept {
  std::size_t n = 0;
  for (std::size_t a = 0; a < tx.num_accounts(); ++a) {
    const bool exclusive = tx.is_writable(a);
    const crypto::pubkey& key = tx.account_key(a);
    if (!exclusive && key == system_program_id) continue;  // see the header: never read
    const auto stripe =
        static_cast<std::uint32_t>((crypto::xxh3_64(key, seed_) >> stripe_hash_shift_bits) & stripe_mask_);
    // Two keys of one tx may share a stripe: lock it once, exclusively if either needs it.
    bool merged = false;
    for (std::size_t j = 0; j < n; ++j) {
      if (out.entries_[j].stripe == stripe) {
        out.entries_[j].exclusive = out.entries_[j].exclusive || exclusive;
        merged = true;
        break;
      }
    }
    if (!merged) out.entries_[n++] = held_locks::entry{stripe, exclusive};
  }
  out.count_ = n;
}

bool account_locks::try_lock(const transaction_view& tx, held_locks& held) noexcept {
  lock_entries(tx, held);
  const std::size_t n = held.count_;
  std::size_t taken = 0;
  for (; taken < n; ++taken) {
    std::atomic<std::uint32_t>& word = stripes_[held.entries_[taken].stripe].word;
    if (held.entries_[taken].exclusive) {
      std::uint32_t expected = 0;
      if (!word.compare_exchange_strong(expected, writer_bit, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        break;
      }
    } else {
      std::uint32_t current = word.load(std::memory_order_relaxed);
      bool acquired = false;
      while ((current & writer_bit) == 0) {
        if (word.compare_exchange_weak(current, current + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
          acquired = true;
          break;
        }
      }
      if (!acquired) break;
    }
  }
  if (taken == n) return true;
  // All or nothing: give back what was taken.
  held.count_ = taken;
  unlock(held);
  return false;
}

void account_locks::unlock(const transaction_view& tx) noexcept {
  held_locks held;
  lock_entries(tx, held);
  unlock(held);
}

void account_locks::unlock(held_locks& held) noexcept {
  for (std::size_t i = 0; i < held.count_; ++i) {
    std::atomic<std::uint32_t>& word = stripes_[held.entries_[i].stripe].word;
    if (held.entries_[i].exclusive) {
      assert(word.load(std::memory_order_relaxed) == writer_bit);
      word.store(0, std::memory_order_release);
    } else {
      assert((word.load(std::memory_order_relaxed) & ~writer_bit) != 0);
      word.fetch_sub(1, std::memory_order_release);
    }
  }
  held.count_ = 0;
}

}  // namespace riptide::txn
