#include <riptide/crypto/dedup_cache.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <gtest/gtest.h>
#include <xxhash.h>

#include <array>
#include <cstdint>
#include <deque>
#include <random>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace {

using riptide::crypto::dedup_cache;
using riptide::crypto::xxh3_64;

// ------------------------------------------------------------------------------------ xxh3

TEST(xxh3, matches_library_and_known_value) {
  const std::array<std::uint8_t, 0> empty{};
  // XXH3_64bits("") from the xxHash reference.
  EXPECT_EQ(xxh3_64(empty), 0x2D06800538D394C2ULL);
  std::vector<std::uint8_t> data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
  for (std::size_t len : {1U, 3U, 16U, 17U, 128U, 129U, 240U, 241U, 300U}) {
    const std::span<const std::uint8_t> s(data.data(), len);
    EXPECT_EQ(xxh3_64(s), XXH3_64bits(s.data(), s.size())) << len;
    EXPECT_EQ(xxh3_64(s, 42), XXH3_64bits_withSeed(s.data(), s.size(), 42)) << len;
    EXPECT_NE(xxh3_64(s, 42), xxh3_64(s)) << len;
  }
}

// ------------------------------------------------------------------------------ dedup_cache

TEST(dedup_cache, insert_then_duplicate) {
  dedup_cache cache(4);
  EXPECT_EQ(cache.capacity(), 4U);
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_FALSE(cache.contains(7));
  EXPECT_TRUE(cache.insert(7));
  EXPECT_TRUE(cache.contains(7));
  EXPECT_FALSE(cache.insert(7));
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_TRUE(cache.insert(8));
  EXPECT_EQ(cache.size(), 2U);
}

TEST(dedup_cache, zero_and_max_are_ordinary_tags) {
  dedup_cache cache(2);
  EXPECT_FALSE(cache.contains(0));
  EXPECT_TRUE(cache.insert(0));
  EXPECT_TRUE(cache.contains(0));
  EXPECT_FALSE(cache.insert(0));
  EXPECT_TRUE(cache.insert(UINT64_MAX));
  EXPECT_TRUE(cache.insert(5));  // evicts 0
  EXPECT_FALSE(cache.contains(0));
  EXPECT_TRUE(cache.contains(UINT64_MAX));
  EXPECT_TRUE(cache.insert(0));  // evicts UINT64_MAX
  EXPECT_FALSE(cache.contains(UINT64_MAX));
  EXPECT_TRUE(cache.contains(0));
}

TEST(dedup_cache, evicts_oldest_first_at_capacity) {
  dedup_cache cache(3);
  EXPECT_TRUE(cache.insert(1));
  EXPECT_TRUE(cache.insert(2));
  EXPECT_TRUE(cache.insert(3));
  EXPECT_FALSE(cache.insert(1));  // duplicate: does not refresh 1's age
  EXPECT_TRUE(cache.insert(4));   // evicts 1
  EXPECT_EQ(cache.size(), 3U);
  EXPECT_FALSE(cache.contains(1));
  EXPECT_TRUE(cache.contains(2));
  EXPECT_TRUE(cache.insert(5));  // evicts 2
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(3));
  EXPECT_TRUE(cache.contains(4));
  EXPECT_TRUE(cache.contains(5));
  EXPECT_TRUE(cache.insert(1));  // 1 is new again; evicts 3
  EXPECT_FALSE(cache.contains(3));
}

TEST(dedup_cache, capacity_one) {
  dedup_cache cache(1);
  EXPECT_TRUE(cache.insert(10));
  EXPECT_FALSE(cache.insert(10));
  EXPECT_TRUE(cache.insert(11));
  EXPECT_FALSE(cache.contains(10));
  EXPECT_TRUE(cache.contains(11));
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_TRUE(cache.insert(10));
  EXPECT_FALSE(cache.contains(11));
}

TEST(dedup_cache, zero_capacity_rejected) {
  EXPECT_THROW(dedup_cache(0), std::invalid_argument);
}

TEST(dedup_cache, clear_forgets_everything) {
  dedup_cache cache(3);
  for (std::uint64_t t : {0ULL, 1ULL, 2ULL}) EXPECT_TRUE(cache.insert(t));
  cache.clear();
  EXPECT_EQ(cache.size(), 0U);
  for (std::uint64_t t : {0ULL, 1ULL, 2ULL}) EXPECT_FALSE(cache.contains(t));
  EXPECT_TRUE(cache.insert(2));
}

// Model check: the cache must behave exactly like a FIFO window of the last N distinct inserts,
// through many wrap-arounds of the ring and heavy probe-chain churn in the table.
void check_against_model(std::size_t capacity, std::uint64_t tag_range, int steps,
                         std::uint32_t seed) {
  dedup_cache cache(capacity);
  std::deque<std::uint64_t> fifo;
  std::unordered_set<std::uint64_t> present;
  std::mt19937_64 rng(seed);
  for (int step = 0; step < steps; ++step) {
    // Mix small tags (lots of duplicates) with adversarially clustered ones.
    const std::uint64_t r = rng() % tag_range;
    const std::uint64_t tag = (step % 2 == 0) ? r : (r << 40);
    const bool expected_new = present.count(tag) == 0;
    ASSERT_EQ(cache.insert(tag), expected_new) << "step " << step;
    if (expected_new) {
      if (fifo.size() == capacity) {
        present.erase(fifo.front());
        fifo.pop_front();
      }
      fifo.push_back(tag);
      present.insert(tag);
    }
    ASSERT_EQ(cache.size(), fifo.size());
    if (step % 97 == 0) {
      for (const std::uint64_t t : fifo) ASSERT_TRUE(cache.contains(t));
      for (std::uint64_t probe = 0; probe < 16; ++probe) {
        const std::uint64_t t = rng() % tag_range;
        ASSERT_EQ(cache.contains(t), present.count(t) == 1);
        ASSERT_EQ(cache.contains(t << 40), present.count(t << 40) == 1);
      }
    }
  }
}

TEST(dedup_cache, wraps_around_many_times) {
  check_against_model(1, 4, 2000, 1);
  check_against_model(2, 8, 5000, 2);
  check_against_model(7, 32, 20000, 3);
  check_against_model(64, 256, 50000, 4);
  check_against_model(1000, 3000, 100000, 5);
}

TEST(dedup_cache, sequential_stream_evicts_in_order) {
  constexpr std::size_t capacity = 100;
  dedup_cache cache(capacity);
  for (std::uint64_t t = 0; t < 100 * capacity; ++t) {
    ASSERT_TRUE(cache.insert(t));
    // Exactly the last `capacity` tags are remembered.
    if (t >= capacity) {
      ASSERT_FALSE(cache.contains(t - capacity));
    }
    ASSERT_TRUE(cache.contains(t + 1 > capacity ? t + 1 - capacity : 0));
  }
  EXPECT_EQ(cache.size(), capacity);
}

}  // namespace
