#include <riptide/shred/fec.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace riptide::shred;

namespace {

// Slow, obviously correct GF(2^8) arithmetic with ISA-L's polynomial 0x11d.
std::uint8_t ref_mul(std::uint8_t a, std::uint8_t b) {
  unsigned r = 0, x = a;
  for (unsigned y = b; y != 0; y >>= 1) {
    if (y & 1) r ^= x;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  return static_cast<std::uint8_t>(r);
}

std::uint8_t ref_inv(std::uint8_t a) {
  for (unsigned b = 1; b < 256; ++b)
    if (ref_mul(a, static_cast<std::uint8_t>(b)) == 1) return static_cast<std::uint8_t>(b);
  return 0;
}

// The kernels this CPU can run: ISA-L always, GFNI when supported.
std::vector<fec_kernel> kernels() {
  std::vector<fec_kernel> k{fec_kernel::isal};
  if (fec_gfni_supported()) k.push_back(fec_kernel::gfni);
  return k;
}

const char* kernel_name(fec_kernel k) { return k == fec_kernel::gfni ? "gfni" : "isal"; }

// One FEC set: random data shards, coding shards encoded by the codec, and a pristine copy.
struct fec_set {
  fec_set(fec_codec& codec, std::size_t shard_bytes, std::mt19937_64& rng)
      : bytes(shard_bytes), shards(codec.total_shards(), std::vector<std::uint8_t>(shard_bytes)) {
    for (std::size_t i = 0; i < codec.data_shards(); ++i)
      for (auto& b : shards[i]) b = static_cast<std::uint8_t>(rng());
    std::vector<const std::uint8_t*> data;
    std::vector<std::uint8_t*> coding;
    for (std::size_t i = 0; i < codec.data_shards(); ++i) data.push_back(shards[i].data());
    for (std::size_t i = codec.data_shards(); i < codec.total_shards(); ++i)
      coding.push_back(shards[i].data());
    EXPECT_TRUE(codec.encode(data, coding, shard_bytes));
    original = shards;
    for (auto& s : shards) pointers.push_back(s.data());
  }

  // Overwrites every shard not in `present` with garbage.
  void lose(std::uint64_t present, std::mt19937_64& rng) {
    for (std::size_t i = 0; i < shards.size(); ++i)
      if (!(present >> i & 1))
        for (auto& b : shards[i]) b = static_cast<std::uint8_t>(rng() | 1);
  }

  std::size_t bytes;
  std::vector<std::vector<std::uint8_t>> shards;
  std::vector<std::vector<std::uint8_t>> original;
  std::vector<std::uint8_t*> pointers;
};

std::uint64_t all_mask(std::size_t n) {
  return n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

// A mask with `lost` of the codec's shards missing, at random positions.
std::uint64_t random_present(const fec_codec& codec, std::size_t lost, std::mt19937_64& rng) {
  std::vector<std::size_t> idx(codec.total_shards());
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  std::uint64_t present = all_mask(codec.total_shards());
  for (std::size_t i = 0; i < lost; ++i) present &= ~(std::uint64_t{1} << idx[i]);
  return present;
}

// Loses the shards outside `present`, recovers, and checks every shard is the original.
void expect_round_trip(fec_codec& codec, fec_set& set, std::uint64_t present,
                       std::mt19937_64& rng) {
  set.lose(present, rng);
  ASSERT_TRUE(codec.recover(set.pointers, present, set.bytes))
      << codec.data_shards() << ":" << codec.coding_shards() << " present " << std::hex << present;
  for (std::size_t i = 0; i < set.shards.size(); ++i)
    ASSERT_EQ(set.shards[i], set.original[i])
        << "shard " << i << " of " << codec.data_shards() << ":" << codec.coding_shards()
        << " present " << std::hex << present << std::dec << " bytes " << set.bytes;
}

}  // namespace

TEST(fec, rejects_counts_out_of_range) {
  EXPECT_THROW(fec_codec(0, 1), std::invalid_argument);
  EXPECT_THROW(fec_codec(1, 0), std::invalid_argument);
  EXPECT_THROW(fec_codec(33, 1), std::invalid_argument);
  EXPECT_THROW(fec_codec(1, 33), std::invalid_argument);
  EXPECT_NO_THROW(fec_codec(32, 32));
  EXPECT_NO_THROW(fec_codec(1, 1));
}

TEST(fec, coefficients_are_the_cauchy_matrix) {
  for (const auto& [d, c] : {std::pair{32, 32}, {5, 5}, {1, 32}, {32, 1}}) {
    const fec_codec codec(d, c);
    for (std::size_t r = 0; r < codec.coding_shards(); ++r)
      for (std::size_t j = 0; j < codec.data_shards(); ++j)
        ASSERT_EQ(codec.coefficient(r, j), ref_inv(static_cast<std::uint8_t>((d + r) ^ j)));
  }
}

TEST(fec, encode_matches_the_definition) {
  std::mt19937_64 rng(1);
  for (const auto& [d, c] : {std::pair{32, 32}, {5, 5}, {17, 3}}) {
    fec_codec codec(d, c);
    for (const std::size_t bytes : {1u, 63u, 64u, 100u, 1228u}) {
      const fec_set set(codec, bytes, rng);
      for (std::size_t r = 0; r < codec.coding_shards(); ++r) {
        for (std::size_t b = 0; b < bytes; ++b) {
          std::uint8_t expect = 0;
          for (std::size_t j = 0; j < codec.data_shards(); ++j)
            expect ^= ref_mul(codec.coefficient(r, j), set.original[j][b]);
          ASSERT_EQ(set.original[codec.data_shards() + r][b], expect)
              << d << ":" << c << " coding " << r << " byte " << b;
        }
      }
    }
  }
}

TEST(fec, round_trip_32_32_every_loss_count_at_random_positions) {
  std::mt19937_64 rng(32);
  fec_codec codec(32, 32);
  fec_set set(codec, 1228, rng);
  for (std::size_t lost = 0; lost <= 32; ++lost)
    for (int trial = 0; trial < 40; ++trial)
      expect_round_trip(codec, set, random_present(codec, lost, rng), rng);
}

TEST(fec, round_trip_with_coding_shards_lost) {
  std::mt19937_64 rng(7);
  fec_codec codec(32, 32);
  fec_set set(codec, 1228, rng);
  const std::uint64_t data = all_mask(32), coding = data << 32;
  expect_round_trip(codec, set, data, rng);              // every coding shard lost
  expect_round_trip(codec, set, coding, rng);            // every data shard lost
  for (std::size_t k = 0; k <= 32; ++k) {
    // The highest k data shards and the lowest 32 - k coding shards lost.
    const std::uint64_t present = (all_mask(32) >> k) | (k == 0 ? 0 : all_mask(k) << (64 - k));
    ASSERT_EQ(std::popcount(present), 32);
    expect_round_trip(codec, set, present, rng);
  }
  for (int trial = 0; trial < 200; ++trial) {
    // Half data, half coding lost at random: the benchmark's pattern.
    std::vector<std::size_t> d(32), c(32);
    std::iota(d.begin(), d.end(), 0);
    std::iota(c.begin(), c.end(), 32);
    std::shuffle(d.begin(), d.end(), rng);
    std::shuffle(c.begin(), c.end(), rng);
    std::uint64_t present = ~std::uint64_t{0};
    for (int i = 0; i < 16; ++i) present &= ~(std::uint64_t{1} << d[i]) & ~(std::uint64_t{1} << c[i]);
    expect_round_trip(codec, set, present, rng);
  }
}

TEST(fec, partial_sets) {
  std::mt19937_64 rng(5);
  for (const auto& [d, c] : {std::pair{1, 1}, {5, 5}, {17, 17}, {32, 1}, {1, 32}, {3, 29}, {29, 3}}) {
    fec_codec codec(d, c);
    fec_set set(codec, 1228, rng);
    for (std::size_t lost = 0; lost <= static_cast<std::size_t>(c); ++lost)
      for (int trial = 0; trial < 20; ++trial)
        expect_round_trip(codec, set, random_present(codec, lost, rng), rng);
  }
}

TEST(fec, every_erasure_pattern_of_small_sets) {
  std::mt19937_64 rng(9);
  for (const auto& [d, c] : {std::pair{1, 1}, {5, 5}, {3, 7}, {8, 2}}) {
    fec_codec codec(d, c);
    fec_set set(codec, 77, rng);
    for (std::uint64_t present = 0; present <= all_mask(codec.total_shards()); ++present) {
      if (std::popcount(present) >= d) {
        expect_round_trip(codec, set, present, rng);
      } else {
        set.lose(present, rng);
        const auto before = set.shards;
        ASSERT_FALSE(codec.recover(set.pointers, present, set.bytes));
        ASSERT_EQ(set.shards, before);
      }
      set.shards = set.original;
    }
  }
}

TEST(fec, fewer_than_d_present_fails_and_writes_nothing) {
  std::mt19937_64 rng(11);
  fec_codec codec(32, 32);
  fec_set set(codec, 1228, rng);
  for (const std::size_t lost : {33u, 40u, 63u, 64u}) {
    const std::uint64_t present = random_present(codec, lost, rng);
    set.lose(present, rng);
    const auto before = set.shards;
    EXPECT_FALSE(codec.recover(set.pointers, present, set.bytes)) << lost;
    EXPECT_EQ(set.shards, before) << lost;
    set.shards = set.original;
  }
  // 31 data shards and no coding: one short.
  const std::uint64_t present = all_mask(32) & ~std::uint64_t{1};
  set.lose(present, rng);
  const auto before = set.shards;
  EXPECT_FALSE(codec.recover(set.pointers, present, set.bytes));
  EXPECT_EQ(set.shards, before);
}

TEST(fec, mask_bits_beyond_the_set_are_ignored) {
  std::mt19937_64 rng(13);
  fec_codec codec(5, 5);
  fec_set set(codec, 300, rng);
  // Only 4 real shards present; the high bits must not count toward D.
  const std::uint64_t present = 0b0000101011 | (~std::uint64_t{0} << 10);
  set.lose(present, rng);
  const auto before = set.shards;
  EXPECT_FALSE(codec.recover(set.pointers, present, set.bytes));
  EXPECT_EQ(set.shards, before);
  set.shards = set.original;
  expect_round_trip(codec, set, 0b0110101011 | (~std::uint64_t{0} << 10), rng);
}

TEST(fec, wrong_span_sizes_fail) {
  std::mt19937_64 rng(17);
  fec_codec codec(4, 4);
  fec_set set(codec, 64, rng);
  std::vector<const std::uint8_t*> data(3, set.shards[0].data());
  std::vector<std::uint8_t*> coding(4, set.shards[4].data());
  EXPECT_FALSE(codec.encode(data, coding, 64));
  std::vector<std::uint8_t*> too_few(set.pointers.begin(), set.pointers.end() - 1);
  EXPECT_FALSE(codec.recover(too_few, 0xff, 64));
}

TEST(fec, shard_sizes_1_to_1232) {
  std::mt19937_64 rng(19);
  fec_codec codec(32, 32);
  for (std::size_t bytes = 1; bytes <= 1232; ++bytes) {
    fec_set set(codec, bytes, rng);
    expect_round_trip(codec, set, random_present(codec, 32, rng), rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(fec, one_codec_serves_many_sets) {
  // Scratch state from one recovery must not leak into the next.
  std::mt19937_64 rng(23);
  fec_codec codec(17, 17);
  for (int s = 0; s < 50; ++s) {
    fec_set set(codec, 1 + rng() % 1232, rng);
    expect_round_trip(codec, set, random_present(codec, rng() % 18, rng), rng);
  }
}

// vgf2p8affineqb as documented, bit by bit: result bit i = parity(A.byte[7 - i] & x).
std::uint8_t affine_reference(std::uint64_t a, std::uint8_t x) {
  unsigned r = 0;
  for (unsigned i = 0; i < 8; ++i) {
    const unsigned row = static_cast<unsigned>(a >> (8 * (7 - i))) & 0xff;
    r |= static_cast<unsigned>(std::popcount(row & x) & 1) << i;
  }
  return static_cast<std::uint8_t>(r);
}

TEST(fec, affine_matrix_is_multiplication_by_c) {
  for (unsigned c = 0; c < 256; ++c) {
    const std::uint64_t a = fec_affine_matrix(static_cast<std::uint8_t>(c));
    for (unsigned x = 0; x < 256; ++x)
      ASSERT_EQ(affine_reference(a, static_cast<std::uint8_t>(x)),
                ref_mul(static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(x)))
          << c << " * " << x;
  }
}

#if defined(__x86_64__)
namespace {
// All 256 products by c from the instruction itself.
__attribute__((target("gfni,avx512f,avx512bw"))) void affine_on_cpu(std::uint64_t a,
                                                                     std::uint8_t* out) {
  const __m512i m = _mm512_set1_epi64(static_cast<long long>(a));
  for (unsigned base = 0; base < 256; base += 64) {
    alignas(64) std::uint8_t x[64];
    for (unsigned i = 0; i < 64; ++i) x[i] = static_cast<std::uint8_t>(base + i);
    _mm512_storeu_si512(out + base, _mm512_gf2p8affine_epi64_epi8(_mm512_load_si512(x), m, 0));
  }
}
}  // namespace

TEST(fec, gfni_instruction_multiplies_like_the_reference) {
  if (!fec_gfni_supported()) GTEST_SKIP() << "CPU lacks GFNI + AVX-512BW";
  std::uint8_t out[256];
  for (unsigned c = 0; c < 256; ++c) {
    affine_on_cpu(fec_affine_matrix(static_cast<std::uint8_t>(c)), out);
    for (unsigned x = 0; x < 256; ++x)
      ASSERT_EQ(out[x], ref_mul(static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(x)))
          << c << " * " << x;
  }
}
#endif

TEST(fec, kernel_selection) {
  EXPECT_EQ(fec_codec(32, 32, fec_kernel::isal).kernel(), fec_kernel::isal);
  const fec_kernel best = fec_codec(32, 32).kernel();
  if (fec_gfni_supported()) {
    EXPECT_EQ(best, fec_kernel::gfni);
    EXPECT_EQ(fec_codec(5, 7, fec_kernel::gfni).kernel(), fec_kernel::gfni);
  } else {
    EXPECT_EQ(best, fec_kernel::isal);
    EXPECT_THROW(fec_codec(5, 7, fec_kernel::gfni), std::invalid_argument);
  }
}

// Both kernels on the same random sets of every shape D:C (D in 1..32, C in {1, 16, 32})
// and odd shard lengths: coding shards identical byte for byte, and every recovery (random
// loss patterns of every size the set survives) gives the originals back on both.
TEST(fec, gfni_and_isal_are_byte_identical) {
  if (!fec_gfni_supported()) GTEST_SKIP() << "CPU lacks GFNI + AVX-512BW";
  std::mt19937_64 rng(41);
  for (std::size_t d = 1; d <= 32; ++d) {
    for (const std::size_t c : {1u, 16u, 32u}) {
      fec_codec isal(d, c, fec_kernel::isal), gfni(d, c, fec_kernel::gfni);
      for (const std::size_t bytes : {1u, 63u, 64u, 65u, 1000u, 1091u, 1228u}) {
        const std::string shape = std::to_string(d) + ":" + std::to_string(c) + " bytes " +
                                  std::to_string(bytes);
        // Guard bytes after every shard catch writes past shard_bytes.
        constexpr std::size_t guard = 64;
        std::vector<std::vector<std::uint8_t>> a(d + c,
                                                 std::vector<std::uint8_t>(bytes + guard, 0xa5));
        for (std::size_t i = 0; i < d; ++i)
          for (std::size_t b = 0; b < bytes; ++b) a[i][b] = static_cast<std::uint8_t>(rng());
        auto b = a;
        std::vector<const std::uint8_t*> data_a, data_b;
        std::vector<std::uint8_t*> coding_a, coding_b, all_a, all_b;
        for (std::size_t i = 0; i < d; ++i)
          data_a.push_back(a[i].data()), data_b.push_back(b[i].data());
        for (std::size_t i = d; i < d + c; ++i)
          coding_a.push_back(a[i].data()), coding_b.push_back(b[i].data());
        ASSERT_TRUE(isal.encode(data_a, coding_a, bytes));
        ASSERT_TRUE(gfni.encode(data_b, coding_b, bytes));
        ASSERT_EQ(a, b) << "encode " << shape;
        for (const auto& shard : a)
          ASSERT_TRUE(std::all_of(shard.begin() + static_cast<std::ptrdiff_t>(bytes), shard.end(),
                                  [](std::uint8_t v) { return v == 0xa5; }))
              << "wrote past shard_bytes " << shape;
        const auto original = a;
        for (auto& s : a) all_a.push_back(s.data());
        for (auto& s : b) all_b.push_back(s.data());

        for (int trial = 0; trial < 6; ++trial) {
          const std::size_t lost = trial == 0 ? c : rng() % (c + 1);
          const std::uint64_t present = random_present(isal, lost, rng);
          for (std::size_t i = 0; i < d + c; ++i) {
            if (present >> i & 1) continue;
            for (std::size_t q = 0; q < bytes; ++q)
              a[i][q] = b[i][q] = static_cast<std::uint8_t>(rng());
          }
          ASSERT_TRUE(isal.recover(all_a, present, bytes)) << shape;
          ASSERT_TRUE(gfni.recover(all_b, present, bytes)) << shape;
          ASSERT_EQ(a, original) << "isal recover " << shape << " present " << std::hex << present;
          ASSERT_EQ(b, original) << "gfni recover " << shape << " present " << std::hex << present;
        }
      }
    }
  }
}

// The existing round trips, once per kernel: every erasure pattern of small sets, and
// every shard length up to 1232 on 32:32.
TEST(fec, every_kernel_every_erasure_pattern_of_small_sets) {
  for (const fec_kernel k : kernels()) {
    std::mt19937_64 rng(43);
    for (const auto& [d, c] : {std::pair{1, 1}, {5, 5}, {3, 7}, {8, 2}, {2, 9}}) {
      fec_codec codec(d, c, k);
      fec_set set(codec, 65, rng);
      for (std::uint64_t present = 0; present <= all_mask(codec.total_shards()); ++present) {
        if (std::popcount(present) < d) continue;
        expect_round_trip(codec, set, present, rng);
        if (::testing::Test::HasFatalFailure()) FAIL() << kernel_name(k);
      }
    }
  }
}

TEST(fec, every_kernel_shard_sizes_1_to_1232) {
  for (const fec_kernel k : kernels()) {
    std::mt19937_64 rng(47);
    fec_codec codec(32, 32, k);
    for (std::size_t bytes = 1; bytes <= 1232; ++bytes) {
      fec_set set(codec, bytes, rng);
      expect_round_trip(codec, set, random_present(codec, 32, rng), rng);
      if (::testing::Test::HasFatalFailure()) FAIL() << kernel_name(k) << " bytes " << bytes;
    }
  }
}
