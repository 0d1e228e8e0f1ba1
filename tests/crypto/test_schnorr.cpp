#include <riptide/crypto/schnorr.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace {

using namespace riptide::crypto;

template <std::size_t N>
std::array<std::uint8_t, N> from_hex(std::string_view hex) {
  EXPECT_EQ(hex.size(), 2 * N);
  auto nibble = [](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    return static_cast<std::uint8_t>(c - 'A' + 10);
  };
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return out;
}

// secp256k1 group order n.
const seckey curve_order =
    from_hex<32>("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

struct bip340_vector {
  std::string_view secret, pubkey, aux, msg, sig;
};

// From the BIP-340 reference test-vectors.csv (indices 0 and 1).
constexpr bip340_vector vectors[] = {
    {"0000000000000000000000000000000000000000000000000000000000000003",
     "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA8215"
     "25F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0"},
    {"B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "0000000000000000000000000000000000000000000000000000000000000001",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE3341"
     "8906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A"},
};

TEST(schnorr, bip340_vectors_sign_and_verify) {
  for (const auto& v : vectors) {
    const keypair kp = keypair::from_secret(from_hex<32>(v.secret));
    EXPECT_EQ(kp.public_key(), from_hex<32>(v.pubkey));
    const auto msg = from_hex<32>(v.msg);
    const signature sig = kp.sign(msg, from_hex<32>(v.aux));
    EXPECT_EQ(sig, from_hex<64>(v.sig));
    EXPECT_TRUE(verify(kp.public_key(), msg, sig));
  }
}

TEST(schnorr, verify_rejects_tampering) {
  const keypair kp = keypair::generate();
  const std::array<std::uint8_t, 20> msg{"transfer 5 lamports"};
  const signature sig = kp.sign(msg);
  ASSERT_TRUE(verify(kp.public_key(), msg, sig));

  auto bad_msg = msg;
  bad_msg[3] ^= 1;
  EXPECT_FALSE(verify(kp.public_key(), bad_msg, sig));
  const std::span<const std::uint8_t> shorter(msg.data(), msg.size() - 1);
  EXPECT_FALSE(verify(kp.public_key(), shorter, sig));
  for (std::size_t i : {0U, 31U, 32U, 63U}) {
    signature bad_sig = sig;
    bad_sig[i] ^= 0x80;
    EXPECT_FALSE(verify(kp.public_key(), msg, bad_sig)) << "byte " << i;
  }
  EXPECT_FALSE(verify(keypair::generate().public_key(), msg, sig));
}

TEST(schnorr, verify_rejects_unparseable_key) {
  const keypair kp = keypair::generate();
  const auto msg = bytes_of("m");
  const signature sig = kp.sign(msg);
  pubkey not_a_field_element{};
  not_a_field_element.fill(0xFF);  // x >= p
  EXPECT_FALSE(verify(not_a_field_element, msg, sig));
  // BIP-340 vector 5: an x with no point on the curve.
  EXPECT_FALSE(verify(from_hex<32>("EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34"),
                      msg, sig));
}

TEST(schnorr, variable_length_messages) {
  const keypair kp = keypair::generate();
  for (std::size_t len : {0U, 1U, 31U, 32U, 33U, 1232U}) {
    std::vector<std::uint8_t> msg(len);
    for (std::size_t i = 0; i < len; ++i) msg[i] = static_cast<std::uint8_t>(i * 7 + 1);
    const signature sig = kp.sign(msg);
    EXPECT_TRUE(verify(kp.public_key(), msg, sig)) << len;
    msg.push_back(0);
    EXPECT_FALSE(verify(kp.public_key(), msg, sig)) << len;
  }
}

TEST(schnorr, signing_uses_fresh_aux_randomness) {
  const keypair kp = keypair::generate();
  const auto msg = bytes_of("same message");
  const signature a = kp.sign(msg);
  const signature b = kp.sign(msg);
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify(kp.public_key(), msg, a));
  EXPECT_TRUE(verify(kp.public_key(), msg, b));
  // With fixed aux the signature is deterministic.
  const aux_rand aux{};
  EXPECT_EQ(kp.sign(msg, aux), kp.sign(msg, aux));
}

TEST(keypair, generate_gives_distinct_consistent_keys) {
  std::set<pubkey> seen;
  for (int i = 0; i < 16; ++i) {
    const keypair kp = keypair::generate();
    EXPECT_FALSE(kp.empty());
    EXPECT_TRUE(is_valid_secret(kp.secret_key()));
    EXPECT_EQ(keypair::from_secret(kp.secret_key()).public_key(), kp.public_key());
    EXPECT_TRUE(seen.insert(kp.public_key()).second);
  }
}

