#include <riptide/shred/fec_resolver.hpp>

#include <riptide/shred/merkle.hpp>
#include <riptide/shred/shred.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;
using shred_set = std::vector<bytes>;

constexpr std::uint16_t version = 7;
constexpr std::uint64_t root_slot = 90;

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}

const crypto::keypair& leader() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

const crypto::keypair& impostor() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

// One leader for every slot except those marked unknown.
class test_leaders final : public leader_lookup {
 public:
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t slot) const noexcept override {
    if (unknown.contains(slot)) return std::nullopt;
    return leader().public_key();
  }
  std::set<std::uint64_t> unknown;
};

fec_set_params params_for(std::uint64_t slot, std::uint32_t fec_set_index,
                          std::size_t num_coding = 32) {
  fec_set_params p;
  p.slot = slot;
  p.parent_offset = 1;
  p.shred_version = version;
  p.fec_set_index = fec_set_index;
  p.num_coding = num_coding;
  return p;
}

// A full 32:32 set by default.
shred_set make_set(std::uint64_t slot, std::uint32_t fec_set_index,
                   std::size_t payload_bytes = 32 * 991, std::size_t num_coding = 32,
                   const crypto::keypair& signer = leader()) {
  return make_fec_set(signer, params_for(slot, fec_set_index, num_coding),
                      random_bytes(payload_bytes, slot * 1000 + fec_set_index));
}

std::size_t data_count(const shred_set& set) {
  std::size_t n = 0;
  for (const bytes& s : set) {
    shred_view v;
    if (parse_shred(s, v) == shred_error::none && v.is_data()) ++n;
  }
  return n;
}

fec_resolver_config small_config(std::size_t max_sets = 8) {
  fec_resolver_config c;
  c.max_sets = max_sets;
  c.completed_sets_remembered = 64;
  c.shred_version = version;
  c.max_slots_ahead = 100;
  c.codec_cache_shapes = 4;
  return c;
}

// Every recovered shred must be byte-identical to the original at its position, and together
// with the delivered ones they must cover the whole set exactly once.
void expect_recovered_exactly(const shred_set& set, const std::set<std::size_t>& delivered,
                              std::span<const recovered_shred> recovered) {
  std::set<std::size_t> seen = delivered;
  for (const recovered_shred& r : recovered) {
    shred_view v;
    ASSERT_EQ(parse_shred(r.bytes, v), shred_error::none);
    EXPECT_EQ(v.is_data(), r.is_data);
    EXPECT_EQ(v.index(), r.index);
    const std::size_t p = v.merkle_position();
    ASSERT_LT(p, set.size());
    EXPECT_TRUE(seen.insert(p).second) << "position " << p << " reported twice";
    EXPECT_TRUE(std::ranges::equal(r.bytes, set[p])) << "position " << p << " differs";
  }
  EXPECT_EQ(seen.size(), set.size());
}

class FecResolver : public ::testing::Test {
 protected:
  add_result add(const bytes& b, std::uint64_t root = root_slot) {
    return resolver.add(b, root);
  }
  std::uint64_t dropped(drop_reason r) const {
    return resolver.metrics().dropped[static_cast<std::size_t>(r)];
  }
  // Delivers positions in order; returns the result of the shred that completed the set.
  add_result deliver(const shred_set& set, const std::vector<std::size_t>& order) {
    add_result last;
    for (const std::size_t p : order) {
      const add_result r = add(set[p]);
      EXPECT_TRUE(r.accepted) << "position " << p << ": " << to_string(r.reason);
      if (r.set_completed) last = r;
    }
    return last;
  }

  test_leaders leaders;
  fec_resolver resolver{small_config(), leaders};
};

// ------------------------------------------------------------------------ completion

