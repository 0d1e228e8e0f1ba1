#include <riptide/bank/tx_status.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using riptide::crypto::signature;
using riptide::bank::tx_status;
using riptide::bank::tx_status_cache;

signature sig_of(std::uint64_t n) {
  signature s{};
  for (int i = 0; i < 8; ++i) s[i] = static_cast<std::uint8_t>(n >> (8 * i));
  // The tail repeats n so that a torn read (half of one, half of another) can be detected.
  for (int i = 0; i < 8; ++i) s[56 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  s[32] = 0x5A;
  return s;
}

TEST(tx_status_cache, record_then_find) {
  tx_status_cache cache(64);
  EXPECT_FALSE(cache.find(sig_of(1)).has_value());
  cache.record(sig_of(1), {7, 0});
  cache.record(sig_of(2), {8, 3});
  auto a = cache.find(sig_of(1));
  auto b = cache.find(sig_of(2));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->slot, 7u);
  EXPECT_EQ(a->result, 0);
  EXPECT_EQ(b->slot, 8u);
  EXPECT_EQ(b->result, 3);
  EXPECT_EQ(cache.recorded(), 2u);
  // Recording the same signature again updates it in place.
  cache.record(sig_of(1), {9, 2});
  EXPECT_EQ(cache.find(sig_of(1))->slot, 9u);
  EXPECT_EQ(cache.find(sig_of(1))->result, 2);
}

// A block of an abandoned fork: its transactions' statuses go, unless recorded for another
// slot since (the transaction landed again elsewhere); the freed entry takes new ones.
TEST(tx_status_cache, forget_drops_a_status_only_for_its_slot) {
  tx_status_cache cache(16);
  cache.record(sig_of(1), {7, 0});
  cache.record(sig_of(2), {8, 0});
  cache.forget(sig_of(1), 8);
  ASSERT_TRUE(cache.find(sig_of(1)).has_value()) << "recorded for slot 7, not 8";
  cache.forget(sig_of(1), 7);
  EXPECT_FALSE(cache.find(sig_of(1)).has_value());
  EXPECT_TRUE(cache.find(sig_of(2)).has_value());
  cache.forget(sig_of(3), 7);  // never recorded: nothing happens
  cache.record(sig_of(1), {9, 2});
  const auto again = cache.find(sig_of(1));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->slot, 9u);
}

TEST(tx_status_cache, compares_the_whole_signature) {
  tx_status_cache cache(4);  // one set: every signature lands in it
  signature s = sig_of(5);
  cache.record(s, {1, 0});
  for (std::size_t i = 0; i < s.size(); ++i) {
    signature t = s;
    t[i] ^= 1;
    EXPECT_FALSE(cache.find(t).has_value()) << "byte " << i;
  }
  EXPECT_TRUE(cache.find(s).has_value());
}

TEST(tx_status_cache, a_full_set_evicts_its_oldest) {
  tx_status_cache cache(4);  // one set of 4 ways
  for (std::uint64_t i = 0; i < 4; ++i) cache.record(sig_of(i), {i, 0});
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(cache.find(sig_of(i))) << i;
  cache.record(sig_of(1), {10, 0});  // refreshes 1: now 0 is the oldest
  cache.record(sig_of(4), {4, 0});
  EXPECT_FALSE(cache.find(sig_of(0)).has_value());
  for (std::uint64_t i = 1; i < 5; ++i) EXPECT_TRUE(cache.find(sig_of(i))) << i;
  cache.record(sig_of(5), {5, 0});  // next oldest: 2
  EXPECT_FALSE(cache.find(sig_of(2)).has_value());
  EXPECT_TRUE(cache.find(sig_of(1)));
}

TEST(tx_status_cache, keeps_at_least_a_quarter_of_capacity) {
  constexpr std::size_t capacity = 1024;
  tx_status_cache cache(capacity);
  for (std::uint64_t i = 0; i < 10 * capacity; ++i) cache.record(sig_of(i), {i, 1});
  std::size_t found = 0;
  for (std::uint64_t i = 10 * capacity - capacity / 4; i < 10 * capacity; ++i)
    found += cache.find(sig_of(i)).has_value();
  // Not a guarantee per set, but with XXH3 spreading keys the last quarter is almost all there.
  EXPECT_GT(found, capacity / 4 * 9 / 10);
}

TEST(tx_status_cache, bad_capacity_throws) {
  EXPECT_THROW(tx_status_cache(0), std::invalid_argument);
  EXPECT_THROW(tx_status_cache(2), std::invalid_argument);
  EXPECT_THROW(tx_status_cache(12), std::invalid_argument);
}

// One writer records signatures whose slot and result are functions of the signature; readers
// look up recent ones concurrently and must never see a status that belongs to another
// signature (a torn read). Run under ThreadSanitizer by tools/dev.sh.
TEST(tx_status_contention, readers_never_see_torn_entries) {
  tx_status_cache cache(64);  // small, so slots are overwritten constantly
  constexpr std::uint64_t writes = 200'000;
  std::atomic<std::uint64_t> written{0};
  std::atomic<bool> bad{false};
  std::atomic<std::uint64_t> hits{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::uint64_t local_hits = 0;
      std::uint64_t x = static_cast<std::uint64_t>(r) * 7919;
      while (written.load(std::memory_order_acquire) < writes) {
        const std::uint64_t w = written.load(std::memory_order_relaxed);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t n = w > 0 ? w - 1 - (x >> 40) % std::min<std::uint64_t>(w, 32) : 0;
        if (auto s = cache.find(sig_of(n))) {
          ++local_hits;
          if (s->slot != n * 3 || s->result != static_cast<std::uint8_t>(n % 7))
            bad.store(true);
        }
      }
      hits.fetch_add(local_hits);
    });
  }
  for (std::uint64_t i = 0; i < writes; ++i) {
    cache.record(sig_of(i), {i * 3, static_cast<std::uint8_t>(i % 7)});
    written.store(i + 1, std::memory_order_release);
  }
  for (auto& t : readers) t.join();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(cache.recorded(), writes);
  EXPECT_GT(hits.load(), 0u);
}

}  // namespace