TEST(keypair, from_secret_rejects_zero_and_out_of_range) {
  EXPECT_THROW((void)keypair::from_secret(seckey{}), std::invalid_argument);
  EXPECT_THROW((void)keypair::from_secret(curve_order), std::invalid_argument);
  seckey above = curve_order;
  above[31] += 1;
  EXPECT_THROW((void)keypair::from_secret(above), std::invalid_argument);
  seckey all_ones{};
  all_ones.fill(0xFF);
  EXPECT_THROW((void)keypair::from_secret(all_ones), std::invalid_argument);

  seckey below = curve_order;
  below[31] -= 1;  // n - 1 is the largest valid secret
  EXPECT_NO_THROW((void)keypair::from_secret(below));
  seckey one{};
  one[31] = 1;
  EXPECT_NO_THROW((void)keypair::from_secret(one));

  keypair out;
  EXPECT_FALSE(keypair::try_from_secret(seckey{}, out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(keypair::try_from_secret(one, out));
  EXPECT_FALSE(out.empty());
}

TEST(keypair, empty_keypair_cannot_sign) {
  const keypair kp;
  EXPECT_TRUE(kp.empty());
  EXPECT_THROW((void)kp.sign(bytes_of("x")), std::logic_error);
}

TEST(keypair, copies_sign_identically) {
  const keypair a = keypair::generate();
  keypair b;
  b = a;
  const aux_rand aux{};
  const auto msg = bytes_of("copy");
  EXPECT_EQ(a.sign(msg, aux), b.sign(msg, aux));
}

TEST(pubkey_cache, counts_hits_and_misses) {
  pubkey_cache cache(64);
  const keypair a = keypair::generate();
  const keypair b = keypair::generate();
  const auto msg = bytes_of("hello");
  const signature sa = a.sign(msg);
  const signature sb = b.sign(msg);

  EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
  EXPECT_EQ(cache.misses(), 1U);
  EXPECT_EQ(cache.hits(), 0U);
  EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
  EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
  EXPECT_EQ(cache.hits(), 2U);
  EXPECT_EQ(cache.misses(), 1U);

  // Wrong key for the signature: rejected (a hit or miss, but false).
  EXPECT_FALSE(cache.verify(b.public_key(), msg, sa));
  EXPECT_TRUE(cache.verify(b.public_key(), msg, sb));
  EXPECT_FALSE(cache.verify(a.public_key(), msg, sb));
  EXPECT_EQ(cache.hits() + cache.misses(), 6U);
}

TEST(pubkey_cache, rejects_tampered_message_and_signature_on_hit) {
  pubkey_cache cache(16);
  const keypair kp = keypair::generate();
  auto msg = bytes_of("pay 10");
  const signature sig = kp.sign(msg);
  ASSERT_TRUE(cache.verify(kp.public_key(), msg, sig));
  signature bad = sig;
  bad[40] ^= 1;
  EXPECT_FALSE(cache.verify(kp.public_key(), msg, bad));
  msg[4] = '9';
  EXPECT_FALSE(cache.verify(kp.public_key(), msg, sig));
  EXPECT_EQ(cache.misses(), 1U);  // the parsed key was reused for every check
}

TEST(pubkey_cache, invalid_keys_are_cached_as_invalid) {
  pubkey_cache cache(8);
  pubkey bad{};
  bad.fill(0xFF);
  const signature sig{};
  const auto msg = bytes_of("m");
  EXPECT_FALSE(cache.verify(bad, msg, sig));
  EXPECT_FALSE(cache.verify(bad, msg, sig));
  EXPECT_EQ(cache.misses(), 1U);
  EXPECT_EQ(cache.hits(), 1U);
}

TEST(pubkey_cache, capacity_one_replaces_on_collision) {
  pubkey_cache cache(1);
  EXPECT_EQ(cache.capacity(), 1U);
  const keypair a = keypair::generate();
  const keypair b = keypair::generate();
  const auto msg = bytes_of("m");
  const signature sa = a.sign(msg);
  const signature sb = b.sign(msg);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
    EXPECT_TRUE(cache.verify(b.public_key(), msg, sb));
  }
  EXPECT_EQ(cache.misses(), 6U);
  EXPECT_EQ(cache.hits(), 0U);
  EXPECT_TRUE(cache.verify(b.public_key(), msg, sb));
  EXPECT_EQ(cache.hits(), 1U);
}

TEST(pubkey_cache, two_way_sets_keep_two_alternating_signers) {
  pubkey_cache cache(2);  // one set of two ways: every key maps to it
  const keypair a = keypair::generate();
  const keypair b = keypair::generate();
  const keypair c = keypair::generate();
  const auto msg = bytes_of("m");
  const signature sa = a.sign(msg), sb = b.sign(msg), sc = c.sign(msg);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
    EXPECT_TRUE(cache.verify(b.public_key(), msg, sb));
  }
  EXPECT_EQ(cache.misses(), 2U);
  EXPECT_EQ(cache.hits(), 4U);
  // A third key evicts the least recently used one (a), not the most recent (b).
  EXPECT_TRUE(cache.verify(c.public_key(), msg, sc));
  EXPECT_TRUE(cache.verify(b.public_key(), msg, sb));
  EXPECT_EQ(cache.misses(), 3U);
  EXPECT_EQ(cache.hits(), 5U);
  EXPECT_TRUE(cache.verify(a.public_key(), msg, sa));
  EXPECT_EQ(cache.misses(), 4U);
}

TEST(pubkey_cache, capacity_rounds_up_to_power_of_two) {
  EXPECT_EQ(pubkey_cache(1000).capacity(), 1024U);
  EXPECT_EQ(pubkey_cache(1024).capacity(), 1024U);
  EXPECT_THROW(pubkey_cache(0), std::invalid_argument);
}

TEST(pubkey_cache, agrees_with_uncached_verify) {
  pubkey_cache cache(4);  // small, so keys collide and replace each other
  std::vector<keypair> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(keypair::generate());
  std::vector<std::uint8_t> msg = bytes_of("agreement");
  for (int round = 0; round < 64; ++round) {
    const keypair& signer = keys[static_cast<std::size_t>(round) % keys.size()];
    const keypair& claimed = keys[static_cast<std::size_t>(round * 5 + round / 8) % keys.size()];
    msg[0] = static_cast<std::uint8_t>(round);
    signature sig = signer.sign(msg);
    if (round % 3 == 0) sig[static_cast<std::size_t>(round) % 64] ^= 4;
    EXPECT_EQ(cache.verify(claimed.public_key(), msg, sig), verify(claimed.public_key(), msg, sig))
        << round;
  }
}

}  // namespace