TEST_F(FecResolver, AnyOrderWithDuplicatesCompletesExactlyAtNumData) {
  std::mt19937_64 rng(1);
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(round);
    const shred_set set = make_set(100, static_cast<std::uint32_t>(64 * round));
    ASSERT_EQ(set.size(), 64u);
    std::vector<std::size_t> order(set.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    // Every shred twice, the copy soon after the original.
    std::vector<std::size_t> stream;
    for (std::size_t i = 0; i < order.size(); ++i) {
      stream.push_back(order[i]);
      if (i % 3 == 0) stream.push_back(order[i]);
      if (i >= 2 && i % 5 == 0) stream.push_back(order[i - 2]);
    }
    std::set<std::size_t> distinct;
    bool completed = false;
    std::uint64_t duplicates_before = dropped(drop_reason::duplicate);
    std::uint64_t expected_duplicates = 0;
    for (const std::size_t p : stream) {
      const add_result r = add(set[p]);
      if (completed || distinct.contains(p)) {
        EXPECT_FALSE(r.accepted);
        EXPECT_EQ(r.reason, drop_reason::duplicate);
        EXPECT_FALSE(r.set_completed);
        ++expected_duplicates;
        continue;
      }
      ASSERT_TRUE(r.accepted) << to_string(r.reason);
      distinct.insert(p);
      EXPECT_EQ(r.set_completed, distinct.size() == 32) << distinct.size();
      if (r.set_completed) {
        completed = true;
        EXPECT_EQ(r.recovered.size(), 32u);
        expect_recovered_exactly(set, distinct, r.recovered);
      }
    }
    EXPECT_TRUE(completed);
    EXPECT_EQ(dropped(drop_reason::duplicate) - duplicates_before, expected_duplicates);
    EXPECT_FALSE(resolver.in_progress(100, static_cast<std::uint32_t>(64 * round)));
    EXPECT_TRUE(resolver.completed(100, static_cast<std::uint32_t>(64 * round)));
  }
  const fec_resolver_metrics& m = resolver.metrics();
  EXPECT_EQ(m.sets_completed, 4u);
  EXPECT_EQ(m.signatures_verified, 4u);  // once per set
  EXPECT_EQ(m.accepted, 4u * 32u);
  EXPECT_EQ(m.data_shreds_recovered + m.coding_shreds_recovered, 4u * 32u);
  EXPECT_EQ(m.recovery_failed, 0u);
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
}

TEST_F(FecResolver, ThirtyTwoRandomLossesRecover) {
  std::mt19937_64 rng(2);
  for (std::uint32_t round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    const shred_set set = make_set(101, 64 * round);
    std::vector<std::size_t> order(64);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(32);  // the other 32 are lost
    const add_result last = deliver(set, order);
    ASSERT_TRUE(last.set_completed);
    expect_recovered_exactly(set, std::set<std::size_t>(order.begin(), order.end()),
                             last.recovered);
  }
  EXPECT_EQ(resolver.metrics().sets_completed, 20u);
}

TEST_F(FecResolver, AllDataFirstRecoversOnlyCoding) {
  const shred_set set = make_set(102, 0);
  std::vector<std::size_t> data(32);
  std::iota(data.begin(), data.end(), 0);
  const add_result last = deliver(set, data);
  ASSERT_TRUE(last.set_completed);
  for (const recovered_shred& r : last.recovered) EXPECT_FALSE(r.is_data);
  expect_recovered_exactly(set, std::set<std::size_t>(data.begin(), data.end()), last.recovered);
  EXPECT_EQ(resolver.metrics().data_shreds_recovered, 0u);
  EXPECT_EQ(resolver.metrics().coding_shreds_recovered, 32u);
}

TEST_F(FecResolver, AllCodingRecoversAllData) {
  const shred_set set = make_set(103, 0);
  std::vector<std::size_t> coding(32);
  std::iota(coding.begin(), coding.end(), 32);
  const add_result last = deliver(set, coding);
  ASSERT_TRUE(last.set_completed);
  for (const recovered_shred& r : last.recovered) EXPECT_TRUE(r.is_data);
  expect_recovered_exactly(set, std::set<std::size_t>(coding.begin(), coding.end()),
                           last.recovered);
}

