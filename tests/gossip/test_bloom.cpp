#include <riptide/gossip/bloom.hpp>

#include <riptide/crypto/sha256.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;

crypto::hash32 hash_of(std::uint64_t i) {
  std::array<std::uint8_t, 8> b{};
  for (int k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return crypto::sha256(b);
}

std::vector<std::uint8_t> le_bytes(std::span<const std::uint64_t> words) {
  std::vector<std::uint8_t> out;
  for (const std::uint64_t w : words) {
    for (int k = 0; k < 8; ++k) out.push_back(static_cast<std::uint8_t>(w >> (8 * k)));
  }
  return out;
}

TEST(Bloom, NoFalseNegatives) {
  const std::array<std::uint64_t, 3> keys{1, 2, 3};
  bloom f(4096, keys);
  for (std::uint64_t i = 0; i < 500; ++i) f.add(hash_of(i));
  for (std::uint64_t i = 0; i < 500; ++i) EXPECT_TRUE(f.contains(hash_of(i))) << i;
}

TEST(Bloom, FalsePositiveRateNearTarget) {
  const std::size_t items = 1000;
  const bloom_shape shape = optimal_bloom_shape(items, 0.1, max_bloom_bits);
  EXPECT_EQ(shape.num_keys, 3u);
  EXPECT_NEAR(static_cast<double>(shape.num_bits), 4793.0, 2.0);  // -n ln p / ln^2 2
  std::vector<std::uint64_t> keys;
  for (std::uint32_t k = 0; k < shape.num_keys; ++k) keys.push_back(0x1234 + k * 77);
  bloom f(shape.num_bits, keys);
  for (std::uint64_t i = 0; i < items; ++i) f.add(hash_of(i));
  std::size_t false_positives = 0;
  const std::size_t trials = 20000;
  for (std::uint64_t i = 0; i < trials; ++i) false_positives += f.contains(hash_of(1'000'000 + i));
  const double rate = static_cast<double>(false_positives) / trials;
  EXPECT_GT(rate, 0.05);
  EXPECT_LT(rate, 0.15);
}

TEST(Bloom, FreshKeysMoveFalsePositives) {
  // A value hidden by a false positive under one key set is almost surely visible under the
  // next: the reason pull requests draw new keys every time.
  const std::array<std::uint64_t, 3> k1{11, 12, 13}, k2{21, 22, 23};
  bloom a(512, k1), b(512, k2);
  for (std::uint64_t i = 0; i < 100; ++i) {
    a.add(hash_of(i));
    b.add(hash_of(i));
  }
  std::size_t both = 0, in_a = 0;
  for (std::uint64_t i = 1000; i < 3000; ++i) {
    const bool fa = a.contains(hash_of(i));
    in_a += fa;
    both += fa && b.contains(hash_of(i));
  }
  ASSERT_GT(in_a, 0u);
  EXPECT_LT(both * 4, in_a);
}

TEST(Bloom, ShapeIsClampedToMaxBits) {
  const bloom_shape big = optimal_bloom_shape(100000, 0.1, 8192);
  EXPECT_EQ(big.num_bits, 8192u);
  EXPECT_GE(big.num_keys, 1u);
  const bloom_shape tiny = optimal_bloom_shape(0, 0.1, 8192);
  EXPECT_EQ(tiny.num_bits, 64u);
  EXPECT_LE(tiny.num_keys, max_bloom_keys);
  EXPECT_EQ(bloom_capacity(0.1, 8192), 1709u);
}

TEST(Bloom, ConstructorRejectsBadShapes) {
  const std::array<std::uint64_t, 1> one{1};
  const std::array<std::uint64_t, max_bloom_keys + 1> nine{};
  EXPECT_THROW(bloom(0, one), std::invalid_argument);
  EXPECT_THROW(bloom(max_bloom_bits + 1, one), std::invalid_argument);
  EXPECT_THROW(bloom(64, std::span<const std::uint64_t>{}), std::invalid_argument);
  EXPECT_THROW(bloom(64, nine), std::invalid_argument);
  EXPECT_NO_THROW(bloom(max_bloom_bits, one));
}

TEST(Bloom, ClearAndBitsSet) {
  const std::array<std::uint64_t, 2> keys{5, 6};
  bloom f(100, keys);
  EXPECT_EQ(f.words().size(), 2u);
  EXPECT_EQ(f.bits_set(), 0u);
  f.add(hash_of(1));
  EXPECT_GE(f.bits_set(), 1u);
  EXPECT_LE(f.bits_set(), 2u);
  // Unused high bits of the last word stay clear.
  for (std::uint64_t i = 0; i < 200; ++i) f.add(hash_of(i));
  EXPECT_EQ(f.words()[1] >> 36, 0u);
  f.clear();
  EXPECT_EQ(f.bits_set(), 0u);
  EXPECT_FALSE(f.contains(hash_of(1)));
}

TEST(Bloom, EmptyFilterContainsNothing) {
  bloom f;
  EXPECT_FALSE(f.contains(hash_of(1)));
  bloom_view v;
  EXPECT_FALSE(v.contains(hash_of(1)));
}

TEST(Bloom, ViewOverWireBytesMatchesFilter) {
  const std::array<std::uint64_t, 4> keys{0xdeadbeef, 42, 7, 0xffffffffffffffffull};
  bloom f(1000, keys);
  for (std::uint64_t i = 0; i < 80; ++i) f.add(hash_of(i));
  const std::vector<std::uint8_t> key_bytes = le_bytes(f.keys());
  const std::vector<std::uint8_t> word_bytes = le_bytes(f.words());
  const bloom_view v(key_bytes, f.num_bits(), word_bytes);
  EXPECT_EQ(v.num_keys(), 4u);
  EXPECT_EQ(v.num_words(), f.words().size());
  EXPECT_EQ(v.key(3), keys[3]);
  for (std::uint64_t i = 0; i < 2000; ++i) {
    EXPECT_EQ(v.contains(hash_of(i)), f.contains(hash_of(i))) << i;
  }
}

TEST(Bloom, PartitionsSplitHashSpaceEvenly) {
  crypto::hash32 h{};
  EXPECT_EQ(hash_partition(h, 0), 0u);
  h[7] = 0x80;  // top bit of the little-endian prefix
  EXPECT_EQ(hash_partition(h, 1), 1u);
  EXPECT_EQ(hash_partition(h, 3), 4u);
  EXPECT_EQ(hash_partition(h, 0), 0u);
  std::array<std::size_t, 8> counts{};
  for (std::uint64_t i = 0; i < 8000; ++i) ++counts[hash_partition(hash_of(i), 3)];
  for (const std::size_t c : counts) {
    EXPECT_GT(c, 850u);
    EXPECT_LT(c, 1150u);
  }
  EXPECT_LT(hash_partition(hash_of(99), 32), std::uint64_t{1} << 32);
}

TEST(Bloom, BitIndexInRange) {
  for (std::uint64_t i = 0; i < 1000; ++i) {
    EXPECT_LT(bloom_bit(hash_of(i), i * 31, 77), 77u);
    EXPECT_EQ(bloom_bit(hash_of(i), 5, 1), 0u);
  }
}

}  // namespace
