// SHA-256: FIPS 180-4 examples, OpenSSL agreement on every length 0..1024 for each
// backend, streaming splits, and the PoH helpers (chain, mixin).

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <riptide/crypto/sha256.hpp>

namespace {

using namespace riptide::crypto;

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

hash32 from_hex(std::string_view hex) {
  hash32 out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

hash32 openssl_sha256(std::span<const std::uint8_t> data) {
  hash32 out;
  SHA256(data.data(), data.size(), out.data());
  return out;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

// Runs each test once per backend, forcing it; skips backends the CPU lacks.
class sha256_backends : public ::testing::TestWithParam<sha256_backend> {
 protected:
  void SetUp() override {
    saved_ = sha256_active_backend();
    if (!sha256_force_backend(GetParam())) {
      GTEST_SKIP() << "CPU lacks the " << to_string(GetParam()) << " SHA-256 backend";
    }
    ASSERT_EQ(sha256_active_backend(), GetParam());
  }
  void TearDown() override { sha256_force_backend(saved_); }

 private:
  sha256_backend saved_ = sha256_backend::portable;
};

TEST_P(sha256_backends, fips_180_4_examples) {
  EXPECT_EQ(sha256(bytes_of("abc")),
            from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_EQ(sha256(bytes_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            from_hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
  const std::string million_a(1'000'000, 'a');
  EXPECT_EQ(sha256(bytes_of(million_a)),
            from_hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  EXPECT_EQ(sha256({}),
            from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

TEST_P(sha256_backends, matches_openssl_for_every_length_up_to_1024) {
  std::mt19937_64 rng(1234);
  for (std::size_t len = 0; len <= 1024; ++len) {
    const std::vector<std::uint8_t> data = random_bytes(len, rng);
    ASSERT_EQ(sha256(data), openssl_sha256(data)) << "length " << len;
  }
}

TEST_P(sha256_backends, streaming_with_odd_splits_matches_one_shot) {
  std::mt19937_64 rng(99);
  const std::vector<std::uint8_t> data = random_bytes(3000, rng);
  const std::span<const std::uint8_t> all(data);
  // Fixed awkward splits, then random ones.
  for (std::size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 127u, 128u, 129u, 2999u, 3000u}) {
    sha256_stream s;
    s.update(all.first(split));
    s.update(all.subspan(split));
    ASSERT_EQ(s.finish(), openssl_sha256(data)) << "split " << split;
  }
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t len = rng() % data.size();
    sha256_stream s;
    std::size_t pos = 0;
    while (pos < len) {
      const std::size_t take = std::min<std::size_t>(len - pos, rng() % 150);
      s.update(all.subspan(pos, take));
      pos += take;
    }
    ASSERT_EQ(s.finish(), openssl_sha256(all.first(len))) << "trial " << trial;
  }
}

TEST_P(sha256_backends, stream_is_reusable_after_finish) {
  sha256_stream s;
  s.update(bytes_of("first message"));
  (void)s.finish();
  s.update(bytes_of("abc"));
  EXPECT_EQ(s.finish(), sha256(bytes_of("abc")));
}

TEST_P(sha256_backends, chain_equals_repeated_sha256) {
  hash32 seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(3 * i + 7);
  for (std::uint64_t n : {0u, 1u, 2u, 3u, 17u, 1000u}) {
    hash32 expected = seed;
    for (std::uint64_t i = 0; i < n; ++i) expected = openssl_sha256(expected);
    hash32 h = seed;
    sha256_chain(h, n);
    ASSERT_EQ(h, expected) << "n = " << n;
  }
}

TEST_P(sha256_backends, chain_can_be_split_into_batches) {
  hash32 a{};
  hash32 b{};
  sha256_chain(a, 5000);
  for (int i = 0; i < 50; ++i) sha256_chain(b, 100);
  EXPECT_EQ(a, b);
}

TEST_P(sha256_backends, mixin_is_sha256_of_64_bytes) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    hash32 h;
    hash32 m;
    for (auto& x : h) x = static_cast<std::uint8_t>(rng());
    for (auto& x : m) x = static_cast<std::uint8_t>(rng());
    std::uint8_t joined[64];
    std::copy(h.begin(), h.end(), joined);
    std::copy(m.begin(), m.end(), joined + 32);
    ASSERT_EQ(sha256_mixin(h, m), openssl_sha256(joined));
  }
}

INSTANTIATE_TEST_SUITE_P(all, sha256_backends,
                         ::testing::Values(sha256_backend::portable, sha256_backend::shani),
                         [](const ::testing::TestParamInfo<sha256_backend>& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(sha256_dispatch, portable_is_always_available_and_named) {
  EXPECT_TRUE(sha256_backend_available(sha256_backend::portable));
  EXPECT_STREQ(to_string(sha256_backend::portable), "portable");
  EXPECT_STREQ(to_string(sha256_backend::shani), "shani");
}

TEST(sha256_dispatch, force_fails_without_cpu_support_and_changes_nothing) {
  const sha256_backend before = sha256_active_backend();
  if (sha256_backend_available(sha256_backend::shani)) {
    EXPECT_TRUE(sha256_force_backend(sha256_backend::shani));
    EXPECT_EQ(sha256_active_backend(), sha256_backend::shani);
  } else {
    EXPECT_FALSE(sha256_force_backend(sha256_backend::shani));
    EXPECT_EQ(sha256_active_backend(), before);
  }
  sha256_force_backend(before);
}

}  // namespace