// Shapes other than 32:32, including a slot's last set (last_in_slot, the variant bit the
// rebuilt coding headers must carry) and 1:1, which completes with its first shred.
TEST_F(FecResolver, OtherShapes) {
  struct shape {
    std::size_t payload_bytes, num_coding;
  };
  std::mt19937_64 rng(3);
  std::uint32_t fec_set_index = 0;
  for (const shape s : {shape{20000, 32}, shape{5000, 5}, shape{7000, 3}, shape{100, 1},
                        shape{0, 17}, shape{31000, 1}, shape{3000, 32}}) {
    SCOPED_TRACE(std::to_string(s.payload_bytes) + " bytes, " + std::to_string(s.num_coding));
    fec_set_params p = params_for(104, fec_set_index, s.num_coding);
    p.last_in_slot = s.payload_bytes % 2 == 0;
    const shred_set set = make_fec_set(leader(), p, random_bytes(s.payload_bytes, fec_set_index));
    fec_set_index += 64;
    const std::size_t num_data = data_count(set);
    std::vector<std::size_t> order(set.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(num_data);
    const add_result last = deliver(set, order);
    ASSERT_TRUE(last.set_completed);
    EXPECT_EQ(last.recovered.size(), s.num_coding);
    expect_recovered_exactly(set, std::set<std::size_t>(order.begin(), order.end()),
                             last.recovered);
  }
  // Five shapes beyond 32:32 through a cache of four: some codecs were built again.
  EXPECT_GE(resolver.metrics().codecs_built, 7u);
  EXPECT_EQ(resolver.metrics().recovery_failed, 0u);
}

TEST_F(FecResolver, LateShredsOfACompletedSetAreDuplicates) {
  const shred_set set = make_set(105, 0);
  std::vector<std::size_t> first(32);
  std::iota(first.begin(), first.end(), 16);
  ASSERT_TRUE(deliver(set, first).set_completed);
  const std::uint64_t verified = resolver.metrics().signatures_verified;
  for (const std::size_t p : {0, 1, 15, 48, 63}) {
    const add_result r = add(set[p]);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, drop_reason::duplicate);
  }
  EXPECT_EQ(resolver.metrics().signatures_verified, verified);
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
}

TEST_F(FecResolver, RecoveredSpansLiveUntilTheNextAdd) {
  const shred_set set = make_set(106, 0);
  std::vector<std::size_t> order(32);
  std::iota(order.begin(), order.end(), 32);
  const add_result last = deliver(set, order);
  ASSERT_TRUE(last.set_completed);
  std::vector<bytes> copies;
  for (const recovered_shred& r : last.recovered) copies.emplace_back(r.bytes.begin(), r.bytes.end());
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(copies[i], set[i]);
}

// ------------------------------------------------------------------------ forgeries

TEST_F(FecResolver, WrongSignerDropped) {
  const shred_set honest = make_set(110, 0);
  const shred_set forged = make_set(110, 0, 32 * 991, 32, impostor());
  // As the first shred of a set: its signature does not verify against the slot's leader.
  for (const std::size_t p : {0, 40}) {
    const add_result r = add(forged[p]);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, drop_reason::bad_signature);
  }
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
  // Once the honest set exists, its twins under another signature (the same leaves, so the
  // same root) are caught without another signature check: the set's signature bytes differ.
  ASSERT_TRUE(add(honest[0]).accepted);
  const std::uint64_t verified = resolver.metrics().signatures_verified;
  const shred_set other_payload =
      make_fec_set(impostor(), params_for(110, 0), random_bytes(32 * 991, 999));
  for (const bytes* b : {&forged[1], &forged[2], &forged[33], &forged[63], &other_payload[4]}) {
    const add_result r = add(*b);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, drop_reason::bad_signature);
  }
  // The honest signature moved onto the impostor's leaves: the root gives it away.
  bytes transplanted = other_payload[5];
  std::memcpy(transplanted.data(), honest[5].data(), shred_signature_bytes);
  EXPECT_EQ(add(transplanted).reason, drop_reason::wrong_root);
  EXPECT_EQ(resolver.metrics().signatures_verified, verified);
  EXPECT_EQ(dropped(drop_reason::bad_signature), 7u);
  EXPECT_EQ(dropped(drop_reason::wrong_root), 1u);
  EXPECT_EQ(resolver.metrics().accepted, 1u);
}

TEST_F(FecResolver, AlteredPayloadByteDropped) {
  const shred_set set = make_set(111, 0);
  bytes data = set[3];
  data[data_headers_end + 10] ^= 0x01;
  bytes coding = set[40];
  coding[coding_headers_end + 500] ^= 0x80;
  EXPECT_EQ(add(data).reason, drop_reason::bad_signature);  // no set yet
  ASSERT_TRUE(add(set[0]).accepted);
  for (const bytes* b : {&data, &coding}) {
    const add_result r = add(*b);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, drop_reason::wrong_root);
  }
  // The honest shreds at those positions still go in.
  EXPECT_TRUE(add(set[3]).accepted);
  EXPECT_TRUE(add(set[40]).accepted);
}

TEST_F(FecResolver, AlteredProofDropped) {
  const shred_set set = make_set(112, 0);
  ASSERT_TRUE(add(set[10]).accepted);
  for (const std::size_t p : {0, 20, 32, 63}) {
    shred_view v;
    ASSERT_EQ(parse_shred(set[p], v), shred_error::none);
    for (std::size_t k = 0; k < v.proof_depth(); ++k) {
      bytes b = set[p];
      b[b.size() - merkle_node_bytes * (k + 1) + 7] ^= 0x04;
      const add_result r = add(b);
      EXPECT_FALSE(r.accepted);
      EXPECT_EQ(r.reason, drop_reason::wrong_root) << "position " << p << " node " << k;
    }
  }
  EXPECT_EQ(resolver.metrics().accepted, 1u);
}

TEST_F(FecResolver, ShapeDisagreeingWithTheSetDropped) {
  // The leader's own signature over a second, differently shaped set for the same
  // (slot, fec_set_index): the first verified shape wins, the other is dropped.
  const shred_set set = make_set(113, 0);                   // 32:32
  const shred_set other = make_set(113, 0, 5000, 32);       // 6:32
  const shred_set fewer_coding = make_set(113, 0, 32 * 991, 16);  // 32:16
  ASSERT_TRUE(add(set[5]).accepted);
  for (const bytes* b : {&other[0], &other[1], &other[10], &fewer_coding[0], &fewer_coding[40]}) {
    const add_result r = add(*b);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, drop_reason::wrong_shape);
  }
  EXPECT_EQ(dropped(drop_reason::wrong_shape), 5u);
  std::vector<std::size_t> rest(31);
  std::iota(rest.begin(), rest.end(), 33);
  const add_result last = deliver(set, rest);
  ASSERT_TRUE(last.set_completed);
  std::set<std::size_t> delivered(rest.begin(), rest.end());
  delivered.insert(5);
  expect_recovered_exactly(set, delivered, last.recovered);
}

TEST_F(FecResolver, ForgedFirstShredsDoNotBlockHonestOnes) {
  const shred_set honest = make_set(114, 64);
  const shred_set forged = make_set(114, 64, 32 * 991, 32, impostor());
  // Forgeries of every kind arrive first, at every position.
  for (std::size_t p = 0; p < honest.size(); ++p) {
    bytes altered = honest[p];
    altered[100] ^= 0x01;
    EXPECT_FALSE(add(forged[p]).accepted);
    EXPECT_FALSE(add(altered).accepted);
  }
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
  EXPECT_EQ(resolver.metrics().sets_created, 0u);
  EXPECT_EQ(dropped(drop_reason::bad_signature), 128u);
  std::vector<std::size_t> order(32);
  std::iota(order.begin(), order.end(), 16);
  const add_result last = deliver(honest, order);
  ASSERT_TRUE(last.set_completed);
  expect_recovered_exactly(honest, std::set<std::size_t>(order.begin(), order.end()),
                           last.recovered);
}

// A leader whose coding shards do not match its data signs a root over them anyway: every
// shred verifies on its own, but recovery's rebuilt root differs, so nothing is reported.
TEST_F(FecResolver, InconsistentSetFailsRecovery) {
  shred_set set = make_set(115, 0);
  const std::size_t n = set.size();
  set[50][coding_headers_end + 3] ^= 0xFF;
  std::vector<std::span<const std::uint8_t>> leaves(n);
  for (std::size_t i = 0; i < n; ++i) {
    shred_view v;
    ASSERT_EQ(parse_shred(set[i], v), shred_error::none);
    leaves[i] = v.signed_region();
  }
  merkle_tree tree;
  ASSERT_TRUE(tree.build(leaves));
  const auto sig = leader().sign(shred_signed_message(tree.root(), 115, 0));
  for (std::size_t i = 0; i < n; ++i) {
    std::memcpy(set[i].data(), sig.data(), sig.size());
    std::array<merkle_node, max_proof_depth> proof;
    const std::size_t depth = tree.proof(i, proof);
    std::memcpy(set[i].data() + set[i].size() - merkle_node_bytes * depth, proof.data(),
                merkle_node_bytes * depth);
  }
  for (std::size_t p = 0; p < 32; ++p) {
    const add_result r = add(set[p]);
    EXPECT_TRUE(r.accepted);
    EXPECT_FALSE(r.set_completed);
  }
  EXPECT_EQ(resolver.metrics().recovery_failed, 1u);
  EXPECT_EQ(resolver.metrics().sets_completed, 0u);
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
  EXPECT_EQ(add(set[50]).reason, drop_reason::duplicate);  // not restarted
}

// ------------------------------------------------------------------------ admission

TEST_F(FecResolver, SlotWindow) {
  const shred_set far = make_set(root_slot + 101, 0);
  EXPECT_EQ(add(far[0]).reason, drop_reason::too_far_ahead);
  const shred_set edge = make_set(root_slot + 100, 0);
  EXPECT_TRUE(add(edge[0]).accepted);
  const shred_set old = make_set(root_slot - 1, 0);
  EXPECT_EQ(add(old[0]).reason, drop_reason::too_old);
  EXPECT_TRUE(add(old[1], root_slot - 1).accepted);
  EXPECT_EQ(dropped(drop_reason::too_far_ahead), 1u);
  EXPECT_EQ(dropped(drop_reason::too_old), 1u);
  EXPECT_EQ(resolver.metrics().signatures_verified, 2u);
}

TEST_F(FecResolver, ShredVersionMismatchDropped) {
  fec_set_params p = params_for(120, 0);
  p.shred_version = version + 1;
  const shred_set set = make_fec_set(leader(), p, random_bytes(1000, 1));
  const add_result r = add(set[0]);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.reason, drop_reason::wrong_shred_version);
  EXPECT_EQ(dropped(drop_reason::wrong_shred_version), 1u);
  EXPECT_EQ(resolver.metrics().signatures_verified, 0u);
}

TEST_F(FecResolver, UnknownLeaderDropped) {
  leaders.unknown.insert(121);
  const shred_set set = make_set(121, 0);
  EXPECT_EQ(add(set[0]).reason, drop_reason::unknown_leader);
  EXPECT_EQ(resolver.sets_in_progress(), 0u);
}

TEST_F(FecResolver, ParseErrorsCountedByReason) {
  const shred_set set = make_set(122, 0);
  bytes truncated = set[0];
  truncated.pop_back();
  add_result r = add(truncated);
  EXPECT_EQ(r.reason, drop_reason::parse_error);
  EXPECT_EQ(r.parse_error, shred_error::truncated);
  r = add(bytes(10, 0));
  EXPECT_EQ(r.parse_error, shred_error::truncated_header);
  const fec_resolver_metrics& m = resolver.metrics();
  EXPECT_EQ(m.parse_errors[static_cast<std::size_t>(shred_error::truncated)], 1u);
  EXPECT_EQ(m.parse_errors[static_cast<std::size_t>(shred_error::truncated_header)], 1u);
  EXPECT_EQ(dropped(drop_reason::parse_error), 2u);
  EXPECT_EQ(m.received, 2u);
}

// ------------------------------------------------------------------------ memory bounds

TEST(FecResolverBounds, EvictsTheOldestSetWhenFull) {
  test_leaders leaders;
  fec_resolver resolver(small_config(2), leaders);
  const shred_set a = make_set(130, 0), b = make_set(130, 32), c = make_set(131, 0);
  ASSERT_TRUE(resolver.add(a[0], root_slot).accepted);
  ASSERT_TRUE(resolver.add(b[0], root_slot).accepted);
  ASSERT_TRUE(resolver.add(a[1], root_slot).accepted);  // a is still the oldest by creation
  EXPECT_EQ(resolver.sets_in_progress(), 2u);
  ASSERT_TRUE(resolver.add(c[0], root_slot).accepted);
  EXPECT_EQ(resolver.metrics().sets_evicted, 1u);
  EXPECT_EQ(resolver.sets_in_progress(), 2u);
  EXPECT_FALSE(resolver.in_progress(130, 0));
  EXPECT_TRUE(resolver.in_progress(130, 32));
  EXPECT_TRUE(resolver.in_progress(131, 0));
  // b completes from the buffer it kept; a starts over in the buffer b freed.
  for (std::size_t p = 1; p < 32; ++p) ASSERT_TRUE(resolver.add(b[p], root_slot).accepted);
  EXPECT_TRUE(resolver.completed(130, 32));
  std::vector<std::size_t> order(32);
  std::iota(order.begin(), order.end(), 32);
  add_result last;
  for (const std::size_t p : order) {
    const add_result r = resolver.add(a[p], root_slot);
    ASSERT_TRUE(r.accepted);
    if (r.set_completed) last = r;
  }
  ASSERT_TRUE(last.set_completed);
  expect_recovered_exactly(a, std::set<std::size_t>(order.begin(), order.end()), last.recovered);
  EXPECT_EQ(resolver.metrics().sets_evicted, 1u);  // b's buffer had been freed
  EXPECT_TRUE(resolver.in_progress(131, 0));
}

TEST(FecResolverBounds, CompletedRingForgetsTheOldest) {
  test_leaders leaders;
  fec_resolver_config config = small_config(4);
  config.completed_sets_remembered = 3;
  fec_resolver resolver(config, leaders);
  std::vector<shred_set> sets;
  for (std::uint32_t i = 0; i < 4; ++i) {
    sets.push_back(make_set(140, i, 100, 1));  // 1:1: completes with its first shred
    const add_result r = resolver.add(sets.back()[0], root_slot);
    ASSERT_TRUE(r.set_completed);
    ASSERT_EQ(r.recovered.size(), 1u);
    EXPECT_TRUE(std::ranges::equal(r.recovered[0].bytes, sets.back()[1]));
  }
  EXPECT_FALSE(resolver.completed(140, 0));
  for (std::uint32_t i = 1; i < 4; ++i) EXPECT_TRUE(resolver.completed(140, i));
  EXPECT_EQ(resolver.add(sets[3][1], root_slot).reason, drop_reason::duplicate);
  // The forgotten set is new again: its late shred verifies and completes it once more.
  EXPECT_TRUE(resolver.add(sets[0][1], root_slot).set_completed);
}

// A consumer that lost a completed set's shreds makes the resolver forget it: the set's
// shreds are then taken again (repair brings them back) instead of dropped as duplicates,
// and the ring slot a forgotten set leaves is reused without disturbing the others.
TEST(FecResolverBounds, ForgottenSetsAreTakenAgain) {
  test_leaders leaders;
  fec_resolver_config config = small_config(4);
  config.completed_sets_remembered = 4;
  fec_resolver resolver(config, leaders);
  std::vector<shred_set> sets;
  for (std::uint32_t i = 0; i < 3; ++i) {
    sets.push_back(make_set(150 + i / 2, i, 100, 1));  // slot 150: sets 0, 1; slot 151: set 2
    ASSERT_TRUE(resolver.add(sets.back()[0], root_slot).set_completed);
  }
  EXPECT_EQ(resolver.add(sets[1][1], root_slot).reason, drop_reason::duplicate);
  EXPECT_EQ(resolver.forget_set(150, 1), 1u);
  EXPECT_EQ(resolver.forget_set(150, 1), 0u);  // already forgotten
  EXPECT_FALSE(resolver.completed(150, 1));
  EXPECT_TRUE(resolver.completed(150, 0));
  EXPECT_TRUE(resolver.add(sets[1][1], root_slot).set_completed);
  EXPECT_EQ(resolver.forget_slot(150), 2u);  // sets 0 and 1 (completed again)
  EXPECT_FALSE(resolver.completed(150, 0));
  EXPECT_FALSE(resolver.completed(150, 1));
  EXPECT_TRUE(resolver.completed(151, 2));
  EXPECT_TRUE(resolver.add(sets[0][1], root_slot).set_completed);
  EXPECT_EQ(resolver.metrics().sets_forgotten, 3u);
  // Wrap the ring over the forgotten entries: every remembered set stays findable.
  for (std::uint32_t i = 3; i < 9; ++i) {
    sets.push_back(make_set(152, i, 100, 1));
    ASSERT_TRUE(resolver.add(sets.back()[0], root_slot).set_completed);
  }
  for (std::uint32_t i = 5; i < 9; ++i) EXPECT_TRUE(resolver.completed(152, i)) << i;
  EXPECT_FALSE(resolver.completed(151, 2));
  EXPECT_FALSE(resolver.completed(150, 0));

  // A set in progress is dropped: a shred already received is taken again, not a duplicate.
  const shred_set big = make_set(153, 0);  // 32:32
  ASSERT_TRUE(resolver.add(big[0], root_slot).accepted);
  ASSERT_TRUE(resolver.add(big[1], root_slot).accepted);
  EXPECT_EQ(resolver.add(big[1], root_slot).reason, drop_reason::duplicate);
  EXPECT_EQ(resolver.forget_set(153, 0), 1u);
  EXPECT_FALSE(resolver.in_progress(153, 0));
  EXPECT_TRUE(resolver.add(big[1], root_slot).accepted);
  EXPECT_EQ(resolver.forget_slot(153), 1u);
  EXPECT_TRUE(resolver.add(big[1], root_slot).accepted);
  EXPECT_EQ(resolver.metrics().sets_forgotten, 5u);
}

// Many sets through small indices: creation, completion, eviction and ring reuse in every
// interleaving keep the key indices consistent (backward-shift erase).
TEST(FecResolverBounds, ChurnKeepsIndicesConsistent) {
  test_leaders leaders;
  fec_resolver_config config = small_config(3);
  config.completed_sets_remembered = 5;
  fec_resolver resolver(config, leaders);
  std::mt19937_64 rng(4);
  std::vector<shred_set> sets;
  for (std::uint32_t i = 0; i < 40; ++i) sets.push_back(make_set(150 + i % 7, i * 4, 2000, 2));
  // Deliver shreds of random sets, tracking which positions each set in progress holds.
  std::vector<std::size_t> num_data;
  for (const shred_set& set : sets) num_data.push_back(data_count(set));
  std::vector<std::set<std::size_t>> got(sets.size());
  std::uint64_t completions = 0;
  for (int step = 0; step < 600; ++step) {
    const std::size_t s = rng() % sets.size();
    const std::size_t p = rng() % sets[s].size();
    const bool was_in_progress = resolver.in_progress(150 + s % 7, static_cast<std::uint32_t>(s * 4));
    const bool was_completed = resolver.completed(150 + s % 7, static_cast<std::uint32_t>(s * 4));
    if (!was_in_progress) got[s].clear();
    const add_result r = resolver.add(sets[s][p], root_slot);
    if (was_completed || got[s].contains(p)) {
      EXPECT_EQ(r.reason, drop_reason::duplicate);
      continue;
    }
    ASSERT_TRUE(r.accepted) << to_string(r.reason);
    got[s].insert(p);
    EXPECT_EQ(r.set_completed, got[s].size() == num_data[s]);
    if (r.set_completed) {
      ++completions;
      expect_recovered_exactly(sets[s], got[s], r.recovered);
      got[s].clear();
    }
    EXPECT_LE(resolver.sets_in_progress(), 3u);
  }
  EXPECT_EQ(resolver.metrics().sets_completed, completions);
  EXPECT_GT(completions, 20u);
  EXPECT_GT(resolver.metrics().sets_evicted, 0u);
}

// ------------------------------------------------------------------------ config, names

TEST(FecResolverConfig, Validation) {
  test_leaders leaders;
  const auto bad = [&](auto mutate) {
    fec_resolver_config c = small_config();
    mutate(c);
    EXPECT_THROW(fec_resolver(c, leaders), std::invalid_argument);
  };
  bad([](fec_resolver_config& c) { c.max_sets = 0; });
  bad([](fec_resolver_config& c) { c.completed_sets_remembered = 0; });
  bad([](fec_resolver_config& c) { c.codec_cache_shapes = 0; });
  bad([](fec_resolver_config& c) { c.leader_key_cache = 1; });
  EXPECT_NO_THROW(fec_resolver_config{}.validate());
}

TEST(FecResolverNames, DropReasonsAreDistinct) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < drop_reason_count; ++i) {
    names.insert(to_string(static_cast<drop_reason>(i)));
  }
  EXPECT_EQ(names.size(), drop_reason_count);
  EXPECT_STREQ(to_string(drop_reason::wrong_root), "wrong_root");
}

}  // namespace
